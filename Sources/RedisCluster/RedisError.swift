/// Why a Redis operation failed, with the node it failed on and what to do, in one line.
public struct RedisError: Error, Sendable, CustomStringConvertible {
  /// What kind of failure.
  public enum Kind: Sendable, Hashable {
    /// The node could not be reached, or the connection broke.
    case connection
    /// The node did not answer in time.
    case timeout
    /// The server runs without cluster mode.
    case notCluster
    /// The cluster cannot serve every slot (forming, or a master down without a replica).
    case clusterDown
    /// The password is missing or wrong.
    case authentication
    /// The server refused a command (an error reply).
    case reply
    /// Redirections did not settle (the cluster keeps moving a slot).
    case redirections
    /// A write ran on its master but too few replicas acknowledged it in time.
    case replication
  }

  /// What kind of failure.
  public let kind: Kind
  /// The node, when one is to blame.
  public let endpoint: RedisEndpoint?
  /// What happened and what to do.
  public let message: String

  /// An error.
  public init(_ kind: Kind, endpoint: RedisEndpoint?, _ message: String) {
    self.kind = kind
    self.endpoint = endpoint
    self.message = message
  }

  /// `redis HOST:PORT: message`, or the message alone.
  public var description: String {
    endpoint.map { "redis \($0): \(message)" } ?? "redis: \(message)"
  }

  /// Whether trying again later may succeed (a failover under way, a broken connection).
  public var isTransient: Bool {
    [.connection, .timeout, .clusterDown].contains(kind)
  }
}
