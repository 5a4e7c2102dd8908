import VectorMath

/// An item's identity in a store: its id, name and labels.
public struct StoredItem: Hashable, Sendable {
  /// The stable id the store assigned.
  public let id: UInt64
  /// The unique name.
  public let name: String
  /// The pid and camera.
  public let labels: ItemLabels

  /// Creates an item description.
  ///
  /// - Parameters:
  ///   - id: the id.
  ///   - name: the name.
  ///   - labels: the labels.
  public init(id: UInt64, name: String, labels: ItemLabels) {
    self.id = id
    self.name = name
    self.labels = labels
  }
}
