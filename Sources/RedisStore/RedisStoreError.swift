/// A problem with a store on a Redis Cluster, naming the store and what to do.
public struct RedisStoreError: Error, Sendable, CustomStringConvertible {
  /// What kind of problem.
  public enum Kind: Sendable, Hashable {
    /// No store of that name on the cluster.
    case missing
    /// The store holds vectors of another dimension, or uses another metric.
    case mismatch
    /// The store was written by a newer tripindex, or its metadata is damaged.
    case unreadable
    /// Another writer took over the store (a newer fencing token).
    case fenced
    /// An item is invalid (empty name, a name twice in a batch, bad values).
    case invalidItem
    /// The store's keys disagree with each other (damage, or a change under a read).
    case damaged
  }

  /// What kind of problem.
  public let kind: Kind
  /// The store, without its password.
  public let store: String
  /// What is wrong and what to do.
  public let message: String

  init(_ kind: Kind, store: String, _ message: String) {
    self.kind = kind
    self.store = store
    self.message = message
  }

  /// `store ADDRESS: message`.
  public var description: String { "store \(store): \(message)" }
}
