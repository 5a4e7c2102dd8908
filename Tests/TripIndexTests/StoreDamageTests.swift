import Foundation
import LMDB
import StorageBackend
import TestSupport
import Testing
import TripIndex
import VectorMath

/// Copies of a small indexed store, damaged as disks and people damage files — random pages
/// overwritten, the file cut short, meta keys changed — go through every reading and writing
/// command: no run may end on a signal, and `check` must report the damage.
@Suite struct StoreDamageTests {
  /// Builds the store every copy starts from: 3,000 × 16 vectors with labels, LSH-indexed.
  private func pristineStore(_ directory: TemporaryDirectory) throws -> String {
    directory.write(
      Fixtures.fvecsBytes(Fixtures.clusteredMatrix(rows: 3000, columns: 16, clusters: 30, seed: 4)),
      to: "in/base.fvecs")
    var labels = "name,pid,camera\n"
    for row in 0..<3000 { labels += "item-\(row),\(row % 40),\(row % 3)\n" }
    directory.write(labels, to: "in/labels.csv")
    let staged = directory.file("staged.lmdb")
    let built = try TripIndexExecutable.run([
      "build", directory.file("in"), "--store", staged, "--index", "lsh", "--batch", "500",
      "--quiet",
    ])
    #expect(built.status == 0, "\(built.stderr)")
    let deleted = try TripIndexExecutable.run(["delete", "item-7", "item-2000", "--store", staged])
    #expect(deleted.status == 0, "\(deleted.stderr)")
    // The deletes removed the packed copy of the tables; `index` writes it again, and the
    // compacted copy leaves out the pages freed on the way, so that damage lands on data in use.
    let indexed = try TripIndexExecutable.run(["index", "--store", staged, "--quiet"])
    #expect(indexed.status == 0, "\(indexed.stderr)")
    let store = directory.file("pristine.lmdb")
    let compacted = try TripIndexExecutable.run(["compact", "--store", staged, "--out", store])
    #expect(compacted.status == 0, "\(compacted.stderr)")
    directory.write(
      "0.5 0.5 0.5 0.5 0.5 0.5 0.5 0.5 0.5 0.5 0.5 0.5 0.5 0.5 0.5 0.5\n", to: "probe.vec")
    return store
  }

  private enum Damage: CustomStringConvertible {
    case page(Int, seed: UInt64)
    case cut(Int)
    case meta(String, String)

    var description: String {
      switch self {
      case .page(let page, _): return "page \(page) overwritten"
      case .cut(let bytes): return "cut to \(bytes) bytes"
      case .meta(let key, let value): return "meta \(key) = \(value)"
      }
    }
  }

  private func damage(_ store: String, _ damage: Damage) throws {
    let file = store + "/data.mdb"
    switch damage {
    case .page(let page, let seed):
      var random = SeededRandom(seed: seed)
      let bytes = (0..<4096).map { _ in UInt8(truncatingIfNeeded: random.next()) }
      let handle = try #require(FileHandle(forUpdatingAtPath: file))
      try handle.seek(toOffset: UInt64(page * 4096))
      handle.write(Data(bytes))
      try handle.close()
    case .cut(let bytes):
      let handle = try #require(FileHandle(forUpdatingAtPath: file))
      try handle.truncate(atOffset: UInt64(bytes))
      try handle.close()
    case .meta(let key, let value):
      let environment = try Environment.open(path: store)
      let meta = try environment.table(named: "meta", layout: [], creating: false)
      try environment.write { txn in try txn.put(value, forKey: key, in: meta) }
    }
  }

  @Test(
    "check compares every LSH table with the vectors; repair rebuilds it, or drops an index whose parameters are damaged"
  )
  func indexRepair() throws {
    let directory = TemporaryDirectory()
    let store = try pristineStore(directory)
    let quiet = SilentProgress()
    #expect(try StoreCheck.run(storePath: store, repair: false, progress: quiet).isSound)
    // Remove one entry of table 2 and give table 0's first bucket a stray entry.
    do {
      let environment = try Environment.open(path: store)
      let tables = try (0..<3).map {
        try environment.table(
          named: "lsh.table.\($0)",
          layout: [.sortedDuplicates, .fixedSizeDuplicates, .integerKeys], creating: false)
      }
      try environment.write { txn in
        try txn.withCursor(in: tables[2]) { cursor in
          _ = try cursor.first()
          try cursor.deleteCurrent()
        }
        let first = try txn.withCursor(in: tables[0]) { cursor in
          try cursor.first().map { (Array($0.key), Array($0.value)) }
        }
        if let (key, value) = first {
          var stray = value
          stray[stray.count - 1] ^= 0x55  // another id
          try txn.put(stray, forKey: key, in: tables[0])
        }
      }
    }
    let found = try StoreCheck.run(storePath: store, repair: false, progress: quiet)
    // The packed copy of the tables, written with them, now differs from them too.
    #expect(
      found.found.map(\.database).sorted() == ["lsh.packed", "lsh.table.0", "lsh.table.2"],
      "\(found.found)")
    #expect(
      found.found.first { $0.database == "lsh.table.2" }?.problem.hasPrefix(
        "1 live items missing, 0") == true)
    #expect(
      found.found.first { $0.database == "lsh.table.0" }?.problem.contains(
        "0 live items missing, 1 entries") == true)
    let repaired = try StoreCheck.run(storePath: store, repair: true, progress: quiet)
    #expect(repaired.isSound, "\(repaired.remaining)")
    #expect(repaired.repaired.contains { $0.description.contains("every table rebuilt") })
    // Damaged parameters: the checksum catches them, and the repair drops the index.
    do {
      let environment = try Environment.open(path: store)
      let parameters = try environment.table(named: "lsh.params", layout: [], creating: false)
      try environment.write { txn in
        var mean = Array(try #require(try txn.value(forKey: "mean", in: parameters)))
        mean[0] ^= 0x01
        try txn.put(mean, forKey: "mean", in: parameters)
      }
    }
    let query = try TripIndexExecutable.run([
      "query", directory.file("probe.vec"), "--store", store,
    ])
    #expect(query.status != 0)
    #expect(query.stderr.contains("fail their checksum"), "\(query.stderr)")
    // Reading every item needs nothing of the index: export still works.
    let export = try TripIndexExecutable.run([
      "export", "--store", store, "--out", directory.file("exported"), "--quiet",
    ])
    #expect(export.status == 0, "\(export.stderr)")
    let dropped = try StoreCheck.run(storePath: store, repair: true, progress: quiet)
    #expect(dropped.found.contains { $0.database == "lsh.params" })
    #expect(dropped.repaired.contains { $0.description.contains("dropped") })
    #expect(dropped.isSound, "\(dropped.remaining)")
    let exact = try TripIndexExecutable.run([
      "query", directory.file("probe.vec"), "--store", store,
    ])
    #expect(exact.status == 0, "\(exact.stderr)")
  }

  @Test("damaged stores: no command ends on a signal, and check reports the damage")
  func damagedStores() throws {
    let directory = TemporaryDirectory()
    let pristine = try pristineStore(directory)
    let size = try #require(
      try FileManager.default.attributesOfItem(atPath: pristine + "/data.mdb")[.size] as? Int)
    var random = SeededRandom(seed: 11)
    var cases: [Damage] = (0..<18).map { index in
      // Pages 0 and 1 (the meta pages) are included.
      .page(index < 2 ? index : Int(random.next() % UInt64(size / 4096)), seed: UInt64(index))
    }
    cases += [8192, size / 3, size / 2, size - 4096].map { Damage.cut($0) }
    cases += [
      .meta("dimension", "128"), .meta("dimension", "8"), .meta("count", "-3"),
      .meta("next_id", "99999999"), .meta("block_rows", "1"), .meta("metric", "manhattan"),
      .meta("indexes", "lsh,ghost"),
    ]
    var detected = 0
    var runs = 0
    for (number, damage) in cases.enumerated() {
      let store = directory.file("copy-\(number).lmdb")
      try FileManager.default.copyItem(atPath: pristine, toPath: store)
      try self.damage(store, damage)
      var checkStatus: Int32?
      for command in [
        ["info"], ["query", directory.file("probe.vec"), "-k", "5"],
        ["query", directory.file("probe.vec"), "-k", "5", "--exact"], ["check", "--quiet"],
        ["index"], ["check", "--repair", "--quiet"],
      ] {
        let outcome = try TripIndexExecutable.run(command + ["--store", store])
        runs += 1
        #expect(!outcome.signalled, "\(damage): \(command[0]) ended on signal \(outcome.status)")
        if outcome.status != 0 {
          #expect(
            outcome.stderr.hasPrefix("Error: ") || command[0] == "check",
            "\(damage): \(command[0]): \(outcome.stderr.prefix(300))")
        }
        if command == ["check", "--quiet"] { checkStatus = outcome.status }
      }
      if checkStatus != 0 { detected += 1 }
    }
    // Every damage here touches data in use (a fresh store has few free pages): check finds
    // nearly all; a page LMDB had freed may hold nothing to find.
    #expect(detected * 10 >= cases.count * 9, "check found \(detected) of \(cases.count)")
    print(
      "store damage: \(cases.count) damaged copies, \(runs) runs, 0 signals, \(detected) detected by check"
    )
  }
}
