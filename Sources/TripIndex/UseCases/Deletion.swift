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
  /// - Parameters:
  ///   - storePath: the store's directory.
  ///   - items: names, or ids as text.
  ///   - byID: whether `items` are ids.
  /// - Returns: the number deleted.
  /// - Throws: ``TripIndexError`` for an unknown name or id (nothing is deleted), or
  ///   `VectorStoreError`.
  public static func run(storePath: String, items: [String], byID: Bool) throws -> Int {
    if byID {
      var ids: [UInt64] = []
      for item in items {
        guard let id = UInt64(item) else {
          throw TripIndexError("'\(item)' is not an id (a whole number ≥ 0)")
        }
        if !ids.contains(id) { ids.append(id) }
      }
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
