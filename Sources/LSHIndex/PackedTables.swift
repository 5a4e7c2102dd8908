import StorageBackend
import VectorStore

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A store's hash tables packed for reading: each table as one value of the `lsh.packed`
/// database — its bucket codes in order, where each bucket starts, then every entry, bucket
/// after bucket in the table's own order — searched in place from the memory map.
///
/// The duplicate-sorted tables (`lsh.table.T`) stay the index's record, the one every write
/// keeps in step; finding a bucket there walks LMDB's B-tree and the bucket's sub-database for
/// every bucket a query probes. The packed copy finds it by a binary search over the codes and
/// reads it as one contiguous run, in pages of ``MemoryTables/entriesPerPage(entryBytes:)``
/// entries from the bucket's start (LMDB cuts a table written in one pass nearly alike): a
/// search examines the same entries, in the same order of buckets, and finds the same
/// neighbours, faster (`Benchmarks/results/packed-tables.md`).
///
/// Every build of the index writes the packed copy in its transaction
/// (``LSHIndex/writePackedTables(in:)``); any later change to the tables removes it in the
/// change's transaction, and searches read the tables until the index is built again or a bulk
/// `build` into the store packs them again when it ends (``LSHIndex/packAgain()``). A search
/// uses the copy only when its header names the snapshot's build and its structure checks
/// (``PackedTable/init(value:entryBytes:stamp:entries:checkingBuckets:)``): a damaged copy is
/// never read past its bounds, and `check` reports it.
///
/// The header's stamp (``PackedStamp``) names the build and the store's item counters when the
/// copy was written. A tripindex older than packed copies changes the tables without removing
/// the copy; its inserts advance the next id and its deletes lower the live count, so the stamp
/// tells such a stale copy from a current one even when the table's entry count came back to
/// what it was (an insert and a delete).
///
/// Value layout (integers in the machine's order, as the tables' keys):
///
/// | bytes | content |
/// |---|---|
/// | 8 | `TIPACK02` |
/// | 8 | the build's generation (``LSHIndex/Version``) |
/// | 8 | the build's parameter checksum |
/// | 8 | the store's live items when packed |
/// | 8 | the store's next id when packed |
/// | 8 | bytes per entry |
/// | 8 | B, the buckets |
/// | 8 | E, the entries |
/// | 8 × B | the bucket codes, increasing |
/// | 8 × (B + 1) | where each bucket's entries start (0 first, E last, never decreasing) |
/// | E × entry bytes | the entries |
struct PackedTables: ContiguousBuckets {
  let tables: [PackedTable]
  let entriesPerPage: Int

  var tableCount: Int { tables.count }

  init(tables: [PackedTable], entryBytes: Int) {
    self.tables = tables
    entriesPerPage = MemoryTables.entriesPerPage(entryBytes: entryBytes)
  }

  func bucket(_ table: Int, code: UInt64) -> Range<Int>? {
    let packed = tables[table]
    guard
      let index = ContiguousBucketSearch.firstIndex(
        of: code, count: packed.bucketCount, packed.code)
    else { return nil }
    return packed.start(index)..<packed.start(index + 1)
  }

  func firstByte(_ table: Int, _ position: Int) -> UInt8 {
    tables[table].entries.load(fromByteOffset: position * tables[table].entryBytes, as: UInt8.self)
  }

  func entries(_ table: Int, _ range: Range<Int>) -> UnsafeRawBufferPointer {
    let packed = tables[table]
    return UnsafeRawBufferPointer(
      start: packed.entries + range.lowerBound * packed.entryBytes,
      count: range.count * packed.entryBytes)
  }
}

/// What a packed copy was made from: the build of the index and the state of the store's items
/// (see ``PackedTables``). A copy is read only when its stamp is the snapshot's.
struct PackedStamp: Equatable, CustomStringConvertible {
  /// The build's generation (0 for an index without one).
  var generation: UInt64
  /// The build's parameter checksum (0 for an index without one).
  var checksum: UInt64
  /// The store's live items.
  var itemCount: UInt64
  /// The store's next id.
  var nextID: UInt64

  /// A stamp from its words.
  init(generation: UInt64, checksum: UInt64, itemCount: UInt64, nextID: UInt64) {
    self.generation = generation
    self.checksum = checksum
    self.itemCount = itemCount
    self.nextID = nextID
  }

  /// The stamp of an index build over a store holding `itemCount` items with next id `nextID`.
  init(version: LSHIndex.Version, itemCount: Int, nextID: UInt64) {
    self.init(
      generation: version.generation ?? 0, checksum: UInt64(version.checksum ?? 0),
      itemCount: UInt64(itemCount), nextID: nextID)
  }

  /// The words in header order.
  var words: [UInt64] { [generation, checksum, itemCount, nextID] }

  var description: String {
    "generation \(generation), checksum \(checksum), \(itemCount) items, next id \(nextID)"
  }
}

/// One packed table, a view of its value in the memory map (see ``PackedTables``).
struct PackedTable {
  static let magic: [UInt8] = Array("TIPACK02".utf8)
  /// The magic of the first format (no item counters in its stamp), which is never read.
  static let firstMagic: [UInt8] = Array("TIPACK01".utf8)
  static let headerBytes = 64

  let bucketCount: Int
  let entryCount: Int
  let entryBytes: Int
  private let codes: UnsafeRawPointer
  private let starts: UnsafeRawPointer
  let entries: UnsafeRawPointer

  /// The bytes of a packed table of `buckets` buckets and `entries` entries.
  static func byteCount(buckets: Int, entries: Int, entryBytes: Int) -> Int {
    headerBytes + 8 * buckets + 8 * (buckets + 1) + entries * entryBytes
  }

  /// The stamp a stored value carries, or `nil` when it is not in this format (too short, or
  /// another magic).
  static func stamp(of value: UnsafeRawBufferPointer) -> PackedStamp? {
    guard let base = value.baseAddress, value.count >= headerBytes,
      value.prefix(8).elementsEqual(magic)
    else { return nil }
    func word(_ index: Int) -> UInt64 {
      base.loadUnaligned(fromByteOffset: 8 + 8 * index, as: UInt64.self)
    }
    return PackedStamp(generation: word(0), checksum: word(1), itemCount: word(2), nextID: word(3))
  }

  /// A view of a stored value, or `nil` when it is not a sound, current packed table: another
  /// stamp, a wrong header or size, codes out of order, starts out of order or out of bounds,
  /// or another number of entries than the table holds.
  ///
  /// - Parameters:
  ///   - value: the stored value (any alignment; it must outlive the view).
  ///   - entryBytes: the index's bytes per entry.
  ///   - stamp: the build and item counters the value must have been packed from.
  ///   - entries: the entries the table holds.
  ///   - checkingBuckets: check every bucket's code and bounds (O(B)); `false` only for a
  ///     value checked before in a snapshot of the same committed state (the same bytes).
  /// - Complexity: O(B), O(1) without `checkingBuckets`.
  init?(
    value: UnsafeRawBufferPointer, entryBytes: Int, stamp: PackedStamp, entries: Int,
    checkingBuckets: Bool = true
  ) {
    guard let base = value.baseAddress, Self.stamp(of: value) == stamp else { return nil }
    func word(_ offset: Int) -> UInt64 {
      base.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
    }
    guard word(40) == UInt64(entryBytes), word(48) < UInt64(value.count),
      word(56) == UInt64(entries)
    else { return nil }
    let buckets = Int(word(48))
    guard
      value.count
        == Self.byteCount(buckets: buckets, entries: entries, entryBytes: entryBytes)
    else { return nil }
    bucketCount = buckets
    entryCount = entries
    self.entryBytes = entryBytes
    codes = base + Self.headerBytes
    starts = codes + 8 * buckets
    self.entries = starts + 8 * (buckets + 1)
    guard starts.loadUnaligned(as: UInt64.self) == 0,
      starts.loadUnaligned(fromByteOffset: 8 * buckets, as: UInt64.self) == UInt64(entries)
    else { return nil }
    for bucket in 0..<(checkingBuckets ? buckets : 0) {
      let first = starts.loadUnaligned(fromByteOffset: 8 * bucket, as: UInt64.self)
      let next = starts.loadUnaligned(fromByteOffset: 8 * (bucket + 1), as: UInt64.self)
      guard first < next,
        bucket == 0
          || codes.loadUnaligned(fromByteOffset: 8 * (bucket - 1), as: UInt64.self)
            < codes.loadUnaligned(fromByteOffset: 8 * bucket, as: UInt64.self)
      else { return nil }
    }
  }

  /// The first way this packed table differs from `table` as `transaction` holds it (a bucket
  /// code, a bucket's size, or an entry's bytes), or `nil` when it is a copy of it.
  func difference(from table: StorageTable, in transaction: some StorageReading) throws -> String? {
    try transaction.withCursor(in: table) { cursor in
      var bucket = 0
      var problem: String?
      try cursor.forEachKey { current in
        let code = IntegerKey(bytes: current.key)?.value
        guard bucket < bucketCount, code == self.code(bucket) else {
          problem = "bucket \(bucket) has another code than the table's \(bucket)th"
          return false
        }
        guard try cursor.duplicateCount() == start(bucket + 1) - start(bucket) else {
          problem = "bucket \(self.code(bucket)) holds another number of entries than the table's"
          return false
        }
        var offset = start(bucket) * entryBytes
        try cursor.forEachDuplicatesPage { values in
          guard let source = values.baseAddress else { return false }
          guard offset + values.count <= start(bucket + 1) * entryBytes,
            memcmp(entries + offset, source, values.count) == 0
          else {
            problem = "bucket \(self.code(bucket)) holds other entries than the table's"
            return false
          }
          offset += values.count
          return true
        }
        bucket += 1
        return problem == nil
      }
      return problem ?? (bucket == bucketCount ? nil : "holds buckets the table does not")
    }
  }

  /// The code of bucket `index`.
  @inline(__always)
  func code(_ index: Int) -> UInt64 {
    codes.loadUnaligned(fromByteOffset: 8 * index, as: UInt64.self)
  }

  /// Where bucket `index`'s entries start (`bucketCount`: the end).
  @inline(__always)
  func start(_ index: Int) -> Int {
    Int(truncatingIfNeeded: starts.loadUnaligned(fromByteOffset: 8 * index, as: UInt64.self))
  }
}

extension LSHIndex {
  /// The database of the packed tables.
  public static let packedName = "lsh.packed"
  /// Its layout: one value per table, keyed by the table's number.
  static let packedLayout: TableLayout = [.integerKeys]

  /// Packs every table as the transaction holds it (see ``PackedTables``), replacing any packed
  /// copy: two walks of each table, the codes first, then the entries copied straight into the
  /// value reserved for them.
  ///
  /// - Parameter writer: the transaction that wrote the tables (or, for `check --repair`, a
  ///   transaction after the tables were found sound).
  /// - Throws: ``VectorStoreError``.
  public func writePackedTables(in writer: StoreWriter) throws {
    guard let packedTable else { return }
    let transaction = writer.transaction
    let stamp = try packedStamp(in: writer)
    try transaction.removeAll(in: packedTable)
    let entryBytes = encoder.coder.entryBytes
    for (table, storage) in bucketTables.enumerated() {
      var codes: [UInt64] = []
      var starts: [UInt64] = [0]
      try transaction.withCursor(in: storage) { cursor in
        try cursor.forEachKey { current in
          guard let code = IntegerKey(bytes: current.key)?.value else {
            throw LSHError(.unreadableTable, "table \(table) holds a key that is not a bucket code")
          }
          codes.append(code)
          starts.append(starts[starts.count - 1] + UInt64(try cursor.duplicateCount()))
          return true
        }
      }
      let entries = Int(starts[starts.count - 1])
      try transaction.putReserving(
        byteCount: PackedTable.byteCount(
          buckets: codes.count, entries: entries, entryBytes: entryBytes),
        forKey: IntegerKey(UInt64(table)), in: packedTable
      ) { value in
        guard let base = value.baseAddress else { return }
        func put(_ word: UInt64, at offset: Int) {
          base.storeBytes(of: word, toByteOffset: offset, as: UInt64.self)
        }
        base.copyMemory(from: PackedTable.magic, byteCount: 8)
        var offset = 8
        let header = stamp.words + [UInt64(entryBytes), UInt64(codes.count), UInt64(entries)]
        for word in [header, codes, starts].joined() {
          put(word, at: offset)
          offset += 8
        }
        try transaction.withCursor(in: storage) { cursor in
          try cursor.forEachKey { _ in
            try cursor.forEachDuplicatesPage { values in
              guard let source = values.baseAddress else { return false }
              guard offset + values.count <= value.count else {
                throw LSHError(.unreadableTable, "table \(table) changed while it was packed")
              }
              (base + offset).copyMemory(from: source, byteCount: values.count)
              offset += values.count
              return true
            }
            return true
          }
        }
        guard offset == value.count else {
          throw LSHError(.unreadableTable, "table \(table) changed while it was packed")
        }
      }
    }
  }

  /// Packs the tables again, in one write transaction, when changes since the index was built
  /// removed the packed copy (a bulk `build` into an indexed store does it when it ends) or left
  /// it stale (``PackedStamp``). Does nothing when every table's copy carries the current stamp,
  /// the store has no database for the copy (an index built before packed copies), or another
  /// process rebuilt the index meanwhile.
  ///
  /// - Returns: whether the tables were packed.
  /// - Throws: ``VectorStoreError``.
  @discardableResult
  public func packAgain() throws -> Bool {
    guard let packedTable else { return false }
    return try store.write { writer in
      guard try isCurrent(in: writer) else { return false }
      let transaction = writer.transaction
      let stamp = try packedStamp(in: writer)
      let packedCount = try transaction.entryCount(in: packedTable)
      let current = try (0..<bucketTables.count).allSatisfy { table in
        try transaction.value(forKey: IntegerKey(UInt64(table)), in: packedTable).flatMap(
          PackedTable.stamp(of:)) == stamp
      }
      if current && packedCount == bucketTables.count { return false }
      try writePackedTables(in: writer)
      return true
    }
  }

  /// The stamp a packed copy of this build carries when packed in `writer`'s transaction.
  func packedStamp(in writer: StoreWriter) throws -> PackedStamp {
    PackedStamp(version: version, itemCount: try writer.count(), nextID: try writer.nextID())
  }

  /// The stamp a packed copy must carry to be read in `snapshot`.
  func packedStamp(in snapshot: StoreSnapshot) -> PackedStamp {
    PackedStamp(version: version, itemCount: snapshot.count, nextID: snapshot.nextID)
  }

  /// Whether the store has a database for the packed copy (an index built before packed copies
  /// has none, and is searched through its tables).
  public var keepsPackedCopy: Bool { packedTable != nil }

  /// Whether changes since the index was built removed its packed copy, so that searches read
  /// the tables (`false` for an index without a database for the copy).
  public func packedCopyIsRemoved() throws -> Bool {
    guard let packedTable else { return false }
    return try store.read { try $0.transaction.entryCount(in: packedTable) } == 0
  }

  /// Removes the packed copy of the tables, if any, before a change to them (the change's
  /// transaction).
  func removePackedTables(in writer: StoreWriter) throws {
    guard let packedTable, try writer.transaction.entryCount(in: packedTable) > 0 else { return }
    try writer.transaction.removeAll(in: packedTable)
  }

  /// The packed copy of the tables as `snapshot` holds it, when it is whole, sound and of this
  /// build (see ``PackedTable``); `nil` otherwise (the tables are read instead). Every bucket is
  /// checked once per committed state (``StoreSnapshot/key``): a server's searches in an
  /// unchanged store check only the headers and sizes, O(L).
  func packedTables(in snapshot: StoreSnapshot) throws -> PackedTables? {
    guard let packedTable else { return nil }
    let transaction = snapshot.transaction
    let checked = snapshot.key != nil && packedTablesChecked.withLock { $0 } == snapshot.key
    let stamp = packedStamp(in: snapshot)
    var tables: [PackedTable] = []
    for (table, storage) in bucketTables.enumerated() {
      guard let value = try transaction.value(forKey: IntegerKey(UInt64(table)), in: packedTable),
        let packed = PackedTable(
          value: value, entryBytes: encoder.coder.entryBytes, stamp: stamp,
          entries: try transaction.entryCount(in: storage), checkingBuckets: !checked)
      else { return nil }
      tables.append(packed)
    }
    if !checked, let key = snapshot.key { packedTablesChecked.withLock { $0 = key } }
    return PackedTables(tables: tables, entryBytes: encoder.coder.entryBytes)
  }
}
