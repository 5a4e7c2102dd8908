import StorageBackend

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A problem opening, reading or changing a store, with a message a user can act on.
public struct VectorStoreError: Error, Sendable, CustomStringConvertible {
  /// What kind of problem it is.
  public enum Kind: Sendable, Hashable {
    /// No store exists at the path.
    case missing
    /// The directory holds something that is not a store of this format, or a newer schema.
    case notAStore
    /// A vector's dimension differs from the store's.
    case dimensionMismatch
    /// A dimension that no store can have (zero, negative, or over the limit).
    case invalidDimension
    /// The store records an index that is not attached to this handle, so a write would leave
    /// it out of step: attach the index (open it) or drop it first.
    case indexNotAttached
    /// A write was asked of a store opened read-only.
    case readOnly
    /// The metric asked for differs from the store's.
    case metricMismatch
    /// An item is invalid (empty or over-long name, non-finite or zero vector, …).
    case invalidItem
    /// The storage engine failed.
    case storage
    /// The store's files are damaged (truncated, overwritten, checksums that do not match).
    case damaged
  }

  /// What kind of problem it is.
  public let kind: Kind
  /// The store's path.
  public let path: String
  /// What is wrong and what was expected.
  public let message: String

  /// Creates an error.
  ///
  /// - Parameters:
  ///   - kind: the kind of problem.
  ///   - path: the store's path.
  ///   - message: what is wrong and what was expected.
  public init(_ kind: Kind, path: String, _ message: String) {
    self.kind = kind
    self.path = path
    self.message = message
  }

  /// `store PATH: message`.
  public var description: String { "store \(path): \(message)" }

  static func storage(_ error: any Error, path: String, while action: String) -> VectorStoreError {
    let failure = error as? any StorageFailure
    let engine = failure?.engineName ?? "the storage engine"
    switch failure?.kind {
    case .damaged:
      return VectorStoreError(
        .damaged, path: path, "\(engine) found damage while \(action) (\(error))")
    case .diskFull:
      return VectorStoreError(
        .storage, path: path,
        "\(engine) failed while \(action): \(error) (is the disk full? free space and run the command again)"
      )
    default:
      return VectorStoreError(.storage, path: path, "\(engine) failed while \(action): \(error)")
    }
  }

  /// Damage found in the store's own data: what and where (a checker lists all of it, and a
  /// repair rebuilds what can be derived; the tool's front end says how).
  static func damaged(path: String, _ what: String) -> VectorStoreError {
    VectorStoreError(
      .damaged, path: path,
      "is damaged: \(what)"
    )
  }
}
