import LSHIndex
import VectorStore

/// One consistent view of any store, for commands that read every item (`export`, `copy`):
/// an LMDB store's read transaction, or a snapshot of every shard of a Redis store.
enum StoreView {
  /// Lends `body` a consistent view of the store at `location`, with its LSH index's fitted
  /// parameters when it has one.
  ///
  /// - Parameters:
  ///   - location: a directory or a `redis://` address.
  ///   - redis: how to reach a store on a Redis Cluster.
  ///   - body: reads the view; it cannot keep it.
  /// - Returns: what `body` returns.
  /// - Throws: the engines' errors, or what `body` throws.
  static func read<R>(
    _ location: String, redis: RedisAccess,
    _ body: (any ItemSnapshot, ItemEncoder?) throws -> R
  ) throws -> R {
    if RedisAccess.isRedis(location) {
      let store = try redis.open(location)
      let index = try RedisIndex.current(of: store)
      return try body(try store.snapshot(), index?.encoder)
    }
    let store = try VectorStore.open(path: location, readOnly: true)
    let index = try LSHIndex.open(store)
    defer { if index != nil { store.detachIndex(named: LSHIndex.name) } }
    return try store.read { try body($0, index?.encoder) }
  }
}
