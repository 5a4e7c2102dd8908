import LSHIndex
import VectorStore

/// One consistent view of any store, for commands that read every item (`export`, `copy`,
/// `eval --gallery-store`): an LMDB store's read transaction, or a snapshot of every shard of a
/// Redis store.
enum StoreView {
  /// Lends `body` a consistent view of the store at `location`. Its index is not opened, so a
  /// store whose index is damaged is still read.
  ///
  /// - Parameters:
  ///   - location: a directory or a `redis://` address.
  ///   - redis: how to reach a store on a Redis Cluster.
  ///   - body: reads the view; it cannot keep it.
  /// - Returns: what `body` returns.
  /// - Throws: the engines' errors, or what `body` throws.
  static func read<R>(
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
}
