import CKernels
import Foundation
import StorageBackend
import StorageEngines
import TestSupport
import Testing
import VectorIO
import VectorMath

@testable import VectorStore

/// Damage is reported with the database and key, never read as data; checksums are kept in
/// step by every write; what is derived can be rebuilt.
@Suite struct StoreIntegrityTests {
  /// A 64-d store of `rows` items (three blocks of 1,024), one of them deleted.
  private func makeStore(_ directory: TemporaryDirectory, rows: Int = 2500) throws -> VectorStore {
    let store = try VectorStore.openOrCreate(
      path: directory.file("s.lmdb"), dimension: 64, metric: .l2)
    let matrix = Fixtures.randomMatrix(rows: rows, columns: 64, seed: 3)
    try matrix.values.withUnsafeBufferPointer { values in
      _ = try store.write { writer in
        try writer.upsert(
          names: (0..<rows).map { "item-\($0)" },
          labels: (0..<rows).map { ItemLabels(pid: Int32($0 % 5), camera: 1) }, vectors: values)
      }
    }
    try store.write { writer in _ = try writer.delete(name: "item-3") }
    return store
  }

  /// Writes raw bytes under a key, bypassing the store (and its checksums).
  private func overwrite(
    _ store: VectorStore, database name: String, key: some StorageBytes,
    _ change: (inout [UInt8]) -> Void
  ) throws {
    let database = try store.engine.table(named: name, layout: [], creating: false)
    try store.engine.write { txn in
      var bytes = Array(try #require(try txn.value(forKey: key, in: database)))
      change(&bytes)
      try txn.put(bytes, forKey: key, in: database)
    }
  }

  @Test("CRC32C has the standard check value, in hardware and with tables, at every length")
  func crc32c() {
    #expect(tripindex_crc32c(0, "123456789", 9) == 0xE306_9283)
    var random = SeededRandom(seed: 5)
    let bytes = (0..<1000).map { _ in UInt8(truncatingIfNeeded: random.next()) }
    for length in [0, 1, 7, 8, 9, 63, 64, 65, 999, 1000] {
      let hardware = tripindex_crc32c(0, bytes, length)
      #expect(hardware == tripindex_crc32c_portable(0, bytes, length), "length \(length)")
      // Continuing from a prefix's checksum gives the whole one.
      let split = length / 3
      let continued = bytes.withUnsafeBytes { raw in
        tripindex_crc32c(
          tripindex_crc32c(0, raw.baseAddress, split), raw.baseAddress! + split, length - split)
      }
      #expect(continued == hardware)
    }
  }

  @Test("a sound store checks sound after inserts, updates and deletes")
  func soundStore() throws {
    let directory = TemporaryDirectory()
    let store = try makeStore(directory)
    // An update (new vector and labels) and more deletes.
    let vector = [Float](repeating: 0.5, count: 64)
    try vector.withUnsafeBufferPointer { values in
      _ = try store.write { writer in
        try writer.upsert(
          names: ["item-10"], labels: [ItemLabels(pid: 9, camera: 2)], vectors: values)
      }
    }
    try store.write { writer in
      _ = try writer.delete(name: "item-600")
      _ = try writer.delete(name: "item-0")
    }
    let report = try store.check()
    #expect(report.damage.isEmpty, "\(report.damage)")
    #expect(report.entriesRead.first { $0.database == "items" }?.entries == 2497)
  }

  @Test("a changed byte in a vector block is a checksum mismatch naming the block")
  func vectorBlockDamage() throws {
    let directory = TemporaryDirectory()
    let store = try makeStore(directory)
    let block = UInt64(store.blockRows)
    try overwrite(store, database: "vectors", key: BigEndianKey(block)) { $0[100] ^= 0x10 }
    let damage = try store.check().damage
    #expect(damage.count == 1, "\(damage)")
    #expect(damage.first?.database == "vectors")
    #expect(damage.first?.key == "block \(block)")
    #expect(damage.first?.problem.contains("checksum mismatch") == true)
    #expect(damage.first?.isDerived == false)
  }

  @Test(
    "a stored value that is not finite, or a norm past the limit, is reported naming the id (beside the checksum mismatch)",
    arguments: [(Float.nan, "is not finite"), (Float(1e30), "its norm is")])
  func invalidStoredValue(value: Float, expected: String) throws {
    let directory = TemporaryDirectory()
    let store = try makeStore(directory)
    let block = UInt64(store.blockRows)
    // Row 2 of the second block, value 5.
    try overwrite(store, database: "vectors", key: BigEndianKey(block)) { bytes in
      withUnsafeBytes(of: value.bitPattern.littleEndian) { raw in
        for (offset, byte) in raw.enumerated() { bytes[(2 * 64 + 5) * 4 + offset] = byte }
      }
    }
    let damage = try store.check().damage
    let invalid = damage.filter { $0.problem.contains("the vector is invalid") }
    #expect(invalid.count == 1, "\(damage)")
    #expect(invalid.first?.key == "id \(block + 2)")
    #expect(invalid.first?.problem.contains(expected) == true, "\(invalid)")
    #expect(damage.contains { $0.problem.contains("checksum mismatch") })
  }

  @Test("a changed item record is found by its block checksum")
  func itemDamage() throws {
    let directory = TemporaryDirectory()
    let store = try makeStore(directory)
    try overwrite(store, database: "items", key: BigEndianKey(7)) { $0[0] ^= 0x01 }  // pid
    let damage = try store.check().damage
    #expect(damage.contains { $0.database == "items" && $0.problem.contains("checksum mismatch") })
  }

  @Test("a vector block of the wrong size is refused on read, naming the block")
  func blockSize() throws {
    let directory = TemporaryDirectory()
    let store = try makeStore(directory)
    try overwrite(store, database: "vectors", key: BigEndianKey(0)) { $0.removeLast(256) }
    let error = storeError { _ = try store.read { $0.count } }
    #expect(error?.kind == .damaged)
    #expect(error?.message.contains("vector block 0") == true, "\(String(describing: error))")
    #expect(try store.check().damage.contains { $0.database == "vectors" && $0.key == "block 0" })
  }

  @Test(
    "a damaged meta dimension or block size is refused when the store opens",
    arguments: ["128", "32", "-4", "x", String(1 << 40)])
  func metaDimension(value: String) throws {
    let directory = TemporaryDirectory()
    let path = try makeStore(directory).path
    // A separate process would open it afresh; here the environment is reopened.
    try writeMeta(path: path, key: "dimension", value: value)
    let error = storeError { _ = try VectorStore.open(path: path) }
    #expect(error?.kind == .damaged, "\(String(describing: error))")
  }

  @Test(
    "damaged counters are refused with both values",
    arguments: [("count", "-5"), ("next_id", "10"), ("count", "100000")])
  func metaCounters(key: String, value: String) throws {
    let directory = TemporaryDirectory()
    let path = try makeStore(directory).path
    try writeMeta(path: path, key: key, value: value)
    let store = try VectorStore.open(path: path, readOnly: true)
    let error = storeError { _ = try store.read { $0.count } }
    #expect(error?.kind == .damaged, "\(String(describing: error))")
  }

  /// Changes a meta key of a closed store, through its engine opened afresh.
  private func writeMeta(path: String, key: String, value: String) throws {
    let environment = try StoreLocations.open(at: path, readOnly: false)
    let meta = try environment.table(named: "meta", layout: [], creating: false)
    try environment.write { txn in try txn.put(value, forKey: key, in: meta) }
  }

  @Test("a data file cut short is refused before it is mapped, with both sizes")
  func truncatedFile() throws {
    let directory = TemporaryDirectory()
    let path = try makeStore(directory).path
    let file = path + "/data.mdb"
    let size = try #require(try FileManager.default.attributesOfItem(atPath: file)[.size] as? Int)
    // Copy, so the environment still open in this process is not the one read.
    let copy = directory.file("cut.lmdb")
    try FileManager.default.createDirectory(atPath: copy, withIntermediateDirectories: true)
    let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
    for cut in [8192, size / 2, size - 4096] {
      try bytes.prefix(cut).write(to: URL(fileURLWithPath: copy + "/data.mdb"))
      let error = storeError { _ = try VectorStore.open(path: copy, readOnly: true) }
      #expect(error?.kind == .damaged)
      #expect(
        error?.message.contains("data.mdb is shorter than its own index says (\(cut) bytes, needs")
          == true,
        "\(String(describing: error))")
    }
    try bytes.prefix(100).write(to: URL(fileURLWithPath: copy + "/data.mdb"))
    #expect(storeError { _ = try VectorStore.open(path: copy, readOnly: true) }?.kind == .notAStore)
  }

  @Test("names, count and checksum records are rebuilt by a repair; damaged data is not laundered")
  func repairDerived() throws {
    let directory = TemporaryDirectory()
    let store = try makeStore(directory)
    let names = try store.engine.table(named: "names", layout: [], creating: false)
    let meta = try store.engine.table(named: "meta", layout: [], creating: false)
    let checksums = try store.engine.table(named: "checksums", layout: [], creating: false)
    try store.engine.write { txn in
      _ = try txn.delete(forKey: "item-5", in: names)
      try txn.put(BigEndianKey(9), forKey: "stray", in: names)
      try txn.put("42", forKey: "count", in: meta)
      _ = try txn.delete(forKey: [0x76] + [UInt8](repeating: 0, count: 8), in: checksums)
    }
    try overwrite(store, database: "vectors", key: BigEndianKey(UInt64(store.blockRows))) {
      $0[8] ^= 1
    }
    let before = try store.check().damage
    #expect(before.contains { $0.database == "names" && $0.key == "name 'item-5'" && $0.isDerived })
    #expect(before.contains { $0.database == "names" && $0.key == "name 'stray'" })
    #expect(before.contains { $0.database == "meta" && $0.key == "count" })
    #expect(
      before.contains {
        $0.database == "vectors" && $0.key == "block 0" && $0.problem == "has no checksum"
      })
    let lines = try store.write { try $0.rebuildDerived() }
    #expect(lines.count == 3)
    let after = try store.check().damage
    // Only the damaged block remains: its checksum still disagrees with its data.
    #expect(after.count == 1, "\(after)")
    #expect(after.first?.key == "block \(store.blockRows)")
    #expect(after.first?.isDerived == false)
  }

  @Test(
    "a store of schema 1 (no checksums) or 2 (no groups) is read as it is and upgraded in one transaction when opened for writing",
    arguments: [1, 2])
  func upgrade(from schema: Int) throws {
    let directory = TemporaryDirectory()
    let store = try makeStore(directory)
    let path = store.path
    // Rewrite the store as that schema wrote it: 8-byte item headers (pid, camera).
    try store.write { writer in
      let txn = writer.transaction
      var records: [(UInt64, [UInt8])] = []
      _ = try txn.forEachEntry(in: store.items) { current in
        let id = try #require(BigEndianKey(bytes: current.key)).value
        records.append((id, Array(current.value[0..<8]) + Array(current.value[12...])))
      }
      for (id, record) in records { try txn.put(record, forKey: BigEndianKey(id), in: store.items) }
      try txn.put(String(schema), forKey: "schema", in: store.meta)
      try writer.recordAllChecksums()
      if schema == 1 { try txn.removeAll(in: try writer.checksumsDatabase()) }
    }
    let readOnly = try VectorStore.open(path: path, readOnly: true)
    #expect(readOnly.schemaVersion == schema)
    let report = try readOnly.check()
    #expect(report.damage.isEmpty, "\(report.damage)")
    if schema == 1 {
      #expect(
        !report.hasChecksums
          || report.entriesRead.contains { $0.database == "checksums" && $0.entries == 0 })
    }
    func items(_ store: VectorStore) throws -> [StoredItem] {
      var found: [StoredItem] = []
      try store.read { snapshot in try snapshot.forEachItem { item, _ in found.append(item) } }
      return found
    }
    let before = try items(readOnly)
    #expect(before.count == 2499)
    #expect(before.first?.name == "item-0")
    #expect(before.first?.labels == ItemLabels(pid: 0, camera: 1))
    let upgraded = try VectorStore.open(path: path)
    #expect(upgraded.schemaVersion == 3)
    #expect(try upgraded.metadata("schema") == "3")
    #expect(try items(upgraded) == before)
    let after = try upgraded.check()
    #expect(after.hasChecksums && after.damage.isEmpty, "\(after.damage)")
    // Groups are kept from now on.
    try [Float](repeating: 1, count: 64).withUnsafeBufferPointer { vector in
      _ = try upgraded.write { writer in
        try writer.upsert(
          names: ["grouped"], labels: [ItemLabels(pid: 9, camera: 2, group: 7)], vectors: vector)
      }
    }
    #expect(try items(upgraded).last?.labels == ItemLabels(pid: 9, camera: 2, group: 7))
    #expect(try upgraded.check().damage.isEmpty)
  }

  @Test(
    "a write that fills the map grows it (which may move it) before it commits, or without committing at all: snapshots after that read the vectors where they now are, not through the layout of the old map"
  )
  func layoutAfterMapGrowth() throws {
    let directory = TemporaryDirectory()
    let store = try makeStore(directory, rows: 600)
    let expected = Fixtures.randomMatrix(rows: 600, columns: 64, seed: 3)
    /// The block pointers a snapshot uses, and those a walk of its transaction finds now.
    func pointers() throws -> (used: [UnsafePointer<Float>], walked: [UnsafePointer<Float>]) {
      try store.read { snapshot in
        let walked = try SnapshotLayout(store: store, transaction: snapshot.transaction, key: nil)
        return (snapshot.blocks.map(\.values), walked.blocks.map(\.values))
      }
    }
    let before = try pointers()  // the layout is now kept for this snapshot
    #expect(before.used == before.walked)
    let generation = store.engine.mappingGeneration
    // 80 MiB of metadata overflows the 64 MiB map: the write grows it and runs again, and then
    // gives up, so the store's snapshot stays the one whose layout is kept.
    let filler = String(repeating: "x", count: 80 << 20)
    struct GivenUp: Error {}
    var attempts = 0
    #expect(throws: GivenUp.self) {
      try store.write { writer in
        attempts += 1
        if attempts > 1 { throw GivenUp() }
        try writer.setMetadata("filler", filler)
      }
    }
    #expect(attempts == 2)
    #expect(store.engine.mappingGeneration > generation)
    let after = try pointers()
    #expect(after.used == after.walked, "the kept layout was read through a map that has moved")
    // Only when the pointers are right are they read (wrong ones point at unmapped memory).
    if after.used == after.walked {
      let intact = try store.read { snapshot in
        (0..<600).allSatisfy { row in
          row == 3
            || snapshot.vector(id: UInt64(row)).map { Array($0) == expected.row(row) }
              == true
        }
      }
      #expect(intact)
    }
    #expect(try store.metadata("filler") == nil)
  }
}
