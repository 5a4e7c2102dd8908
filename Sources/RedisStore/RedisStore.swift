import RedisCluster
import Synchronization
import VectorMath

/// A store on a Redis Cluster: the layout, writes and reads of the RedisStoreDesign article.
///
/// Items are spread over ``shards`` by name; each shard's keys share one hash tag, so one Lua
/// script changes a shard's items atomically (checked against the writer's fencing token first),
/// and `WAIT` makes a write count only once replicas have it. Ids come from one store-wide
/// counter, in input order, as the LMDB store assigns them. Reads gather every shard into
/// id-ordered blocks in memory (``RedisSnapshot``), which search reads as it reads an LMDB
/// snapshot.
public final class RedisStore: Sendable {
  /// Where the store is.
  public let address: RedisStoreAddress
  /// Values per vector.
  public let dimension: Int
  /// How vectors are compared (cosine stores unit vectors).
  public let metric: DistanceMetric
  /// Logical shards, fixed at creation.
  public let shards: Int
  /// Rows per block key of a shard.
  public let shardBlockRows: Int
  /// The store's layout version when it was opened (``schemaVersion`` once an index keeps
  /// postings on its shards).
  public let schema: Int
  let client: RedisClusterClient
  let keys: RedisStoreKeys
  /// This process's fencing token, taken on its first write.
  private let token = Mutex<UInt64?>(nil)
  /// How this process reads an index version's parameters into what its postings need, or
  /// `nil` when it cannot (then it refuses to write a store whose shards keep postings).
  let postingsDecoder: RedisPostingsDecoder?
  /// The encoders of index versions read so far.
  let postingEncoders = Mutex<[String: any RedisPostingsEncoder]>([:])

  /// The layout version this code writes and reads: 2 once an index keeps postings on the
  /// shards (a tool that does not keep them current must not write such a store).
  public static let schemaVersion = 2
  /// The layout version of a store whose index keeps no postings.
  static let schemaWithoutPostings = 1
  /// The shard count of a new store unless told otherwise.
  public static let defaultShards = 16
  /// Rows per shard block: as many as fit, with Redis's string header, in 256 KiB — an
  /// allocation size class of Redis's allocator, so a block wastes nothing (262,144 bytes of
  /// data would take a 320 KiB allocation).
  static func shardBlockRows(forDimension dimension: Int) -> Int {
    max(1, (256 << 10 - 64) / (dimension * MemoryLayout<Float>.size))
  }

  /// The longest name, in bytes (as the LMDB store allows, so that both take the same items).
  public static let maximumNameBytes = 511

  private init(
    address: RedisStoreAddress, client: RedisClusterClient, dimension: Int,
    metric: DistanceMetric, shards: Int, shardBlockRows: Int, schema: Int,
    postings: RedisPostingsDecoder?
  ) {
    self.schema = schema
    self.address = address
    postingsDecoder = postings
    self.client = client
    self.dimension = dimension
    self.metric = metric
    self.shards = shards
    self.shardBlockRows = shardBlockRows
    keys = RedisStoreKeys(name: address.name)
  }

  /// Opens an existing store.
  ///
  /// - Parameters:
  ///   - address: the store.
  ///   - client: a client of its cluster.
  ///   - postings: how to read an index version's parameters into postings (the index module
  ///     provides it); without it, writes to a store whose index keeps postings are refused.
  /// - Returns: the store.
  /// - Throws: ``RedisStoreError`` (`missing`, `unreadable`), ``RedisError``.
  public static func open(
    _ address: RedisStoreAddress, client: RedisClusterClient, postings: RedisPostingsDecoder? = nil
  ) throws -> RedisStore {
    let keys = RedisStoreKeys(name: address.name)
    let reply = try client.send(RedisCommand("HGETALL", keys.meta))
    guard let fields = reply.elements, !fields.isEmpty else {
      throw RedisStoreError(
        .missing, store: "\(address)",
        "no store here (no key \(keys.meta) on the cluster); create one with `tripindex build DIR --store \(address)`"
      )
    }
    var meta: [String: String] = [:]
    for (key, value) in reply.fieldPairs {
      if let key = key.text, let value = value.text { meta[key] = value }
    }
    func number(_ key: String, _ range: ClosedRange<Int>) throws -> Int {
      guard let text = meta[key], let value = Int(text), range.contains(value) else {
        throw RedisStoreError(
          .unreadable, store: "\(address)",
          "its meta '\(key)' is \(meta[key] ?? "missing"); expected \(range.lowerBound)…\(range.upperBound) (is the key \(keys.meta) damaged?)"
        )
      }
      return value
    }
    let schema = try number("schema", 1...Int.max)
    guard schema <= schemaVersion else {
      throw RedisStoreError(
        .unreadable, store: "\(address)",
        "has layout version \(schema); this tripindex reads version \(schemaVersion) (it was written by a newer tripindex)"
      )
    }
    guard let metric = meta["metric"].flatMap(DistanceMetric.init(rawValue:)) else {
      throw RedisStoreError(
        .unreadable, store: "\(address)",
        "its meta 'metric' is \(meta["metric"] ?? "missing"); expected l2 or cosine")
    }
    return RedisStore(
      address: address, client: client,
      dimension: try number("dimension", 1...VectorLimits.maximumDimension), metric: metric,
      shards: try number("shards", 1...4096), shardBlockRows: try number("block_rows", 1...65536),
      schema: schema, postings: postings)
  }

  /// Opens the store, creating it with `dimension` and `metric` when there is none.
  ///
  /// - Parameters:
  ///   - address: the store.
  ///   - dimension: values per vector; an existing store must have the same.
  ///   - metric: the metric; `nil` accepts an existing store's (and means l2 for a new one).
  ///   - shards: the shard count of a new store.
  ///   - client: a client of its cluster.
  ///   - postings: as for ``open(_:client:postings:)``.
  /// - Returns: the store.
  /// - Throws: ``RedisStoreError`` of kind `mismatch` naming both values, ``RedisError``.
  public static func openOrCreate(
    _ address: RedisStoreAddress, dimension: Int, metric: DistanceMetric?,
    shards: Int = defaultShards, client: RedisClusterClient, postings: RedisPostingsDecoder? = nil
  ) throws -> RedisStore {
    let keys = RedisStoreKeys(name: address.name)
    // Created only if absent, in one step (two builds starting at once create it once).
    _ = try client.script(
      "if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('HSET', KEYS[1], unpack(ARGV)) end return 1",
      keys: [keys.meta],
      arguments: [
        "schema", schemaWithoutPostings, "dimension", dimension, "metric", (metric ?? .l2).rawValue,
        "shards", shards, "block_rows", shardBlockRows(forDimension: dimension),
        "created_by", "tripindex",
      ])
    let store = try open(address, client: client, postings: postings)
    guard store.dimension == dimension else {
      throw RedisStoreError(
        .mismatch, store: "\(address)",
        "holds \(store.dimension)-dimensional vectors, but the input has dimension \(dimension)")
    }
    if let metric, metric != store.metric {
      throw RedisStoreError(
        .mismatch, store: "\(address)",
        "uses the \(store.metric.rawValue) metric, but \(metric.rawValue) was asked for; a store's metric is fixed when it is created"
      )
    }
    return store
  }

  /// The live items, summed over the shards: every item acknowledged so far.
  ///
  /// - Throws: ``RedisError``.
  public func count() throws -> Int {
    let replies = try client.pipeline(
      (0..<shards).map { RedisCommand("GET", keys.shard($0).count) })
    return replies.reduce(0) { $0 + Int($1.integer ?? 0) }
  }

  /// Removes every key of the store (all shards, the index versions, the metadata).
  ///
  /// - Throws: ``RedisError``.
  public func removeEverything() throws {
    var doomed: [[UInt8]] = []
    for pattern in ["\(address.name):*", "{\(address.name):*"] {
      try client.forEachKey(matching: pattern) { doomed += $0 }
    }
    _ = try client.pipeline(doomed.map { RedisCommand("UNLINK", $0) })
  }

  /// Forgets this process's fencing token: its next write takes a new one, and with it the
  /// store. For a writer that takes turns with others (a server's single-item writes, each
  /// atomic and checked against what it read), not for one that must not lose its place (a
  /// build, which stops instead).
  public func releaseWriterToken() {
    token.withLock { $0 = nil }
  }

  /// This process's fencing token: taken from the store's counter on the first write and
  /// raised into every shard's epoch, so that a writer that started earlier is refused there.
  func writerToken() throws -> UInt64 {
    if let token = token.withLock({ $0 }) { return token }
    let reply = try client.send(RedisCommand("INCR", keys.fence), idempotent: false)
    guard let value = reply.integer, value > 0 else {
      throw RedisStoreError(.damaged, store: "\(address)", "its fence counter is not a number")
    }
    let mine = UInt64(value)
    for shard in 0..<shards {
      let seen = try client.script(
        """
        local current = tonumber(redis.call('GET', KEYS[1]) or '0')
        if current < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) return ARGV[1] end
        return tostring(current)
        """, keys: [keys.shard(shard).epoch], arguments: [Int(mine)])
      guard let epoch = seen.integer, UInt64(epoch) == mine else {
        throw RedisStoreError(
          .fenced, store: "\(address)",
          "another writer (token \(seen.integer ?? -1)) took the store after this one (token \(mine)); run the command again when it is done"
        )
      }
    }
    token.withLock { $0 = mine }
    return mine
  }
}
