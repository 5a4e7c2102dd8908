import RedisCluster
import RedisStore
import VectorMath

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// How commands reach a store on a Redis Cluster (`--store redis://…`): how long to keep
/// retrying through a failover, how many replicas must acknowledge each write, and the shard
/// count of a new store.
public struct RedisAccess: Sendable {
  /// Seconds an operation keeps retrying failures that pass (a failover takes Redis's node
  /// timeout, 15 s by default, plus the election).
  public var timeout: Double = 60
  /// Replicas that must acknowledge each write before it counts; `nil`: 1 when every master
  /// has a replica, else 0.
  public var replicas: Int?
  /// Logical shards of a new store.
  public var shards = defaultShards
  /// The shard count of a new store unless told otherwise.
  public static let defaultShards = RedisStore.defaultShards

  /// The default access.
  public init() {}

  /// Whether a store location is a Redis address rather than an LMDB directory.
  public static func isRedis(_ location: String) -> Bool { RedisStoreAddress.isRedis(location) }

  /// A store location as it may be shown: a Redis address without its password, a directory
  /// as given.
  public static func displayed(_ location: String) -> String {
    guard isRedis(location) else { return location }
    return (try? address(location)).map { "\($0)" } ?? "redis://…"
  }

  /// Reads a Redis store address; the password may come from `TRIPINDEX_REDIS_PASSWORD`.
  ///
  /// - Throws: `RedisError` saying what part of the address is wrong.
  static func address(_ location: String) throws -> RedisStoreAddress {
    let variable = RedisStoreAddress.passwordVariable
    let environment = getenv(variable).map { [variable: String(cString: $0)] } ?? [:]
    return try RedisStoreAddress(location, environment: environment)
  }

  /// Connects to the cluster of an address.
  func client(for address: RedisStoreAddress) throws -> RedisClusterClient {
    guard timeout > 0 else {
      throw TripIndexError("\(option: .timeout) must be positive, not \(timeout)")
    }
    return try RedisClusterClient(
      seeds: address.seeds, password: address.password, timeout: min(5, timeout),
      retryLimit: timeout)
  }

  /// Opens an existing store.
  ///
  /// - Throws: `RedisError` (unreachable, not a cluster, wrong password), `RedisStoreError`
  ///   (no such store, a newer layout).
  func open(_ location: String) throws -> RedisStore {
    let address = try Self.address(location)
    return try RedisStore.open(
      address, client: try client(for: address), postings: RedisIndex.postingsDecoder)
  }

  /// Opens a store, creating it with ``shards`` shards when there is none.
  ///
  /// - Throws: as ``open(_:)``, and `RedisStoreError` of kind `mismatch` for another dimension
  ///   or metric.
  func openOrCreate(_ location: String, dimension: Int, metric: DistanceMetric?) throws
    -> RedisStore
  {
    guard (1...4096).contains(shards) else {
      throw TripIndexError("\(option: .shards) must be between 1 and 4096, not \(shards)")
    }
    let address = try Self.address(location)
    return try RedisStore.openOrCreate(
      address, dimension: dimension, metric: metric, shards: shards,
      client: try client(for: address), postings: RedisIndex.postingsDecoder)
  }

  /// The replicas each write of `store` waits for: ``replicas`` when given (refused when some
  /// master has fewer), else 1 when every master has a replica, else 0.
  ///
  /// - Throws: ``TripIndexError`` for more replicas than a master has; `RedisError`.
  func replicaCount(for store: RedisStore) throws -> Int {
    let fewest = try store.fewestReplicas()
    guard let replicas else { return min(1, fewest) }
    guard replicas >= 0 else {
      throw TripIndexError("\(option: .replicas) cannot be negative, not \(replicas)")
    }
    guard replicas <= fewest else {
      throw TripIndexError(
        "\(option: .replicas) \(replicas) asks more than the cluster gives: some master of \(store.address) has \(fewest) replica(s)"
      )
    }
    return replicas
  }
}

extension RedisAccess {
  /// Refuses a Redis store for a command that works on LMDB stores only.
  ///
  /// - Parameters:
  ///   - location: the store given.
  ///   - command: the command, as users run it (`index`).
  /// - Throws: ``TripIndexError`` saying what to do instead.
  public static func requireLMDB(_ location: String, for command: String) throws {
    guard isRedis(location) else { return }
    let shown = displayed(location)
    throw TripIndexError(
      "\(command: UserText(verbatim: command)) works on LMDB stores, and \(shown) is a store on a Redis Cluster (which manages its own memory; every other command takes it); copy it to an LMDB directory with \(command: "copy \(option: .from) \(shown) \(option: .to) DIR") and run it there"
    )
  }
}
