import VectorMath
import VectorStore

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The `delete` command: remove items in one transaction.
public enum Deletion {
  /// Deletes items by name or id; all or nothing.
  ///
  /// - Parameters:
  ///   - storePath: the store's directory.
  ///   - items: names, or ids as text.
  ///   - byID: whether `items` are ids.
  /// - Returns: the number deleted.
  /// - Throws: ``TripIndexError`` for an unknown name or id (nothing is deleted), or
  ///   `VectorStoreError`.
  public static func run(storePath: String, items: [String], byID: Bool) throws -> Int {
    let store = try Index.openForWriting(storePath)
    return try store.write { writer in
      for item in items {
        if byID {
          guard let id = UInt64(item) else {
            throw TripIndexError("'\(item)' is not an id (a whole number ≥ 0)")
          }
          guard try writer.delete(id: id) != nil else {
            throw TripIndexError("\(storePath): no item with id \(id); nothing was deleted")
          }
        } else {
          guard try writer.delete(name: item) != nil else {
            throw TripIndexError("\(storePath): no item named '\(item)'; nothing was deleted")
          }
        }
      }
      return items.count
    }
  }
}
