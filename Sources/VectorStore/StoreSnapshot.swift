import StorageBackend
import VectorMath

/// A consistent, read-only view of a store, valid inside ``VectorStore/read(_:)``.
///
/// Vectors come straight from LMDB's memory map: ``vector(id:)`` is O(1) and ``blocks`` can go to
/// BLAS as they are.
public struct StoreSnapshot {
  /// The store.
  public unowned let store: VectorStore
  package let transaction: any StorageReading
  /// The number of live items.
  public let count: Int
  /// The id the next new item will get; every id below it was assigned once.
  public let nextID: UInt64
  /// The vector blocks in id order; block `i` starts at id `i × store.blockRows`.
  public let blocks: [VectorBlock]
  private let copies: AlignedCopies
  /// The bytes before the name in this snapshot's item records.
  let itemHeaderBytes: Int
  /// The committed state a read-only snapshot sees and the map generation it sees it under:
  /// two snapshots with one key see the same bytes at the same addresses, so what was found
  /// checking one holds for the other. `nil` inside a write transaction.
  public let key: Key?

  /// See ``key``.
  public struct Key: Equatable, Sendable {
    var snapshotID: Int
    var mapGeneration: Int
  }

  init(store: VectorStore, transaction: any StorageReading) throws {
    self.store = store
    self.transaction = transaction
    // A read transaction that sees the same committed snapshot as an earlier one, under the
    // same map generation, sees the same pages at the same addresses: its layout is reused
    // instead of walked again (a walk touches every block's entry, which a server's
    // single-probe searches would pay each time). The generation matters: a write that fills
    // the map grows (and may move) it before it commits, or without committing at all.
    let key =
      transaction.isReadOnly
      ? Key(snapshotID: transaction.snapshotID, mapGeneration: store.engine.mappingGeneration)
      : nil
    self.key = key
    let layout: SnapshotLayout
    if let key, let cached = store.snapshotLayouts.withLock({ $0 }), cached.key == key {
      layout = cached
    } else {
      layout = try SnapshotLayout(store: store, transaction: transaction, key: key)
      if key != nil { store.snapshotLayouts.withLock { $0 = layout } }
    }
    (count, nextID, itemHeaderBytes) = (layout.count, layout.nextID, layout.itemHeaderBytes)
    copies = layout.copies
    blocks = layout.blocks
  }

  /// The name and labels of a live item.
  ///
  /// - Parameter id: the item's id.
  /// - Returns: the item, or `nil` for an unknown or deleted id.
  /// - Throws: ``VectorStoreError`` of kind `storage`.
  public func item(id: UInt64) throws -> StoredItem? {
    try StoreRecords.item(
      id: id, store: store, transaction: transaction, headerBytes: itemHeaderBytes)
  }

  /// The items of many ids at once (a search's results), `nil` for unknown or deleted ones.
  ///
  /// The records are read in id order with one cursor: a batch's neighbours are spread over
  /// the whole store, and a cursor that moves forward meets the next records on pages it has
  /// just read, where a lookup of each id in turn lands on a page at random (the 50,000
  /// neighbours of 5,000 probes on a 100k store: 21 ms one at a time, 14 ms in order). An id
  /// asked for several times is read once.
  ///
  /// - Parameter ids: the ids, in any order.
  /// - Returns: one item per id, in the order of `ids`.
  /// - Throws: ``VectorStoreError`` of kind `storage`, or `notAStore` for a damaged record.
  public func items(ids: [UInt64]) throws -> [StoredItem?] {
    var order = (0..<ids.count).map { (id: ids[$0], position: $0) }
    order.sort { $0.id < $1.id }
    var found = [StoredItem?](repeating: nil, count: ids.count)
    try transaction.withCursor(in: store.items) { cursor in
      // The entry under the cursor: the first record at or after the last id sought (`nil`
      // once past the last record).
      var entry: (id: UInt64, value: UnsafeRawBufferPointer)?
      var positioned = false
      var last: (id: UInt64, item: StoredItem?)?
      for (id, position) in order {
        if let last, last.id == id {
          found[position] = last.item
          continue
        }
        if !positioned || (entry.map { $0.id < id } ?? false) {
          entry = try cursor.seek(atLeast: BigEndianKey(id)).map { next in
            guard let key = BigEndianKey(bytes: next.key) else {
              throw VectorStoreError(.notAStore, path: store.path, "its items database is damaged")
            }
            return (key.value, next.value)
          }
          positioned = true
        }
        var item: StoredItem?
        if let entry, entry.id == id {
          item = try StoreRecords.item(
            id: id, record: entry.value, store: store, headerBytes: itemHeaderBytes)
        }
        found[position] = item
        last = (id, item)
      }
    }
    return found
  }

  /// The id of the item called `name`.
  ///
  /// - Parameter name: an item name.
  /// - Returns: its id, or `nil`.
  /// - Throws: ``VectorStoreError`` of kind `storage`.
  public func id(named name: String) throws -> UInt64? {
    try StoreRecords.id(named: name, store: store, transaction: transaction)
  }

  /// Calls `body` for every live item, in id order.
  ///
  /// - Parameter body: receives each item and its vector.
  /// - Throws: ``VectorStoreError``, or what `body` throws.
  /// - Complexity: O(count).
  public func forEachItem(_ body: (StoredItem, UnsafeBufferPointer<Float>) throws -> Void) throws {
    try transaction.withCursor(in: store.items) { cursor in
      var entry = try cursor.first()
      while let current = entry {
        guard let key = BigEndianKey(bytes: current.key),
          let (labels, name) = StoreSchema.decodeItem(
            current.value, headerBytes: itemHeaderBytes),
          let vector = vector(id: key.value)
        else {
          throw VectorStoreError(.notAStore, path: store.path, "its items database is damaged")
        }
        try body(StoredItem(id: key.value, name: name, labels: labels), vector)
        entry = try cursor.next()
      }
    }
  }

  /// A metadata value.
  ///
  /// - Parameter key: the metadata name.
  /// - Returns: its text, or `nil`.
  /// - Throws: ``VectorStoreError`` of kind `storage`.
  public func metadata(_ key: String) throws -> String? {
    try transaction.metaText(key, in: store.meta)
  }
}

/// Reads shared by snapshots and writers.
enum StoreRecords {
  static func item(
    id: UInt64, store: VectorStore, transaction: any StorageReading, headerBytes: Int
  ) throws -> StoredItem? {
    guard let bytes = try transaction.value(forKey: BigEndianKey(id), in: store.items) else {
      return nil
    }
    return try item(id: id, record: bytes, store: store, headerBytes: headerBytes)
  }

  /// Decodes the record of item `id` read from the items database.
  static func item(
    id: UInt64, record: UnsafeRawBufferPointer, store: VectorStore, headerBytes: Int
  ) throws -> StoredItem {
    guard let (labels, name) = StoreSchema.decodeItem(record, headerBytes: headerBytes) else {
      throw VectorStoreError(.notAStore, path: store.path, "item \(id) is damaged")
    }
    return StoredItem(id: id, name: name, labels: labels)
  }

  static func id(named name: String, store: VectorStore, transaction: any StorageReading) throws
    -> UInt64?
  {
    guard !name.isEmpty, name.utf8.count <= store.engine.maximumKeyBytes else { return nil }
    return try transaction.value(forKey: name, in: store.names).flatMap {
      BigEndianKey(bytes: $0)?.value
    }
  }
}

/// Owns 4-byte-aligned copies of values LMDB returned at a 2-byte boundary (rare: block values
/// normally sit in overflow pages or 4-byte-aligned nodes), freed with the snapshot.
final class AlignedCopies {
  private var buffers: [UnsafeMutablePointer<Float>] = []

  func floats(_ bytes: UnsafeRawBufferPointer) -> UnsafePointer<Float> {
    if let base = bytes.baseAddress, Int(bitPattern: base) % MemoryLayout<Float>.alignment == 0 {
      return base.assumingMemoryBound(to: Float.self)
    }
    let copy = UnsafeMutablePointer<Float>.allocate(capacity: max(1, bytes.count / 4))
    UnsafeMutableRawBufferPointer(start: copy, count: bytes.count).copyMemory(from: bytes)
    buffers.append(copy)
    return UnsafePointer(copy)
  }

  deinit {
    for buffer in buffers { buffer.deallocate() }
  }
}

extension StoreSnapshot: VectorSource {
  /// Values per vector.
  public var dimension: Int { store.dimension }
  /// The store's metric.
  public var metric: DistanceMetric { store.metric }
  /// Rows per block.
  public var blockRows: Int { store.blockRows }
  /// The id the next new item will get.
  public var idLimit: UInt64 { nextID }
}

/// Where a snapshot's vector blocks and deletion bitmaps are in the map, with its counters:
/// found by walking the `vectors` and `deleted` databases, checked as it goes, and kept by the
/// store for the next read transaction that sees the same committed snapshot (same LMDB
/// transaction id, same map address), whose pages are then the same.
///
/// Immutable once made; its pointers are valid only inside transactions with its key.
final class SnapshotLayout: @unchecked Sendable {
  let key: StoreSnapshot.Key?
  let count: Int
  let nextID: UInt64
  let itemHeaderBytes: Int
  let blocks: [VectorBlock]
  let copies: AlignedCopies

  init(store: VectorStore, transaction: any StorageReading, key: StoreSnapshot.Key?) throws {
    self.key = key
    let (count, nextID) = try transaction.counters(in: store.meta, path: store.path)
    (self.count, self.nextID) = (count, nextID)
    itemHeaderBytes = try transaction.itemHeaderBytes(in: store.meta)
    let copies = AlignedCopies()
    self.copies = copies
    let path = store.path
    let blockRows = store.blockRows
    var deletedMaps: [UInt64: UnsafePointer<UInt8>] = [:]
    let bitmapBytes = store.bitmapBytes
    try transaction.withCursor(in: store.deleted) { cursor in
      var entry = try cursor.first()
      while let current = entry {
        guard let key = BigEndianKey(bytes: current.key), key.value % UInt64(blockRows) == 0,
          key.value < nextID, current.value.count == bitmapBytes,
          let bitmap = current.value.baseAddress
        else {
          throw VectorStoreError.damaged(
            path: path,
            "a deleted-rows bitmap (database 'deleted') has a bad key or \(current.value.count) bytes instead of \(bitmapBytes)"
          )
        }
        deletedMaps[key.value] = bitmap.assumingMemoryBound(to: UInt8.self)
        entry = try cursor.next()
      }
    }
    let rowBytes = store.dimension * MemoryLayout<Float>.size
    var blocks: [VectorBlock] = []
    try transaction.withCursor(in: store.vectors) { cursor in
      var entry = try cursor.first()
      while let current = entry {
        let firstID = UInt64(blocks.count * blockRows)
        // Every block but the last holds `blockRows` rows; the last ends at `nextID`.
        let expectedRows = StoreSchema.rows(
          inBlockStarting: firstID, nextID: nextID, blockRows: blockRows)
        guard let key = BigEndianKey(bytes: current.key), key.value == firstID,
          current.value.count == expectedRows * rowBytes, expectedRows > 0
        else {
          throw VectorStoreError.damaged(
            path: path,
            "vector block \(blocks.count) (database 'vectors', first id \(firstID)) holds \(current.value.count) bytes; \(expectedRows) rows of dimension \(store.dimension) need \(expectedRows * rowBytes)"
          )
        }
        blocks.append(
          VectorBlock(
            firstID: key.value, rowCount: expectedRows,
            values: copies.floats(current.value), deleted: deletedMaps[key.value]))
        entry = try cursor.next()
      }
    }
    let expectedBlocks = Int((nextID + UInt64(blockRows) - 1) / UInt64(blockRows))
    guard blocks.count == expectedBlocks else {
      throw VectorStoreError.damaged(
        path: path,
        "database 'vectors' holds \(blocks.count) blocks; the \(nextID) assigned ids need \(expectedBlocks)"
      )
    }
    self.blocks = blocks
  }
}
