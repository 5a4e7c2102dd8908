import LSHIndex
import VectorMath
import VectorStore

/// One consistent view of any store, for commands that read every item (`export`, `copy`,
/// `eval --gallery-store`, `annbench`): an LMDB store's read transaction, or a snapshot of every
/// shard of a Redis store.
public enum StoreView {
  /// Lends `body` a consistent view of the store at `location`. Its index is not opened, so a
  /// store whose index is damaged is still read.
  ///
  /// - Parameters:
  ///   - location: a directory or a `redis://` address.
  ///   - redis: how to reach a store on a Redis Cluster.
  ///   - body: reads the view; it cannot keep it.
  /// - Returns: what `body` returns.
  /// - Throws: the engines' errors, or what `body` throws.
  public static func read<R>(
    _ location: String, redis: RedisAccess, _ body: (any ItemSnapshot) throws -> R
  ) throws -> R {
    if RedisAccess.isRedis(location) {
      return try body(try redis.open(location).snapshot())
    }
    return try VectorStore.open(path: location, readOnly: true).read { try body($0) }
  }

  /// The fitted parameters of the store's LSH index, or `nil` when it has none.
  ///
  /// - Throws: `LSHError` for damaged or outdated parameters; the engines' errors.
  static func indexEncoder(of location: String, redis: RedisAccess) throws -> ItemEncoder? {
    if RedisAccess.isRedis(location) {
      return try RedisIndex.current(of: try redis.open(location))?.encoder
    }
    let store = try VectorStore.open(path: location, readOnly: true)
    let index = try LSHIndex.open(store)
    defer { if index != nil { store.detachIndex(named: LSHIndex.name) } }
    return index?.encoder
  }

  /// Whether a store exists at `location`.
  ///
  /// - Throws: the engines' errors other than "no such store" (a Redis Cluster out of reach).
  public static func exists(_ location: String, redis: RedisAccess) throws -> Bool {
    try BuildTarget.existing(location, redis: redis) != nil
  }

  /// Lends `body` a consistent view of the store at `location` and a searcher of its LSH index
  /// over that view (a Redis store's tables built in memory from its parameters, as `query`
  /// builds them), or returns `nil` when the store has no index.
  ///
  /// - Parameters:
  ///   - location: a directory or a `redis://` address.
  ///   - redis: how to reach a store on a Redis Cluster.
  ///   - body: searches the view; it cannot keep either.
  /// - Returns: what `body` returns, or `nil` without an index.
  /// - Throws: `LSHError` for a damaged index, the engines' errors, or what `body` throws.
  public static func withIndexSearcher<R>(
    _ location: String, redis: RedisAccess,
    _ body: (any ItemSnapshot, borrowing LSHSearcher) throws -> R
  ) throws -> R? {
    if RedisAccess.isRedis(location) {
      let store = try redis.open(location)
      guard let (_, encoder) = try RedisIndex.current(of: store) else { return nil }
      let snapshot = try store.snapshot()
      return try LSHMemoryIndex(encoder: encoder, over: snapshot).withSearcher(over: snapshot) {
        try body(snapshot, $0)
      }
    }
    let store = try VectorStore.open(path: location, readOnly: true)
    // Opened before the read transaction: the index's databases must exist when it begins.
    guard let index = try LSHIndex.open(store) else { return nil }
    return try store.read { snapshot in
      try index.withSearcher(in: snapshot) { try body(snapshot, $0) }
    }
  }

  /// The settings of the store's LSH index and the bytes its tables take (an LMDB store's
  /// databases; for a Redis store, the tables each query process holds in memory, computed
  /// without reading the store), or `nil` when the store has no index.
  ///
  /// - Throws: `LSHError` for a damaged index; the engines' errors.
  public static func indexSize(of location: String, redis: RedisAccess) throws -> (
    configuration: LSHConfiguration, bytes: Int
  )? {
    if RedisAccess.isRedis(location) {
      let store = try redis.open(location)
      guard let (_, encoder) = try RedisIndex.current(of: store) else { return nil }
      return (
        encoder.model.configuration,
        LSHMemoryIndex.bytes(of: encoder, items: try store.count())
      )
    }
    let store = try VectorStore.open(path: location, readOnly: true)
    guard let index = try LSHIndex.open(store) else { return nil }
    return (
      index.configuration, try index.databaseStatistics().reduce(0) { $0 + $1.statistics.bytes }
    )
  }
}
