import VectorMath
import VectorStore

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The `delete` command: remove items in one transaction.
public enum Deletion {
  /// Deletes items by name or id; all or nothing. An item named twice is deleted once (names
  /// compared as bytes, as the store compares them).
  ///
  /// On a Redis store every name is looked up first (an unknown one deletes nothing), then each
  /// shard's part is deleted atomically and acknowledged by replicas.
  ///
  /// - Parameters:
  ///   - storePath: the store's directory, or a `redis://` address.
  ///   - items: names, or ids as text.
  ///   - byID: whether `items` are ids.
  ///   - redis: how to reach a store on a Redis Cluster.
  /// - Returns: the number deleted.
  /// - Throws: ``TripIndexError`` for an unknown name or id (nothing is deleted), or
  ///   `VectorStoreError`; `RedisError` or `RedisStoreError` for a Redis store.
  public static func run(
    storePath: String, items: [String], byID: Bool, redis: RedisAccess = RedisAccess()
  ) throws -> Int {
    var ids: [UInt64] = []
    if byID {
      for item in items {
        guard let id = UInt64(item) else {
          throw TripIndexError("'\(item)' is not an id (a whole number ≥ 0)")
        }
        if !ids.contains(id) { ids.append(id) }
      }
    }
    if RedisAccess.isRedis(storePath) {
      return try deleteOnRedis(storePath, items: items, ids: byID ? ids : nil, redis: redis)
    }
    if byID {
      return try delete(
        from: storePath,
        ids.map { id in
          { writer in
            guard try writer.delete(id: id) != nil else {
              throw TripIndexError("\(storePath): no item with id \(id); nothing was deleted")
            }
          }
        })
    }
    var seen = Set<ItemNameKey>()
    return try delete(
      from: storePath,
      items.filter { seen.insert(ItemNameKey($0)).inserted }.map { name in
        { writer in
          guard try writer.delete(name: name) != nil else {
            throw TripIndexError("\(storePath): no item named '\(name)'; nothing was deleted")
          }
        }
      })
  }

  /// Deletes from a store on a Redis Cluster, by name or by id.
  private static func deleteOnRedis(
    _ location: String, items: [String], ids: [UInt64]?, redis: RedisAccess
  ) throws -> Int {
    let store = try redis.open(location)
    let replicas = try redis.replicaCount(for: store)
    var names: [String]
    if let ids {
      let found = try store.names(ofIDs: ids)
      if let missing = zip(ids, found).first(where: { $0.1 == nil }) {
        throw TripIndexError(
          "\(store.address): no item with id \(missing.0); nothing was deleted")
      }
      names = found.compactMap { $0 }
    } else {
      var seen = Set<ItemNameKey>()
      names = items.filter { seen.insert(ItemNameKey($0)).inserted }
      if let missing = zip(names, try store.contains(names: names)).first(where: { !$0.1 }) {
        throw TripIndexError(
          "\(store.address): no item named '\(missing.0)'; nothing was deleted")
      }
    }
    let deleted = try store.delete(names: names, replicas: replicas)
    return deleted.compactMap { $0 }.count
  }

  /// Runs one deletion per item in one transaction.
  private static func delete(
    from storePath: String, _ deletions: [(StoreWriter) throws -> Void]
  ) throws -> Int {
    let store = try Index.openForWriting(storePath)
    return try store.write { writer in
      for deletion in deletions { try deletion(writer) }
      return deletions.count
    }
  }
}
