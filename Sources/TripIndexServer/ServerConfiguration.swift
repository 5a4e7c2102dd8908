import TripIndex

/// How `serve` runs: the store, the address, access, and the limits every request is held to.
public struct ServerConfiguration: Sendable {
  /// The store's directory, or a `redis://` address.
  public var storePath: String
  /// How to reach a store on a Redis Cluster.
  public var redis = RedisAccess()
  /// A model to use instead of the store's recorded one (same fingerprint), or `nil`.
  public var modelPath: String?
  /// The address to bind.
  public var host = "127.0.0.1"
  /// The port (0: any free port, reported when the server is up).
  public var port = 8080
  /// The bearer token every route but `/health` requires, or `nil` for none.
  public var token: String?
  /// Refuse writes (`PUT` and `DELETE` answer 403) and open the store read-only.
  public var readOnly = false
  /// The largest request body, in bytes.
  public var maximumBodyBytes = 16 << 20
  /// The most probe vectors in one request.
  public var maximumVectors = 1_000
  /// The largest `k`.
  public var maximumK = 10_000
  /// The most results one request may ask for: vectors × k.
  public var maximumResults = 1_000_000
  /// Searches expected to take at most this long (by the index's recorded speed; see
  /// `SearchSession.expectedSearchSeconds`) run in the request's own task — on the thread that
  /// read the request when NIO's event loops run Swift's tasks (``TripIndexServer/runTasksOnEventLoops()``);
  /// others, and requests whose bodies are over ``inlineBodyBytes``, on a pool of threads, so
  /// that a long search never holds up the connections of an event loop. 0 sends every search
  /// to the pool.
  public var inlineSearchSeconds = 0.001
  /// Request bodies larger than this are read on the pool of threads, not in the request's task.
  public var inlineBodyBytes = 64 << 10

  /// Creates a configuration with the documented defaults.
  ///
  /// - Parameter storePath: the store's directory.
  public init(storePath: String) { self.storePath = storePath }

  /// Whether the address is reachable from other machines (anything but loopback).
  public var bindsBeyondLoopback: Bool {
    !(host == "127.0.0.1" || host == "::1" || host == "localhost")
  }
}
