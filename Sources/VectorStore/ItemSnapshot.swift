import VectorMath

/// What a search reads from any store's consistent view, whatever engine holds it: the vector
/// blocks (``VectorSource``), each live item's name and labels, and the store's metadata.
///
/// ``StoreSnapshot`` (LMDB, read in place) and the Redis store's snapshot (gathered from every
/// shard) both provide it, so exact search, filters and exclusions run the same code on both.
public protocol ItemSnapshot: VectorSource {
  /// The name and labels of a live item, or `nil` for an unknown or deleted id.
  ///
  /// - Parameter id: the item's id.
  func item(id: UInt64) throws -> StoredItem?

  /// The items of many ids at once (a search's results), `nil` for unknown or deleted ones.
  ///
  /// - Parameter ids: the ids.
  func items(ids: [UInt64]) throws -> [StoredItem?]

  /// Calls `body` for every live item, in id order.
  ///
  /// - Parameter body: receives each item and its vector.
  func forEachItem(_ body: (StoredItem, UnsafeBufferPointer<Float>) throws -> Void) throws

  /// A metadata value recorded in the store, or `nil`.
  ///
  /// - Parameter key: the metadata name.
  func metadata(_ key: String) throws -> String?
}

extension ItemSnapshot {
  /// The items of many ids, one at a time.
  public func items(ids: [UInt64]) throws -> [StoredItem?] { try ids.map { try item(id: $0) } }
}

extension StoreSnapshot: ItemSnapshot {}
