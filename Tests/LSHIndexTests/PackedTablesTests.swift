import Foundation
import StorageBackend
import Synchronization
import TestSupport
import Testing
import VectorMath
import VectorStore

@testable import LSHIndex

/// The packed copy of an index's tables (``PackedTables``): what a build writes, how searches
/// read it, when it is removed, and that a damaged one is never read.
@Suite struct PackedTablesTests {
  /// Small buckets (inline in LMDB), crowded ones of many pages, a cap on the entries read.
  static let settings = [
    LSHConfiguration(family: .pstable, tables: 6, hashesPerTable: 5, probes: 3, candidateBudget: 0),
    LSHConfiguration(
      family: .pstable, tables: 2, hashesPerTable: 1, bucketWidth: 1e4, probes: 2,
      candidateBudget: 0),
    LSHConfiguration(
      family: .pstable, tables: 4, hashesPerTable: 4, probes: 4, candidateBudget: 300),
  ]

  /// The searcher over the tables themselves, as a store without a packed copy is searched.
  static func searchTables(
    _ index: LSHIndex, _ probes: Matrix, k: Int, in snapshot: StoreSnapshot
  ) throws -> [LSHSearchResult] {
    try LSHSearcher(
      encoder: index.encoder, source: snapshot,
      tables: .mapped(index.bucketTables, snapshot.transaction)
    ).search(probes, k: k)
  }

  @Test("a build packs its tables, and the packed search reads the same entries, answering alike")
  func packedSearchAgrees() throws {
    let directory = TemporaryDirectory()
    let (store, _) = try clusteredStore(directory, rows: 4000, metric: .l2)
    let probes = freshProbes(80, after: 4000)
    for configuration in Self.settings {
      let index = try LSHIndex.build(on: store, configuration: configuration)
      try store.read { snapshot in
        let packed = try #require(try index.packedTables(in: snapshot))
        #expect(
          packed.tables.map(\.entryCount)
            == Array(repeating: 4000, count: index.configuration.tables))
        let searcher = try index.searcher(in: snapshot)
        guard case .packed = searcher.tables else {
          Issue.record("a freshly built index is not searched through its packed tables")
          return
        }
        let fromPacked = try searcher.search(probes, k: 10)
        let fromTables = try Self.searchTables(index, probes, k: 10, in: snapshot)
        // The same entries examined, the same neighbours at the same distances (pages may be
        // cut elsewhere, which can only reorder exact distances among ties).
        #expect(fromPacked.map(\.candidates) == fromTables.map(\.candidates))
        #expect(fromPacked.map(\.bucketsRead) == fromTables.map(\.bucketsRead))
        for (a, b) in zip(fromPacked, fromTables) {
          #expect(a.neighbors.map(\.distance) == b.neighbors.map(\.distance))
        }
        #expect(try index.checkPackedTables(in: snapshot) == nil)
      }
    }
  }

  @Test("a change to the tables removes the packed copy in its transaction; a rebuild packs again")
  func changesRemoveThePackedCopy() throws {
    let directory = TemporaryDirectory()
    let (store, _) = try clusteredStore(directory, rows: 1500, metric: .l2)
    let configuration = LSHConfiguration(family: .pstable, tables: 4, hashesPerTable: 4)
    var index = try LSHIndex.build(on: store, configuration: configuration)
    let packedTable = try #require(index.packedTable)
    func packedCount() throws -> Int {
      try store.read { try $0.transaction.entryCount(in: packedTable) }
    }
    #expect(try packedCount() == 4)
    let point = [Float](repeating: 0.25, count: 24)
    try point.withUnsafeBufferPointer { values in
      _ = try store.write { writer in
        try writer.upsert(names: ["added"], labels: [.none], vectors: values)
      }
    }
    #expect(try packedCount() == 0)
    try store.read { snapshot in
      #expect(try index.packedTables(in: snapshot) == nil)
      let searcher = try index.searcher(in: snapshot)
      guard case .mapped = searcher.tables else {
        Issue.record("a changed index is not searched through its tables")
        return
      }
      // The item added is found: the tables, not a stale copy, were read.
      let probe = Matrix(rows: 1, columns: 24, values: point)
      let found = try searcher.search(probe, k: 1)[0].neighbors
      #expect(try found.first?.id == snapshot.id(named: "added"))
    }
    // Packed again in a transaction of its own, as a bulk build does when it ends.
    #expect(try index.packAgain())
    #expect(try packedCount() == 4)
    #expect(try !index.packAgain(), "nothing to do: the copy is current")
    let repacked = try store.read { snapshot in
      (try index.packedTables(in: snapshot) != nil, try index.checkPackedTables(in: snapshot))
    }
    #expect(repacked.0 && repacked.1 == nil, "\(repacked)")
    index = try LSHIndex.build(on: store, configuration: configuration)
    #expect(try packedCount() == 4)
    _ = try store.write { writer in try writer.delete(name: "v10") }
    #expect(try packedCount() == 0)
    // Dropping the index empties the packed copy's database with the rest.
    index = try LSHIndex.build(on: store, configuration: configuration)
    try LSHIndex.drop(from: store)
    #expect(try packedCount() == 0)
  }

  @Test(
    "a damaged packed copy is never read (searches read the tables) and check reports it",
    arguments: PackedDamage.allCases)
  func damagedCopyIsNotRead(damage: PackedDamage) throws {
    let directory = TemporaryDirectory()
    let (store, _) = try clusteredStore(directory, rows: 2000, metric: .l2)
    let index = try LSHIndex.build(
      on: store,
      configuration: LSHConfiguration(family: .pstable, tables: 3, hashesPerTable: 5, probes: 2))
    let packedTable = try #require(index.packedTable)
    // Found sound first: the check is remembered for this committed state only, so the damage
    // written next (a new state) is checked again.
    let sound = try store.read { snapshot in
      (try index.packedTables(in: snapshot) != nil, snapshot.key)
    }
    #expect(sound.0 && sound.1 != nil && index.packedTablesChecked.withLock { $0 } == sound.1)
    try store.write { writer in
      let transaction = writer.transaction
      var bytes = Array(
        try #require(try transaction.value(forKey: IntegerKey(1), in: packedTable)))
      damage.apply(to: &bytes, entryBytes: index.encoder.coder.entryBytes)
      if bytes.isEmpty {
        _ = try transaction.delete(forKey: IntegerKey(1), in: packedTable)
      } else {
        try transaction.put(bytes, forKey: IntegerKey(1), in: packedTable)
      }
    }
    let probes = freshProbes(40, after: 2000)
    try store.read { snapshot in
      // Entries altered in place keep a sound structure: only check can tell (it compares).
      if damage != .entryBytes {
        #expect(try index.packedTables(in: snapshot) == nil)
        let fromSearcher = try index.searcher(in: snapshot).search(probes, k: 10)
        let fromTables = try Self.searchTables(index, probes, k: 10, in: snapshot)
        #expect(fromSearcher.map(\.neighbors) == fromTables.map(\.neighbors))
      }
    }
    let found = try LSHIndex.check(store)
    #expect(found.count == 1 && found.first?.database == LSHIndex.packedName, "\(found)")
    #expect(found.allSatisfy { $0.isDerived })
  }

  @Test("an older tool's stale copy (entry counts back as they were) is never read; check says so")
  func staleCopyFromAnOlderToolIsNotRead() throws {
    let directory = TemporaryDirectory()
    let (store, _) = try clusteredStore(directory, rows: 1500, metric: .l2)
    let index = try LSHIndex.build(
      on: store, configuration: LSHConfiguration(family: .pstable, tables: 3, hashesPerTable: 4))
    let packedTable = try #require(index.packedTable)
    // A copy left by a tripindex older than packed copies: an insert and a delete leave every
    // table's entry count as it was. It is never read, check calls it stale, packAgain replaces it.
    let saved = try store.read { snapshot in
      try (0..<3).map { table in
        Array(
          try #require(
            try snapshot.transaction.value(forKey: IntegerKey(UInt64(table)), in: packedTable)))
      }
    }
    // What an older tool does: it changes the tables (an item in, another out) and leaves the
    // packed copy as it was. Here the change removes the copy, which is then put back as it was.
    let point = [Float](repeating: 0.25, count: 24)
    try point.withUnsafeBufferPointer { values in
      try store.write { writer in
        try writer.upsert(names: ["added"], labels: [.none], vectors: values)
        _ = try writer.delete(name: "v10")
        for (table, bytes) in saved.enumerated() {
          try writer.transaction.put(bytes, forKey: IntegerKey(UInt64(table)), in: packedTable)
        }
      }
    }
    try store.read { snapshot in
      #expect(try index.packedTables(in: snapshot) == nil)
      let probe = Matrix(rows: 1, columns: 24, values: point)
      let found = try index.searcher(in: snapshot).search(probe, k: 1)[0].neighbors
      #expect(try found.first?.id == snapshot.id(named: "added"))
    }
    let found = try LSHIndex.check(store)
    #expect(found.count == 1 && found.first?.database == LSHIndex.packedName, "\(found)")
    #expect(found.first?.problem.hasPrefix("stale: packed when the store held 1500 items") == true)
    #expect(found.allSatisfy { $0.isDerived })
    #expect(try index.packAgain(), "a stale copy is replaced")
    #expect(try LSHIndex.check(store).isEmpty)
    #expect(try store.read { snapshot in try index.packedTables(in: snapshot) } != nil)

    // A copy in the first format (no item counters) is never read either.
    try store.write { writer in
      var bytes = Array(
        try #require(try writer.transaction.value(forKey: IntegerKey(0), in: packedTable)))
      bytes.replaceSubrange(0..<8, with: PackedTable.firstMagic)
      try writer.transaction.put(bytes, forKey: IntegerKey(0), in: packedTable)
    }
    #expect(try store.read { snapshot in try index.packedTables(in: snapshot) } == nil)
    let older = try LSHIndex.check(store)
    #expect(older.first?.problem.hasPrefix("written by an older tripindex") == true, "\(older)")
  }

  @Test("a packed value parses at any alignment, and each kind of unsound value is refused")
  func parsing() throws {
    let entryBytes = 3
    let codes: [UInt64] = [5, 9, 200]
    let starts: [UInt64] = [0, 2, 3, 6]
    let stamp = PackedStamp(generation: 77, checksum: 5, itemCount: 6, nextID: 9)
    var value = PackedTable.magic
    for word in stamp.words + [UInt64(entryBytes), UInt64(codes.count), UInt64(6)] + codes + starts
    {
      withUnsafeBytes(of: word) { value += $0 }
    }
    value += (0..<18).map { UInt8($0) }
    /// What a view of `bytes` (placed `offset` bytes into a buffer) reads: the codes and starts,
    /// or `nil` when the value is refused. The view is read while its buffer lives.
    func parse(_ bytes: [UInt8], offset: Int = 0, stamp: PackedStamp = stamp, entries: Int = 6)
      -> (codes: [UInt64], starts: [Int])?
    {
      let padded = [UInt8](repeating: 0, count: offset) + bytes
      return padded.withUnsafeBytes { raw in
        PackedTable(
          value: UnsafeRawBufferPointer(rebasing: raw[offset...]), entryBytes: entryBytes,
          stamp: stamp, entries: entries
        ).map { packed in
          ((0..<packed.bucketCount).map(packed.code), (0...packed.bucketCount).map(packed.start))
        }
      }
    }
    for offset in 0..<8 {
      let read = try #require(parse(value, offset: offset))
      #expect(read.codes == codes)
      #expect(read.starts == [0, 2, 3, 6])
    }
    for other in [
      PackedStamp(generation: 78, checksum: 5, itemCount: 6, nextID: 9),
      PackedStamp(generation: 77, checksum: 6, itemCount: 6, nextID: 9),
      PackedStamp(generation: 77, checksum: 5, itemCount: 5, nextID: 9),
      PackedStamp(generation: 77, checksum: 5, itemCount: 6, nextID: 10),
    ] {
      #expect(parse(value, stamp: other) == nil, "\(other)")
    }
    var firstFormat = value
    firstFormat.replaceSubrange(0..<8, with: PackedTable.firstMagic)
    #expect(parse(firstFormat) == nil)
    #expect(parse(value, entries: 7) == nil)
    #expect(parse(Array(value.dropLast())) == nil)
    var badMagic = value
    badMagic[0] = 0
    #expect(parse(badMagic) == nil)
    var unordered = value
    unordered[PackedTable.headerBytes + 8] = 4  // code 4 after 5
    #expect(parse(unordered) == nil)
    var emptyBucket = value
    emptyBucket[PackedTable.headerBytes + 8 * 3 + 8] = 0  // bucket 0 ends where it starts
    #expect(parse(emptyBucket) == nil)
    var hugeCount = value
    hugeCount[55] = 0x7f  // B beyond the value
    #expect(parse(hugeCount) == nil)
  }
}

/// Ways a packed table's value is damaged in the tests.
enum PackedDamage: CaseIterable, CustomTestStringConvertible, Sendable {
  case missing, truncated, header, starts, entryBytes

  var testDescription: String { "\(self)" }

  func apply(to bytes: inout [UInt8], entryBytes: Int) {
    switch self {
    case .missing: bytes = []
    case .truncated: bytes.removeLast(entryBytes)
    case .header: bytes[8] ^= 1  // another build's generation
    case .starts:
      // The second bucket's start beyond the entries.
      let buckets = Int(bytes[48]) | Int(bytes[49]) << 8 | Int(bytes[50]) << 16
      let offset = PackedTable.headerBytes + 8 * buckets + 8
      bytes[offset + 6] = 0x40
    case .entryBytes: bytes[bytes.count - 1] ^= 0xff
    }
  }
}
