import LMDB
import StorageBackend
import Synchronization
import TestSupport
import Testing
import VectorMath

@Suite struct EnvironmentTests {
  @Test("a committed write is visible to later reads")
  func writeThenRead() throws {
    let directory = TemporaryDirectory()
    let environment = try Environment.open(path: directory.file("env"))
    let database = try environment.table(
      named: "things", layout: [], creating: true)
    try environment.write { txn in
      try txn.put("one", forKey: "1", in: database)
      try txn.put("two", forKey: "2", in: database)
    }
    let values = try environment.read { txn in
      try ["1", "2", "3"].map { key in
        try txn.value(forKey: key, in: database).map { String(decoding: $0, as: UTF8.self) }
      }
    }
    #expect(values == ["one", "two", nil])
  }

  @Test("a throwing write transaction leaves nothing behind")
  func abortedWrite() throws {
    struct Stop: Error {}
    let directory = TemporaryDirectory()
    let environment = try Environment.open(path: directory.file("env"))
    let database = try environment.table(
      named: "things", layout: [], creating: true)
    #expect(throws: Stop.self) {
      try environment.write { txn in
        try txn.put("value", forKey: "key", in: database)
        throw Stop()
      }
    }
    let count = try environment.read { try $0.entryCount(in: database) }
    #expect(count == 0)
  }

  @Test(
    "the map grows while other threads read: readers never see a moved map, every value reads back whole"
  )
  func mapGrowsUnderConcurrentReaders() throws {
    let directory = TemporaryDirectory()
    // A small map, so the writer grows it several times while four threads keep reading.
    let environment = try Environment.open(
      path: directory.file("env"), initialMapSizeBytes: 256 << 10)
    let database = try environment.table(
      named: "big", layout: [], creating: true)
    /// Value `index`: 64 KiB of the byte `index % 251`.
    func value(_ index: Int) -> [UInt8] { [UInt8](repeating: UInt8(index % 251), count: 64 << 10) }
    try environment.write { txn in try txn.put(value(0), forKey: BigEndianKey(0), in: database) }
    let written = Mutex(1)
    let failures = Mutex<[String]>([])
    let done = Mutex(false)
    let before = environment.mapSizeBytes
    // Worker 0 writes 40 MiB in transactions of 1 MiB (the map doubles from 256 KiB to 64 MiB);
    // workers 1–4 read every value written so far, byte by byte, in transactions of their own.
    Parallel.forEachChunk(of: 5, count: 5) { worker, _ in
      do {
        if worker == 0 {
          defer { done.withLock { $0 = true } }
          for batch in 0..<40 {
            try environment.write { txn in
              for offset in 0..<16 {
                let index = 1 + batch * 16 + offset
                try txn.put(value(index), forKey: BigEndianKey(UInt64(index)), in: database)
              }
            }
            written.withLock { $0 = 1 + (batch + 1) * 16 }
          }
          return
        }
        var rounds = 0
        while !done.withLock({ $0 }) || rounds < 20 {
          rounds += 1
          try environment.read { txn in
            let count = written.withLock { $0 }
            for index in stride(from: worker - 1, to: count, by: 3) {
              guard let bytes = try txn.value(forKey: BigEndianKey(UInt64(index)), in: database)
              else { continue }  // written after this snapshot began
              // Every 512th byte and the last, through the map the writer may be growing.
              let expected = UInt8(index % 251)
              let sampled = stride(from: 0, to: bytes.count, by: 512).map { bytes[$0] }
              if bytes.count != 64 << 10 || bytes.last != expected
                || sampled.contains(where: { $0 != expected })
              {
                failures.withLock { $0.append("value \(index) read back wrong") }
              }
            }
          }
        }
      } catch {
        failures.withLock { $0.append("worker \(worker): \(error)") }
        done.withLock { $0 = true }
      }
    }
    #expect(environment.mapSizeBytes >= 32 * before)
    #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0.prefix(5) })")
    #expect(try environment.read { try $0.entryCount(in: database) } == 641)
  }

  @Test("the map grows instead of failing when it fills")
  func mapGrows() throws {
    let directory = TemporaryDirectory()
    let environment = try Environment.open(
      path: directory.file("env"), initialMapSizeBytes: 256 << 10)
    let database = try environment.table(
      named: "big", layout: [], creating: true)
    let before = environment.mapSizeBytes
    let value = [UInt8](repeating: 7, count: 100_000)
    // 8 MB in one transaction, then more in further ones: far past the 256 KiB start.
    try environment.write { txn in
      for index in 0..<80 { try txn.put(value, forKey: BigEndianKey(UInt64(index)), in: database) }
    }
    for round in 1...3 {
      try environment.write { txn in
        for index in 0..<20 {
          try txn.put(value, forKey: BigEndianKey(UInt64(round * 1000 + index)), in: database)
        }
      }
    }
    #expect(environment.mapSizeBytes > before)
    let count = try environment.read { try $0.entryCount(in: database) }
    #expect(count == 140)
    let intact = try environment.read { txn in
      try txn.value(forKey: BigEndianKey(79), in: database).map { Array($0) == value } ?? false
    }
    #expect(intact)
  }

  @Test("cursors walk keys in byte order and seek to a lower bound")
  func cursorOrder() throws {
    let directory = TemporaryDirectory()
    let environment = try Environment.open(path: directory.file("env"))
    let database = try environment.table(
      named: "ordered", layout: [], creating: true)
    try environment.write { txn in
      for id: UInt64 in [300, 5, 70_000, 42] {
        try txn.put(Array("v\(id)".utf8), forKey: BigEndianKey(id), in: database)
      }
    }
    let (keys, firstAtLeast50) = try environment.read { txn in
      try txn.withCursor(in: database) { cursor in
        var keys: [UInt64] = []
        var entry = try cursor.first()
        while let current = entry {
          keys.append(BigEndianKey(bytes: current.key)!.value)
          entry = try cursor.next()
        }
        let seek = try cursor.seek(atLeast: BigEndianKey(50)).map {
          BigEndianKey(bytes: $0.key)!.value
        }
        return (keys, seek)
      }
    }
    #expect(keys == [5, 42, 300, 70_000])
    #expect(firstAtLeast50 == 300)
  }

  @Test("duplicate-sorted fixed-size values come back a page at a time")
  func duplicatePages() throws {
    let directory = TemporaryDirectory()
    let environment = try Environment.open(path: directory.file("env"))
    let database = try environment.table(
      named: "buckets", layout: [.sortedDuplicates, .fixedSizeDuplicates], creating: true)
    try environment.write { txn in
      for id in stride(from: UInt64(0), to: 3000, by: 3) {
        try txn.put(BigEndianKey(id), forKey: "bucket", in: database)
      }
      try txn.put(BigEndianKey(1), forKey: "other", in: database)
      try txn.put(BigEndianKey(77), forKey: "single", in: database)
    }
    let ids = try environment.read { txn in
      try txn.withCursor(in: database) { cursor -> [UInt64] in
        guard try cursor.seek(to: "bucket") != nil else { return [] }
        #expect(try cursor.duplicateCount() == 1000)
        var ids: [UInt64] = []
        var page = try cursor.duplicatesPage()
        while let values = page {
          for offset in stride(from: 0, to: values.count, by: 8) {
            ids.append(
              BigEndianKey(bytes: UnsafeRawBufferPointer(rebasing: values[offset..<(offset + 8)]))!
                .value)
          }
          page = try cursor.nextDuplicatesPage()
        }
        return ids
      }
    }
    #expect(ids == Array(stride(from: UInt64(0), to: 3000, by: 3)))
    // A key with one value is a page of one.
    let single = try environment.read { txn in
      try txn.withCursor(in: database) { cursor -> [UInt64] in
        guard try cursor.seek(to: "single") != nil, let page = try cursor.duplicatesPage() else {
          return []
        }
        #expect(try cursor.nextDuplicatesPage() == nil)
        return [BigEndianKey(bytes: page)?.value ?? 0]
      }
    }
    #expect(single == [77])
  }

  @Test("errors carry LMDB's code and message")
  func errors() throws {
    let directory = TemporaryDirectory()
    let environment = try Environment.open(path: directory.file("env"))
    let database = try environment.table(
      named: "things", layout: [], creating: true)
    #expect(LMDBError.notFound.description.contains("MDB_NOTFOUND"))
    #expect(throws: LMDBError.keyExists) {
      try environment.write { txn in
        try txn.put("a", forKey: "k", in: database)
        try txn.put("b", forKey: "k", in: database, options: .noOverwrite)
      }
    }
    let longKey = String(repeating: "x", count: environment.maximumKeyBytes + 1)
    #expect(throws: LMDBError.badValueSize) {
      try environment.write { txn in try txn.put("v", forKey: longKey, in: database) }
    }
    #expect(throws: LMDBError.notFound) {
      try environment.table(named: "absent", layout: [], creating: false)
    }
    #expect(throws: LMDBError.self) {
      try Environment.open(path: directory.file("missing"), flags: .readOnly)
    }
  }

  @Test("opening one path twice in a process returns the same environment")
  func sharedInstance() throws {
    let directory = TemporaryDirectory()
    let first = try Environment.open(path: directory.file("env"))
    let second = try Environment.open(path: directory.file("env") + "/")
    #expect(first === second)
  }

  @Test("deleting keys and duplicate values")
  func deletion() throws {
    let directory = TemporaryDirectory()
    let environment = try Environment.open(path: directory.file("env"))
    let plain = try environment.table(
      named: "plain", layout: [], creating: true)
    let dups = try environment.table(
      named: "dups", layout: [.sortedDuplicates, .fixedSizeDuplicates], creating: true)
    let results = try environment.write { txn in
      try txn.put("v", forKey: "k", in: plain)
      try txn.put(BigEndianKey(1), forKey: "b", in: dups)
      try txn.put(BigEndianKey(2), forKey: "b", in: dups)
      return [
        try txn.delete(forKey: "k", in: plain), try txn.delete(forKey: "k", in: plain),
        try txn.delete(BigEndianKey(1), forKey: "b", in: dups),
        try txn.delete(BigEndianKey(1), forKey: "b", in: dups),
      ]
    }
    #expect(results == [true, false, true, false])
    #expect(try environment.read { try $0.entryCount(in: dups) } == 1)
  }
}
