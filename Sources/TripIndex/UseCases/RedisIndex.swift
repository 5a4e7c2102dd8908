import LSHIndex
import Plumbing
import RedisStore
import VectorStore

/// The LSH index of a store on a Redis Cluster.
///
/// What the store keeps is the index's fitted parameters (projection, hash functions, compact
/// codes: the bytes an LMDB index keeps in `lsh.params`), under a version that one write of the
/// meta key switches, and per shard the version's postings (each item's entry in its bucket of
/// every table), which every write of the shard keeps current in the same script. A search of a
/// few probes reads the probes' buckets and then only the vectors it scores
/// (``RedisPostingsSearch``); a search of many reads the whole snapshot and hashes it into
/// tables in memory, ordered as an LMDB table is. Both give the same answers as an LMDB store
/// with the same parameters over the same items.
enum RedisIndex {
  /// Reads an index version's parameters into its encoder: how the store keeps the version's
  /// postings current.
  static let postingsDecoder: RedisPostingsDecoder = { parameters, store in
    try encoder(parameters: parameters, store: store)
  }

  /// An encoder from a store's stored parameters.
  ///
  /// - Throws: `LSHError` for damaged or outdated parameters.
  static func encoder(parameters: [String: [UInt8]], store: RedisStore) throws -> ItemEncoder {
    try ItemEncoder(
      storedParameters: { parameters[$0] }, dimension: store.dimension, metric: store.metric,
      location: "store \(store.address)")
  }

  /// Fits an index with `configuration` to the store's items and switches the store to it.
  ///
  /// - Returns: the fitted encoder and the index's measured speed (see ``install(_:on:replicas:over:)``).
  /// - Throws: `LSHError` for bad settings or too few items, `RedisError`.
  @discardableResult
  static func build(
    on store: RedisStore, configuration: LSHConfiguration, replicas: Int,
    sampleSize: Int = LSHIndex.fittingSampleSize, progress: any ProgressReporting = SilentProgress()
  ) throws -> (encoder: ItemEncoder, speed: (lsh: Double, exact: Double)) {
    progress.update("reading the store", force: true)
    let snapshot = try store.snapshot()
    progress.update(
      LSHIndex.fittingStage(configuration, sampleSize: sampleSize, items: snapshot.count),
      force: true)
    let encoder = try LSHIndex.fitEncoder(
      configuration, over: snapshot, sampleSize: sampleSize,
      describedAs: "store \(store.address)")
    progress.update("timing the index against exact search, then switching to it", force: true)
    return (encoder, try install(encoder, on: store, replicas: replicas, over: snapshot))
  }

  /// Switches the store to an index with fitted parameters, measured first against exact search
  /// over `snapshot` (tables built as a query process builds them, as ``LSHTuner/speed(of:queries:)``
  /// measures an LMDB index) and recorded with the switch, so `query` knows whether it pays its
  /// way.
  ///
  /// - Parameters:
  ///   - encoder: the fitted parameters.
  ///   - store: the store.
  ///   - replicas: replicas that must acknowledge each write.
  ///   - snapshot: the store's items to measure on (`nil`: read now).
  /// - Returns: microseconds per query with the index and with exact search.
  /// - Throws: `LSHError`, `RedisError`.
  @discardableResult
  static func install(
    _ encoder: ItemEncoder, on store: RedisStore, replicas: Int, over snapshot: RedisSnapshot? = nil
  ) throws -> (lsh: Double, exact: Double) {
    let items = try snapshot ?? store.snapshot()
    let speed = try LSHTuner.speed(of: LSHMemoryIndex(encoder: encoder, over: items), over: items)
    try switchTo(
      encoder, on: store, over: items,
      metadata: [LSHIndex.speedKey: LSHIndex.speedText(lsh: speed.lsh, exact: speed.exact)],
      replicas: replicas)
    return speed
  }

  /// Switches the store to an index with fitted parameters, its postings written on every shard
  /// from `items` (shards written since are read again) before the switch.
  ///
  /// - Parameters:
  ///   - encoder: the fitted parameters.
  ///   - store: the store.
  ///   - items: the store's items, read after the parameters were fitted.
  ///   - metadata: what is recorded with the switch.
  ///   - replicas: replicas that must acknowledge each write.
  ///   - progress: shows the shards written.
  /// - Throws: `RedisError`, `RedisStoreError`.
  static func switchTo(
    _ encoder: ItemEncoder, on store: RedisStore, over items: RedisSnapshot,
    metadata: [String: String?], replicas: Int, progress: any ProgressReporting = SilentProgress()
  ) throws {
    try store.setIndex(
      encoder.storedParameters, postings: (encoder, items), metadata: metadata,
      replicas: replicas
    ) { written in
      progress.update("writing the index's postings: \(written) of \(store.shards) shards")
    }
  }

  /// Drops the store's index (and what was recorded about it) in one switch.
  ///
  /// - Throws: `RedisError`.
  static func drop(from store: RedisStore, replicas: Int, metadata: [String: String?] = [:])
    throws
  {
    try store.setIndex(
      nil, metadata: metadata.merging([LSHIndex.speedKey: nil]) { kept, _ in kept },
      replicas: replicas)
  }

  /// The store's current index, or `nil` when it has none.
  ///
  /// - Throws: `LSHError` for damaged or outdated parameters, `RedisError`.
  static func current(of store: RedisStore) throws -> (version: String, encoder: ItemEncoder)? {
    guard let (version, parameters) = try store.indexParameters() else { return nil }
    return (version, try encoder(parameters: parameters, store: store))
  }
}

extension ItemEncoder: RedisPostingsEncoder {
  /// The number of tables.
  public var tables: Int { model.configuration.tables }
  /// Bytes of one table entry.
  public var entryBytes: Int { coder.entryBytes }

  /// The bucket of `vector` in every table and its table entry, as an LMDB index stores them.
  public func postings(of vector: UnsafeBufferPointer<Float>, id: UInt64) -> (
    buckets: [UInt64], entry: [UInt8]
  ) {
    var scratch = makeScratch()
    encode(vector, id: id, into: &scratch)
    return (scratch.codes, scratch.entry)
  }
}

/// The index a search uses: a store's own (LMDB, read in place from its map), or tables built
/// in memory from a Redis store's parameters over the snapshot searched.
enum SearchIndex {
  /// An LMDB store's index.
  case stored(LSHIndex)
  /// Tables in memory over one snapshot.
  case memory(LSHMemoryIndex)

  /// The index's settings.
  var configuration: LSHConfiguration {
    switch self {
    case .stored(let index): index.configuration
    case .memory(let index): index.configuration
    }
  }

  /// Lends `body` a searcher over `snapshot` (the snapshot a memory index was built over).
  func withSearcher<R>(
    in snapshot: some ItemSnapshot, _ body: (borrowing LSHSearcher) throws -> R
  ) throws -> R {
    switch self {
    case .stored(let index):
      guard let snapshot = snapshot as? StoreSnapshot else {
        preconditionFailure("a stored index searches its own store's snapshot")
      }
      return try index.withSearcher(in: snapshot, body)
    case .memory(let index):
      return try index.withSearcher(over: snapshot, body)
    }
  }
}
