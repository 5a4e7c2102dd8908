import StorageBackend
import VectorMath

/// What one ``StoreWriter/upsert(names:labels:vectors:)`` did.
public struct UpsertSummary: Hashable, Sendable {
  /// New names, given new ids.
  public var added = 0
  /// Existing names whose vector or labels changed.
  public var updated = 0
  /// Existing names with the same vector and labels, left untouched.
  public var unchanged = 0
  /// The id of every input row, in order.
  public var ids: [UInt64] = []

  /// An empty summary.
  public init() {}
}

/// Changes a store inside one transaction, obtained from ``VectorStore/write(_:)``. A class: it
/// gathers what the transaction changed (the blocks whose checksums ``finish()`` records) across
/// the calls made on it.
public final class StoreWriter {
  /// The store.
  public unowned let store: VectorStore
  package let transaction: any StorageWriting

  /// Blocks whose item records changed in this transaction; their checksums are recorded once,
  /// in ``finish()``, however many items of a block changed.
  private var changedItemBlocks = Set<UInt64>()

  init(store: VectorStore, transaction: any StorageWriting) {
    self.store = store
    self.transaction = transaction
  }

  /// Records the checksums of the item blocks this transaction changed; called by
  /// ``VectorStore/write(_:)`` before it commits.
  func finish() throws {
    for block in changedItemBlocks.sorted() { try recordItemsChecksum(block: block) }
    changedItemBlocks.removeAll()
  }

  /// A read view of the store as this transaction sees it, changes included (valid until the
  /// transaction ends, and only until the next change: block pointers may move).
  ///
  /// - Returns: the snapshot.
  /// - Throws: ``VectorStoreError``.
  public func snapshot() throws -> StoreSnapshot {
    try StoreSnapshot(store: store, transaction: transaction)
  }

  /// The number of live items, including this transaction's changes.
  ///
  /// - Throws: ``VectorStoreError`` of kind `storage`.
  public func count() throws -> Int {
    try transaction.counters(in: store.meta, path: store.path).count
  }

  /// The id the next inserted item will get, including this transaction's changes: every
  /// insert advances it, and it never goes back.
  ///
  /// - Throws: ``VectorStoreError`` of kind `storage`.
  public func nextID() throws -> UInt64 {
    try transaction.counters(in: store.meta, path: store.path).nextID
  }

  /// The id of the item called `name`, including this transaction's changes.
  ///
  /// - Parameter name: an item name.
  /// - Returns: its id, or `nil`.
  /// - Throws: ``VectorStoreError`` of kind `storage`.
  public func id(named name: String) throws -> UInt64? {
    try StoreRecords.id(named: name, store: store, transaction: transaction)
  }

  /// The name and labels of a live item, including this transaction's changes.
  ///
  /// - Parameter id: the item's id.
  /// - Returns: the item, or `nil`.
  /// - Throws: ``VectorStoreError`` of kind `storage`.
  public func item(id: UInt64) throws -> StoredItem? {
    // A writable store is upgraded to this schema when it is opened.
    try StoreRecords.item(
      id: id, store: store, transaction: transaction,
      headerBytes: StoreSchema.itemHeaderBytes(schema: StoreSchema.version))
  }

  /// Sets or removes a metadata value.
  ///
  /// - Parameters:
  ///   - key: the metadata name; the store's own layout keys cannot be changed.
  ///   - value: its text, or `nil` to remove it.
  /// - Throws: ``VectorStoreError``.
  public func setMetadata(_ key: String, _ value: String?) throws {
    let reserved = [
      StoreSchema.MetaKey.schema, StoreSchema.MetaKey.dimension, StoreSchema.MetaKey.metric,
      StoreSchema.MetaKey.blockRows, StoreSchema.MetaKey.count, StoreSchema.MetaKey.nextID,
      VectorStore.indexesKey,
    ]
    guard !reserved.contains(key) else {
      throw VectorStoreError(
        .invalidItem, path: store.path, "metadata '\(key)' belongs to the store's layout")
    }
    if let value {
      try transaction.setMeta(key, value, in: store.meta)
    } else {
      try transaction.delete(forKey: key, in: store.meta)
    }
  }

  /// Inserts new names and updates existing ones (same id) — one row per name.
  ///
  /// - Parameters:
  ///   - names: unique, non-empty item names (at most 511 UTF-8 bytes).
  ///   - labels: one per name.
  ///   - vectors: `names.count × dimension` finite values, row after row; normalised here for the
  ///     cosine metric.
  /// - Returns: what was added, updated and left unchanged, and each row's id.
  /// - Throws: ``VectorStoreError``: `dimensionMismatch` when `vectors` is not a whole number of
  ///   rows of the store's dimension, `invalidItem` for a bad name or vector (nothing is written).
  /// - Complexity: O(rows · dimension) plus the blocks touched.
  public func upsert(names: [String], labels: [ItemLabels], vectors: UnsafeBufferPointer<Float>)
    throws -> UpsertSummary
  {
    let dimension = store.dimension
    precondition(names.count == labels.count, "one label per name")
    guard vectors.count == names.count * dimension else {
      throw VectorStoreError(
        .dimensionMismatch, path: store.path,
        "received \(vectors.count) values for \(names.count) items; the store holds \(dimension)-dimensional vectors"
      )
    }
    var rows = Matrix(rows: names.count, columns: dimension, values: Array(vectors))
    try validate(names: names, rows: &rows)
    let hooks = try requiredHooks()

    var summary = UpsertSummary()
    summary.ids.reserveCapacity(names.count)
    var count = try self.count()
    var nextID = try transaction.counters(in: store.meta, path: store.path).nextID
    var blocks = WorkingBlocks(store: store, transaction: transaction)
    try rows.values.withUnsafeBufferPointer { rowValues in
      for (index, name) in names.enumerated() {
        let vector = UnsafeBufferPointer(
          rebasing: rowValues[(index * dimension)..<((index + 1) * dimension)])
        if let id = try id(named: name) {
          summary.ids.append(id)
          let sameLabels = try item(id: id)?.labels == labels[index]
          let sameVector = try blocks.vector(id: id).elementsEqual(vector)
          if sameLabels && sameVector {
            summary.unchanged += 1
            continue
          }
          summary.updated += 1
          if !sameVector {
            if !hooks.isEmpty {
              let old = try blocks.vector(id: id)
              try old.withUnsafeBufferPointer { old in
                for hook in hooks { try hook.willRemove(id: id, vector: old, in: self) }
              }
            }
            try blocks.set(id: id, to: vector)
            for hook in hooks { try hook.didInsert(id: id, vector: vector, in: self) }
          }
          if !sameLabels {
            changedItemBlocks.insert(store.blockStart(of: id))
            try transaction.put(
              StoreSchema.encodeItem(labels: labels[index], name: name), forKey: BigEndianKey(id),
              in: store.items)
          }
        } else {
          let id = nextID
          nextID += 1
          count += 1
          summary.added += 1
          summary.ids.append(id)
          try blocks.set(id: id, to: vector)
          for hook in hooks { try hook.didInsert(id: id, vector: vector, in: self) }
          changedItemBlocks.insert(store.blockStart(of: id))
          try transaction.put(
            BigEndianKey(id), forKey: name, in: store.names, options: .noOverwrite)
          try transaction.put(
            StoreSchema.encodeItem(labels: labels[index], name: name), forKey: BigEndianKey(id),
            in: store.items, options: .append)
        }
      }
    }
    try blocks.flush(checksums: try checksumsDatabase())
    try transaction.setMeta(StoreSchema.MetaKey.count, String(count), in: store.meta)
    try transaction.setMeta(StoreSchema.MetaKey.nextID, String(nextID), in: store.meta)
    return summary
  }

  /// Deletes a live item: its name is freed, its id is never reused.
  ///
  /// - Parameter id: the item's id.
  /// - Returns: the deleted item, or `nil` when there was none with that id.
  /// - Throws: ``VectorStoreError`` of kind `storage`.
  @discardableResult
  public func delete(id: UInt64) throws -> StoredItem? {
    guard let item = try item(id: id) else { return nil }
    let hooks = try requiredHooks()
    if !hooks.isEmpty, let vector = try storedVector(id: id) {
      try vector.withUnsafeBufferPointer { vector in
        for hook in hooks { try hook.willRemove(id: id, vector: vector, in: self) }
      }
    }
    try transaction.delete(forKey: BigEndianKey(id), in: store.items)
    try transaction.delete(forKey: item.name, in: store.names)
    let blockStart = store.blockStart(of: id)
    var bitmap = [UInt8](repeating: 0, count: store.bitmapBytes)
    if let existing = try transaction.value(forKey: BigEndianKey(blockStart), in: store.deleted) {
      bitmap = Array(existing)
    }
    let offset = Int(id - blockStart)
    bitmap[offset >> 3] |= 1 << UInt8(offset & 7)
    try transaction.put(bitmap, forKey: BigEndianKey(blockStart), in: store.deleted)
    try bitmap.withUnsafeBytes { bytes in
      try StoreChecksums.record(
        StoreChecksums.crc(bytes), kind: .deleted, block: blockStart,
        in: try checksumsDatabase(), txn: transaction)
    }
    changedItemBlocks.insert(blockStart)
    try transaction.setMeta(StoreSchema.MetaKey.count, String(try count() - 1), in: store.meta)
    return item
  }

  /// Deletes the item called `name`.
  ///
  /// - Parameter name: an item name.
  /// - Returns: the deleted item, or `nil` when no item has that name.
  /// - Throws: ``VectorStoreError`` of kind `storage`.
  @discardableResult
  public func delete(name: String) throws -> StoredItem? {
    guard let id = try id(named: name) else { return nil }
    return try delete(id: id)
  }

  /// The stored vector of an assigned id, as this transaction sees it.
  ///
  /// - Parameter id: the id.
  /// - Returns: a copy of its values, or `nil` when the id was never assigned.
  /// - Throws: ``VectorStoreError`` of kind `storage`.
  public func storedVector(id: UInt64) throws -> [Float]? {
    let start = store.blockStart(of: id)
    guard let bytes = try transaction.value(forKey: BigEndianKey(start), in: store.vectors) else {
      return nil
    }
    let rowBytes = store.dimension * MemoryLayout<Float>.size
    let offset = Int(id - start) * rowBytes
    guard offset + rowBytes <= bytes.count else { return nil }
    var vector = [Float](repeating: 0, count: store.dimension)
    vector.withUnsafeMutableBytes {
      $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + rowBytes)]))
    }
    return vector
  }

  /// The indexes the store records, all of which must be attached, as this transaction
  /// records them, before items change.
  ///
  /// - Returns: the attached hooks for them.
  /// - Throws: ``IndexReopenNeeded`` when an attached index is not the one this transaction
  ///   records, or one is recorded that this process can open but has not (the store then
  ///   reopens it and runs the transaction again); ``VectorStoreError`` naming an index that is
  ///   recorded but not attached and that nothing here can open.
  private func requiredHooks() throws -> [StoreIndexHook] {
    let recorded =
      try transaction.metaText(VectorStore.indexesKey, in: store.meta)?
      .split(separator: ",").map(String.init) ?? []
    let attached = store.attachedHooks
    var required: [StoreIndexHook] = []
    for name in recorded {
      if let hook = attached.first(where: { $0.indexName == name }) {
        guard try hook.isCurrent(in: self) else { throw IndexReopenNeeded(indexName: name) }
        required.append(hook)
      } else if store.canReopenIndex(named: name) {
        throw IndexReopenNeeded(indexName: name)
      } else {
        throw VectorStoreError(
          .indexNotAttached, path: store.path,
          "has an \(name) index that is not attached, which a write would leave out of step (open the index first, or drop it)"
        )
      }
    }
    return required
  }

  /// Records the store's index names (see ``StoreIndexHook``).
  ///
  /// - Parameter names: the names; empty removes the record.
  /// - Throws: ``VectorStoreError`` of kind `storage`.
  public func setIndexNames(_ names: [String]) throws {
    if names.isEmpty {
      try transaction.delete(forKey: VectorStore.indexesKey, in: store.meta)
    } else {
      try transaction.setMeta(VectorStore.indexesKey, names.joined(separator: ","), in: store.meta)
    }
  }

  /// The checksums database (present whenever the store is writable).
  func checksumsDatabase() throws -> StorageTable {
    guard let database = store.checksums else {
      throw VectorStoreError(.readOnly, path: store.path, "was opened read-only")
    }
    return database
  }

  /// Recomputes and records the checksum of a block's `items` records.
  private func recordItemsChecksum(block: UInt64) throws {
    let checksum = try StoreChecksums.itemsChecksum(
      block: block, rows: store.blockRows, items: store.items, txn: transaction)
    try StoreChecksums.record(
      checksum, kind: .items, block: block, in: try checksumsDatabase(), txn: transaction)
  }

  /// Recomputes every checksum from the data as it is (upgrading a schema-1 store, or
  /// accepting the data after a repair); stale records are removed.
  ///
  /// - Throws: ``VectorStoreError``.
  package func recordAllChecksums() throws {
    let database = try checksumsDatabase()
    try transaction.removeAll(in: database)
    let snapshot = try snapshot()
    let rowBytes = store.dimension * MemoryLayout<Float>.size
    let bitmapBytes = store.bitmapBytes
    for block in snapshot.blocks {
      let values = UnsafeRawBufferPointer(start: block.values, count: block.rowCount * rowBytes)
      try StoreChecksums.record(
        StoreChecksums.crc(values), kind: .vectors, block: block.firstID, in: database,
        txn: transaction)
      if let deleted = block.deleted {
        try StoreChecksums.record(
          StoreChecksums.crc(UnsafeRawBufferPointer(start: deleted, count: bitmapBytes)),
          kind: .deleted, block: block.firstID, in: database, txn: transaction)
      }
      try recordItemsChecksum(block: block.firstID)
    }
  }

  /// Checks names and values; normalises rows for the cosine metric.
  private func validate(names: [String], rows: inout Matrix) throws {
    if let problem = ItemBatchCheck.problem(
      names: names, maximumNameBytes: store.engine.maximumKeyBytes, rows: &rows,
      normalizing: store.metric.normalizesVectors)
    {
      throw VectorStoreError(.invalidItem, path: store.path, problem)
    }
  }
}

/// Copies of the blocks a transaction changes, written back once each in ``flush()``.
private struct WorkingBlocks {
  let store: VectorStore
  let transaction: any StorageWriting
  private var blocks: [UInt64: [Float]] = [:]

  init(store: VectorStore, transaction: any StorageWriting) {
    self.store = store
    self.transaction = transaction
  }

  /// The current vector of an assigned id (this transaction's pending value if changed).
  mutating func vector(id: UInt64) throws -> [Float] {
    let start = store.blockStart(of: id)
    let offset = Int(id - start) * store.dimension
    let values = try load(start)
    guard offset + store.dimension <= values.count else {
      throw VectorStoreError(
        .notAStore, path: store.path, "item \(id) has no vector; the store is damaged")
    }
    return Array(values[offset..<(offset + store.dimension)])
  }

  mutating func set(id: UInt64, to vector: UnsafeBufferPointer<Float>) throws {
    let start = store.blockStart(of: id)
    let offset = Int(id - start) * store.dimension
    var values = try load(start)
    blocks[start] = nil  // keep the array uniquely referenced while it changes
    if offset >= values.count {
      values.append(contentsOf: repeatElement(0, count: offset + store.dimension - values.count))
    }
    values.withUnsafeMutableBufferPointer { target in
      for index in 0..<store.dimension { target[offset + index] = vector[index] }
    }
    blocks[start] = values
  }

  private mutating func load(_ start: UInt64) throws -> [Float] {
    if let values = blocks[start] { return values }
    var values: [Float] = []
    values.reserveCapacity(store.blockRows * store.dimension)
    if let bytes = try transaction.value(forKey: BigEndianKey(start), in: store.vectors) {
      let count = bytes.count / MemoryLayout<Float>.size
      values.append(contentsOf: repeatElement(0, count: count))
      values.withUnsafeMutableBytes { $0.copyMemory(from: bytes) }
    }
    blocks[start] = values
    return values
  }

  /// Writes every changed block back, with its checksum.
  func flush(checksums: StorageTable) throws {
    for (start, values) in blocks.sorted(by: { $0.key < $1.key }) {
      try values.withUnsafeBytes { source in
        try transaction.putReserving(
          byteCount: source.count, forKey: BigEndianKey(start), in: store.vectors
        ) { target in
          target.copyMemory(from: source)
        }
        try StoreChecksums.record(
          StoreChecksums.crc(source), kind: .vectors, block: start, in: checksums,
          txn: transaction)
      }
    }
  }
}
