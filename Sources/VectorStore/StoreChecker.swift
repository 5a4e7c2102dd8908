import StorageBackend
import VectorMath

/// One problem ``VectorStore/check()`` found.
public struct StoreDamage: Sendable, Hashable, CustomStringConvertible {
  /// The table it is in (`vectors`, `items`, `lsh.table.3`, …).
  public var database: String
  /// The key or record concerned (`block 512`, `id 20276`, `name 'x'`), or empty.
  public var key: String
  /// What is wrong.
  public var problem: String
  /// Whether a repair can rebuild it from the rest of the store.
  public var isDerived: Bool

  /// Creates a finding.
  ///
  /// - Parameters:
  ///   - database: the database.
  ///   - key: the key or record.
  ///   - problem: what is wrong.
  ///   - isDerived: whether it can be rebuilt from the rest of the store.
  public init(database: String, key: String, problem: String, isDerived: Bool) {
    self.database = database
    self.key = key
    self.problem = problem
    self.isDerived = isDerived
  }

  /// `database, key: problem`.
  public var description: String {
    key.isEmpty ? "\(database): \(problem)" : "\(database), \(key): \(problem)"
  }
}

/// What a store check read and found.
public struct StoreCheckReport: Sendable {
  /// Entries read per database, in the order checked.
  public var entriesRead: [(database: String, entries: Int)] = []
  /// The problems, in the order found.
  public var damage: [StoreDamage] = []
  /// Whether the store has checksums (schema 2); a schema-1 store opened read-only has none.
  public var hasChecksums = true

  /// An empty report.
  public init() {}

  mutating func add(_ database: String, _ key: String, _ problem: String, derived: Bool = false) {
    // A damaged page can make thousands of records fail the same way: keep the first 1,000.
    guard damage.count < 1_000 else { return }
    damage.append(StoreDamage(database: database, key: key, problem: problem, isDerived: derived))
  }
}

extension VectorStore {
  /// Reads every record of the store's own databases and reports what is damaged: the meta
  /// counters, each vector block's size and checksum, the deleted bitmaps, every item record and
  /// its block checksum, the `names` ↔ `items` maps and the live count. (Index databases are
  /// checked by their index.)
  ///
  /// - Returns: the report; an empty `damage` list means the store is sound.
  /// - Throws: ``VectorStoreError`` when the engine itself cannot read its data.
  /// - Complexity: O(stored bytes).
  public func check() throws -> StoreCheckReport {
    do {
      return try engine.read { txn in
        var checker = StoreChecker(store: self, txn: txn)
        return try checker.run()
      }
    } catch let error as any StorageFailure {
      throw VectorStoreError.storage(error, path: path, while: "checking")
    }
  }
}

/// The walk behind ``VectorStore/check()``.
private struct StoreChecker {
  let store: VectorStore
  let txn: any StorageReading
  var report = StoreCheckReport()
  /// Rows of each vector block found, by first id.
  var blockRows: [UInt64: Int] = [:]
  /// Deleted bitmaps, by first id.
  var deletedBits: [UInt64: [UInt8]] = [:]

  init(store: VectorStore, txn: any StorageReading) {
    self.store = store
    self.txn = txn
  }

  mutating func run() throws -> StoreCheckReport {
    report.hasChecksums = store.checksums != nil
    let (count, nextID) = counters()
    try checkVectors(nextID: nextID)
    try checkDeleted()
    let names = try checkItems(count: count, nextID: nextID)
    try checkNames(itemNames: names)
    try checkChecksumRecords()
    return report
  }

  /// The meta counters; when damaged, the next id implied by the vector blocks.
  mutating func counters() -> (count: Int?, nextID: UInt64?) {
    do {
      let (count, nextID) = try txn.counters(in: store.meta, path: store.path)
      return (count, nextID)
    } catch {
      report.add(StoreSchema.meta, "count, next_id", "\(error)")
      return (nil, nil)
    }
  }

  func recorded(_ kind: StoreChecksums.Kind, _ block: UInt64) throws -> UInt32?? {
    guard let database = store.checksums else { return nil }
    return try StoreChecksums.recorded(kind: kind, block: block, in: database, txn: txn)
  }

  /// Compares a computed checksum with the recorded one.
  mutating func verify(_ kind: StoreChecksums.Kind, block: UInt64, computed: UInt32) throws {
    guard report.hasChecksums else { return }
    let database = kind.databaseName
    switch try recorded(kind, block) {
    case .none:
      // Blocks without items and without a bitmap have nothing to record.
      if kind == .vectors || computed != 0 {
        report.add(database, "block \(block)", "has no checksum", derived: true)
      }
    case .some(.none):
      report.add(StoreSchema.checksums, "\(kind) block \(block)", "the checksum record is damaged")
    case .some(.some(let stored)):
      if stored != computed {
        report.add(
          database, "block \(block)",
          "checksum mismatch (recorded \(hex(stored)), computed \(hex(computed))): the data is damaged"
        )
      }
    }
  }

  mutating func checkVectors(nextID: UInt64?) throws {
    let rowBytes = store.dimension * MemoryLayout<Float>.size
    let perBlock = store.blockRows
    var entries = 0
    var expectedStart: UInt64 = 0
    entries = try txn.forEachEntry(in: store.vectors) { current in
      guard let key = BigEndianKey(bytes: current.key) else {
        report.add(
          StoreSchema.vectors, "", "holds a key of \(current.key.count) bytes; keys are 8-byte ids")
        return
      }
      let block = key.value
      if block != expectedStart {
        report.add(
          StoreSchema.vectors, "block \(block)",
          "is out of sequence (expected first id \(expectedStart))")
      }
      expectedStart = block + UInt64(perBlock)
      let expectedRows =
        nextID.map { StoreSchema.rows(inBlockStarting: block, nextID: $0, blockRows: perBlock) }
        ?? perBlock
      guard current.value.count % rowBytes == 0, current.value.count / rowBytes <= perBlock,
        nextID == nil || current.value.count == expectedRows * rowBytes
      else {
        report.add(
          StoreSchema.vectors, "block \(block)",
          "holds \(current.value.count) bytes; expected \(expectedRows) rows of \(rowBytes) bytes"
        )
        return
      }
      blockRows[block] = current.value.count / rowBytes
      try verify(.vectors, block: block, computed: StoreChecksums.crc(current.value))
      checkValues(current.value, block: block)
    }
    if let nextID {
      let needed = (nextID + UInt64(perBlock) - 1) / UInt64(perBlock)
      if UInt64(blockRows.count) < needed {
        report.add(
          StoreSchema.vectors, "",
          "holds \(blockRows.count) sound blocks; the \(nextID) assigned ids need \(needed)")
      }
    }
    report.entriesRead.append((StoreSchema.vectors, entries))
  }

  /// Values must be finite and within the norm limit, as the store checks them when it writes
  /// (``VectorLimits/storageProblem(_:normalizing:)``; the cosine direction check is left out, so
  /// stores written before it existed are not reported).
  mutating func checkValues(_ bytes: UnsafeRawBufferPointer, block: UInt64) {
    let dimension = store.dimension
    let rows = bytes.count / (dimension * 4)
    var row = [Float](repeating: 0, count: dimension)
    for index in 0..<rows {
      row.withUnsafeMutableBytes {
        $0.copyMemory(
          from: UnsafeRawBufferPointer(
            rebasing: bytes[(index * dimension * 4)..<((index + 1) * dimension * 4)]))
      }
      let problem = row.withUnsafeBufferPointer {
        VectorLimits.storageProblem($0, normalizing: false)
      }
      if let problem {
        report.add(
          StoreSchema.vectors, "id \(block + UInt64(index))", "the vector is invalid: \(problem)")
        return
      }
    }
  }

  mutating func checkDeleted() throws {
    let bitmapBytes = store.bitmapBytes
    var entries = 0
    entries = try txn.forEachEntry(in: store.deleted) { current in
      guard let key = BigEndianKey(bytes: current.key), key.value % UInt64(store.blockRows) == 0
      else {
        report.add(StoreSchema.deleted, "", "holds a key that is not the first id of a block")
        return
      }
      guard current.value.count == bitmapBytes else {
        report.add(
          StoreSchema.deleted, "block \(key.value)",
          "holds \(current.value.count) bytes; expected \(bitmapBytes)")
        return
      }
      guard blockRows[key.value] != nil else {
        report.add(
          StoreSchema.deleted, "block \(key.value)", "marks rows of a block that has no vectors")
        return
      }
      deletedBits[key.value] = Array(current.value)
      try verify(.deleted, block: key.value, computed: StoreChecksums.crc(current.value))
    }
    report.entriesRead.append((StoreSchema.deleted, entries))
  }

  func isDeleted(_ id: UInt64) -> Bool {
    let block = store.blockStart(of: id)
    guard let bits = deletedBits[block] else { return false }
    let offset = Int(id - block)
    return bits[offset >> 3] & (1 << UInt8(offset & 7)) != 0
  }

  func hasVector(_ id: UInt64) -> Bool {
    let block = store.blockStart(of: id)
    guard let rows = blockRows[block] else { return false }
    return Int(id - block) < rows
  }

  /// Checks every item record; returns id → name of the sound ones.
  mutating func checkItems(count: Int?, nextID: UInt64?) throws -> [UInt64: String] {
    var names: [UInt64: String] = [:]
    var entries = 0
    var blockCRC: (block: UInt64, crc: UInt32)?
    let headerBytes = try txn.itemHeaderBytes(in: store.meta)
    func finishBlock(_ state: inout StoreChecker) throws {
      if let current = blockCRC {
        try state.verify(.items, block: current.block, computed: current.crc)
      }
    }
    entries = try txn.forEachEntry(in: store.items) { current in
      guard let key = BigEndianKey(bytes: current.key) else {
        report.add(
          StoreSchema.items, "", "holds a key of \(current.key.count) bytes; keys are 8-byte ids")
        return
      }
      let id = key.value
      let block = store.blockStart(of: id)
      if blockCRC?.block != block {
        try finishBlock(&self)
        blockCRC = (block, 0)
      }
      blockCRC = (
        block,
        StoreChecksums.addItem(key: current.key, value: current.value, to: blockCRC?.crc ?? 0)
      )
      guard let (_, name) = StoreSchema.decodeItem(current.value, headerBytes: headerBytes),
        String(validating: current.value[headerBytes...], as: UTF8.self) != nil, !name.isEmpty
      else {
        report.add(
          StoreSchema.items, "id \(id)",
          "the record is not pid, camera\(headerBytes > 8 ? ", group" : "") and a UTF-8 name")
        return
      }
      if let nextID, id >= nextID {
        report.add(StoreSchema.items, "id \(id)", "is beyond the next id \(nextID)")
      } else if !hasVector(id) {
        report.add(StoreSchema.items, "id \(id)", "has a record but no vector")
      } else if isDeleted(id) {
        report.add(StoreSchema.items, "id \(id)", "is marked deleted but still has a record")
      }
      names[id] = name
    }
    try finishBlock(&self)
    // Live rows without a record.
    for (block, rows) in blockRows {
      for offset in 0..<rows {
        let id = block + UInt64(offset)
        if !isDeleted(id) && names[id] == nil {
          report.add(StoreSchema.items, "id \(id)", "has a vector but no record")
        }
      }
    }
    if let count, count != names.count {
      report.add(
        StoreSchema.meta, "count", "says \(count) live items; \(names.count) records are sound",
        derived: true)
    }
    report.entriesRead.append((StoreSchema.items, entries))
    return names
  }

  mutating func checkNames(itemNames: [UInt64: String]) throws {
    var entries = 0
    var seen = Set<UInt64>()
    entries = try txn.forEachEntry(in: store.names) { current in
      let name = String(decoding: current.key, as: UTF8.self)
      guard let id = BigEndianKey(bytes: current.value)?.value else {
        report.add(
          StoreSchema.names, "name '\(name.prefix(60))'", "the id is not 8 bytes", derived: true)
        return
      }
      guard itemNames[id] == name else {
        report.add(
          StoreSchema.names, "name '\(name.prefix(60))'",
          "points to id \(id), whose record \(itemNames[id].map { "is named '\($0.prefix(60))'" } ?? "is missing")",
          derived: true)
        return
      }
      seen.insert(id)
    }
    for (id, name) in itemNames where !seen.contains(id) {
      report.add(
        StoreSchema.names, "name '\(name.prefix(60))'", "is missing (item \(id) has it)",
        derived: true)
    }
    report.entriesRead.append((StoreSchema.names, entries))
  }

  /// Checksum records must be 4 bytes, of a known kind, for a block that exists.
  mutating func checkChecksumRecords() throws {
    guard let database = store.checksums else { return }
    var entries = 0
    entries = try txn.forEachEntry(in: database) { current in
      guard current.key.count == 9, let kind = StoreChecksums.Kind(rawValue: current.key[0]),
        current.value.count == 4,
        let block = BigEndianKey(bytes: UnsafeRawBufferPointer(rebasing: current.key[1...]))
      else {
        report.add(
          StoreSchema.checksums, "", "holds an entry that is not a checksum record", derived: true)
        return
      }
      if blockRows[block.value] == nil {
        report.add(
          StoreSchema.checksums, "\(kind) block \(block.value)",
          "covers a block that does not exist",
          derived: true)
      }
    }
    report.entriesRead.append((StoreSchema.checksums, entries))
  }
}

private func hex(_ value: UInt32) -> String {
  let digits = String(value, radix: 16)
  return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
}

extension StoreWriter {
  /// Rebuilds what the store derives from its items and vectors, in this transaction: the
  /// `names` map from the item records, the live count, checksum records that are missing (for
  /// data that has none) and records of blocks that do not exist. Recorded checksums that do not
  /// match their data are left alone: they report damage to primary data, which no rebuild can
  /// undo.
  ///
  /// - Returns: what was rebuilt, one line each.
  /// - Throws: ``VectorStoreError``.
  public func rebuildDerived() throws -> [String] {
    var done: [String] = []
    let txn = transaction
    // names ← items (records that decode; the first holder of a name keeps it).
    var pairs: [(String, UInt64)] = []
    var claimed = Set<ItemNameKey>()
    let headerBytes = try txn.itemHeaderBytes(in: store.meta)
    _ = try txn.forEachEntry(in: store.items) { current in
      guard let key = BigEndianKey(bytes: current.key),
        String(validating: current.value.dropFirst(headerBytes), as: UTF8.self) != nil,
        let (_, name) = StoreSchema.decodeItem(current.value, headerBytes: headerBytes),
        !name.isEmpty,
        name.utf8.count <= store.engine.maximumKeyBytes,
        claimed.insert(ItemNameKey(name)).inserted
      else { return }
      pairs.append((name, key.value))
    }
    try txn.removeAll(in: store.names)
    for (name, id) in pairs { try txn.put(BigEndianKey(id), forKey: name, in: store.names) }
    done.append("names: \(pairs.count) entries rebuilt from the item records")
    try txn.setMeta(StoreSchema.MetaKey.count, String(pairs.count), in: store.meta)
    done.append("meta count: set to \(pairs.count)")
    done.append(try recordMissingChecksums())
    return done
  }

  /// Records checksums where a block has none and removes records of blocks that do not exist.
  private func recordMissingChecksums() throws -> String {
    let database = try checksumsDatabase()
    let txn = transaction
    let rowBytes = store.dimension * MemoryLayout<Float>.size
    var blocks: [UInt64: UnsafeRawBufferPointer] = [:]
    _ = try txn.forEachEntry(in: store.vectors) { current in
      guard let key = BigEndianKey(bytes: current.key), current.value.count % rowBytes == 0
      else { return }
      blocks[key.value] = current.value
    }
    var stale: [[UInt8]] = []
    _ = try txn.forEachEntry(in: database) { current in
      let key = Array(current.key)
      guard key.count == 9, StoreChecksums.Kind(rawValue: key[0]) != nil,
        let block = BigEndianKey(bytes: UnsafeRawBufferPointer(rebasing: current.key[1...])),
        blocks[block.value] != nil, current.value.count == 4
      else {
        stale.append(key)
        return
      }
    }
    for key in stale { _ = try txn.delete(forKey: key, in: database) }
    var added = 0
    for (block, values) in blocks {
      if try StoreChecksums.recorded(kind: .vectors, block: block, in: database, txn: txn) == nil {
        try StoreChecksums.record(
          StoreChecksums.crc(values), kind: .vectors, block: block, in: database, txn: txn)
        added += 1
      }
      if try StoreChecksums.recorded(kind: .items, block: block, in: database, txn: txn) == nil {
        let checksum = try StoreChecksums.itemsChecksum(
          block: block, rows: store.blockRows, items: store.items, txn: txn)
        try StoreChecksums.record(checksum, kind: .items, block: block, in: database, txn: txn)
        added += 1
      }
      if try StoreChecksums.recorded(kind: .deleted, block: block, in: database, txn: txn) == nil,
        let bitmap = try txn.value(forKey: BigEndianKey(block), in: store.deleted)
      {
        try StoreChecksums.record(
          StoreChecksums.crc(bitmap), kind: .deleted, block: block, in: database, txn: txn)
        added += 1
      }
    }
    return "checksums: \(added) missing records added, \(stale.count) stale or malformed removed"
  }
}
