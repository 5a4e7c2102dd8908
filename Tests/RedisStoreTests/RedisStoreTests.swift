import Foundation
import LSHIndex
import RedisCluster
import RedisStore
import TestSupport
import Testing
import VectorMath
import VectorStore

/// The store on a real local Redis Cluster against the LMDB store built from the same items.
@Suite(.serialized) struct RedisStoreTests {
  private static let shared = Result { try LocalRedis.cluster() }
  let cluster: LocalRedis
  let client: RedisClusterClient

  init() throws {
    cluster = try Self.shared.get()
    client = try RedisClusterClient(
      seeds: cluster.seeds.split(separator: ",").compactMap { RedisEndpoint($0) }, timeout: 5)
  }

  private func address(_ name: String) throws -> RedisStoreAddress {
    try RedisStoreAddress("redis://\(cluster.seeds)/\(name)")
  }

  /// Deterministic items: names, labels (pid, camera, group) and vectors.
  private func items(_ count: Int, dimension: Int, seed: UInt64, offset: Int = 0) -> (
    [String], [ItemLabels], Matrix
  ) {
    var random = SeededRandom(seed: seed)
    let names = (0..<count).map { "item-\($0 + offset)" }
    let labels = (0..<count).map {
      ItemLabels(
        pid: Int32(($0 + offset) % 50), camera: Int32($0 % 6), group: $0 % 7 == 0 ? nil : 3)
    }
    let values = (0..<(count * dimension)).map { _ in Float(random.normal()) }
    return (names, labels, Matrix(rows: count, columns: dimension, values: values))
  }

  /// The same batches into an LMDB store.
  private func lmdb(
    _ directory: TemporaryDirectory, metric: DistanceMetric, dimension: Int,
    batches: [([String], [ItemLabels], Matrix)]
  ) throws -> VectorStore {
    let store = try VectorStore.openOrCreate(
      path: directory.file("s.lmdb"), dimension: dimension, metric: metric)
    for (names, labels, vectors) in batches {
      _ = try vectors.values.withUnsafeBufferPointer { values in
        try store.write { try $0.upsert(names: names, labels: labels, vectors: values) }
      }
    }
    return store
  }

  @Test(
    "the same batches give the same ids, names, labels, vectors and exact answers as LMDB",
    arguments: [DistanceMetric.l2, .cosine])
  func sameAsLMDB(metric: DistanceMetric) throws {
    let dimension = 24
    let first = items(1500, dimension: dimension, seed: 1)
    let second = items(700, dimension: dimension, seed: 2, offset: 1200)  // 300 names again
    let address = try address("same-\(metric.rawValue)")
    let redis = try RedisStore.openOrCreate(
      address, dimension: dimension, metric: metric, shards: 8, client: client)
    try redis.removeEverything()
    let store = try RedisStore.openOrCreate(
      address, dimension: dimension, metric: metric, shards: 8, client: client)
    let added = try store.upsert(names: first.0, labels: first.1, vectors: first.2, replicas: 1)
    #expect(added.added == 1500 && added.ids == (0..<1500).map { UInt64($0) })
    let again = try store.upsert(names: second.0, labels: second.1, vectors: second.2, replicas: 1)
    #expect(again.added == 400 && again.updated == 300 && again.unchanged == 0)
    #expect(try store.count() == 1900)
    // Unchanged items are left alone.
    let same = try store.upsert(names: second.0, labels: second.1, vectors: second.2)
    #expect(same.unchanged == 700 && same.added == 0 && same.updated == 0 && same.ids == again.ids)
    // Deleted names are freed; their ids are never used again.
    let doomed = ["item-3", "item-1499", "no-such-item", "item-1800"]
    #expect(try store.delete(names: doomed, replicas: 1) == [3, 1499, nil, 1800])
    #expect(try store.delete(names: ["item-3"]) == [nil])
    #expect(try store.count() == 1897)

    let directory = TemporaryDirectory()
    let lmdb = try lmdb(directory, metric: metric, dimension: dimension, batches: [first, second])
    try lmdb.write { writer in
      for name in doomed { _ = try writer.delete(name: name) }
    }
    let snapshot = try store.snapshot()
    // Read a few blocks per pipeline, the same snapshot.
    let chunked = try store.snapshot(reusing: nil, blocksPerRead: 3)
    #expect(chunked.count == snapshot.count && chunked.idLimit == snapshot.idLimit)
    var sameRows = true
    for (mine, theirs) in zip(chunked.blocks, snapshot.blocks) {
      for row in 0..<mine.rowCount {
        sameRows = sameRows && mine.isDeleted(row) == theirs.isDeleted(row)
        guard !mine.isDeleted(row) else { continue }
        for column in 0..<dimension {
          let offset = row * dimension + column
          sameRows = sameRows && mine.values[offset] == theirs.values[offset]
        }
      }
    }
    #expect(sameRows && chunked.blocks.count == snapshot.blocks.count)
    let probes = items(40, dimension: dimension, seed: 9).2
    try lmdb.read { reference in
      #expect(snapshot.count == reference.count && snapshot.idLimit == reference.nextID)
      for id in 0..<reference.nextID {
        guard let item = try reference.item(id: id) else {
          #expect(try snapshot.item(id: id) == nil && snapshot.vector(id: id) == nil)
          continue
        }
        let mine = try #require(try snapshot.item(id: id))
        #expect(mine.name == item.name && mine.labels == item.labels)
        #expect(
          Array(try #require(snapshot.vector(id: id)))
            == Array(try #require(reference.vector(id: id))))
      }
      var prepared = probes
      if metric.normalizesVectors { _ = prepared.normalizeRows() }
      let expected = reference.exactSearch.search(prepared, k: 10)
      let found = snapshot.exactSearch.search(prepared, k: 10)
      #expect(found == expected)
      // An LSH index fitted over either snapshot is the same index, with the same answers.
      let configuration = LSHConfiguration(
        family: metric == .cosine ? .hyperplane : .pstable, tables: 4, hashesPerTable: 6,
        probes: 4, candidateBudget: 0)
      func lsh(_ source: some VectorSource) throws -> [[Neighbor]] {
        try LSHMemoryIndex.build(configuration: configuration, over: source)
          .withSearcher(over: source) { try $0.search(prepared, k: 10) }.map(\.neighbors)
      }
      let approximate = try lsh(snapshot)
      #expect(approximate == (try lsh(reference)))
      #expect(approximate.joined().count == 400)
    }
  }

  @Test("a store's shape is checked when it opens: missing, another dimension, another metric")
  func openingChecks() throws {
    let missing = try address("never-made")
    #expect {
      _ = try RedisStore.open(missing, client: client)
    } throws: { error in
      let error = error as? RedisStoreError
      return error?.kind == .missing && error?.description.contains("\(missing)") == true
        && error?.description.contains("tripindex build") == true
    }
    let address = try address("shaped")
    _ = try RedisStore.openOrCreate(address, dimension: 8, metric: .l2, client: client)
    #expect {
      _ = try RedisStore.openOrCreate(address, dimension: 9, metric: .l2, client: client)
    } throws: { "\($0)".contains("holds 8-dimensional vectors, but the input has dimension 9") }
    #expect {
      _ = try RedisStore.openOrCreate(address, dimension: 8, metric: .cosine, client: client)
    } throws: { "\($0)".contains("uses the l2 metric, but cosine was asked for") }
    // A layout from a newer tripindex is refused, saying so.
    _ = try client.send(RedisCommand("HSET", "shaped:meta", "schema", 99))
    #expect {
      _ = try RedisStore.open(address, client: client)
    } throws: { "\($0)".contains("newer tripindex") }
  }

  @Test("a writer overtaken by a newer one is refused on every shard; bad items before any write")
  func fencingAndValidation() throws {
    let address = try address("fenced")
    let old = try RedisStore.openOrCreate(address, dimension: 4, metric: .l2, client: client)
    try old.removeEverything()
    let first = try RedisStore.openOrCreate(address, dimension: 4, metric: .l2, client: client)
    let batch = items(20, dimension: 4, seed: 3)
    _ = try first.upsert(names: batch.0, labels: batch.1, vectors: batch.2)
    let second = try RedisStore.openOrCreate(address, dimension: 4, metric: .l2, client: client)
    let more = items(20, dimension: 4, seed: 4, offset: 100)
    _ = try second.upsert(names: more.0, labels: more.1, vectors: more.2)
    #expect {
      _ = try first.upsert(
        names: more.0, labels: more.1, vectors: items(20, dimension: 4, seed: 5).2)
    } throws: { ($0 as? RedisStoreError)?.kind == .fenced }
    #expect {
      _ = try first.delete(names: ["item-100"])
    } throws: { ($0 as? RedisStoreError)?.kind == .fenced }
    #expect(try second.count() == 40)
    // A name twice, or a non-finite value: refused before anything is written.
    var bad = more.2
    bad.values[5] = .nan
    #expect {
      _ = try second.upsert(
        names: ["x", "x"], labels: [.none, .none],
        vectors: Matrix(rows: 2, columns: 4, values: Array(repeating: 1, count: 8)))
    } throws: { "\($0)".contains("appears twice") }
    #expect {
      _ = try second.upsert(names: more.0, labels: more.1, vectors: bad)
    } throws: { ($0 as? RedisStoreError)?.kind == .invalidItem }
    #expect(try second.count() == 40)
  }

  @Test("check lists damage: a vector byte changed, a record gone; reads refuse damaged data")
  func checkFindsDamage() throws {
    let address = try address("checked")
    try RedisStore.openOrCreate(address, dimension: 8, metric: .l2, shards: 4, client: client)
      .removeEverything()
    let store = try RedisStore.openOrCreate(
      address, dimension: 8, metric: .l2, shards: 4, client: client)
    let batch = items(300, dimension: 8, seed: 11)
    _ = try store.upsert(names: batch.0, labels: batch.1, vectors: batch.2)
    // Labels-only updates keep the vector's checksum right.
    var relabelled = batch.1
    relabelled[7] = ItemLabels(pid: 999)
    #expect(try store.upsert(names: batch.0, labels: relabelled, vectors: batch.2).updated == 1)
    #expect(try store.check().isEmpty)
    // One byte of one stored vector flipped behind the store's back (row 0 of shard 0).
    let shardZero = "{checked:0}"
    _ = try client.send(RedisCommand("SETRANGE", shardZero + ":vec:0", 3, "\u{7f}"))
    let victims = try #require(
      try client.send(RedisCommand("GETRANGE", shardZero + ":ids:0", 0, 7)).bytes)
    let victim = victims.enumerated().reduce(UInt64(0)) {
      $0 | UInt64($1.element) << (8 * $1.offset)
    }
    let problems = try store.check()
    #expect(problems.count == 1)
    #expect(problems.first?.contains("the vector of id \(victim)") == true)
    #expect(problems.first?.contains("fails its checksum") == true)
    // A search reads the vectors as they are (as on LMDB, `check` verifies); reading every
    // item (filters, copy, export) refuses the damaged one.
    #expect {
      try store.snapshot().forEachItem { _, _ in }
    } throws: {
      ($0 as? RedisStoreError)?.kind == .damaged && "\($0)".contains("fails its checksum")
    }
    // A record removed: its name leads nowhere, its row has no record, the count disagrees.
    let idKey = withUnsafeBytes(of: (victim + 1).bigEndian) { Array($0) }
    for shard in 0..<4 {
      _ = try client.send(RedisCommand("HDEL", "{checked:\(shard)}:items", idKey))
    }
    let more = try store.check()
    #expect(more.count == 4, "\(more)")
    #expect(more.contains { $0.contains("leads to no item") })
    #expect(more.contains { $0.contains("no matching item record") })
    #expect(more.contains { $0.contains("live rows, but its count says") })
  }
}

/// A master killed while a build writes: nothing acknowledged is lost, and running the build
/// again finishes it without duplicates.
@Suite(.serialized) final class RedisStoreFailoverTests {
  let cluster: LocalRedis

  init() throws { cluster = try LocalRedis.cluster() }
  deinit { cluster.stop() }

  /// What a writer thread reports back (read after it finished).
  private final class WriterReport: @unchecked Sendable {
    var acknowledged: [String] = []
    var error: (any Error)?
  }

  /// Upserts `vectors` under `names` in batches of 100, acknowledged by one replica each,
  /// noting each batch's names once its write returned.
  private static func build(
    _ store: RedisStore, names: [String], vectors: Matrix, into report: WriterReport
  ) throws {
    let dimension = vectors.columns
    for start in stride(from: 0, to: names.count, by: 100) {
      let range = start..<min(names.count, start + 100)
      let rows = Matrix(
        rows: range.count, columns: dimension,
        values: Array(
          vectors.values[(range.lowerBound * dimension)..<(range.upperBound * dimension)]))
      _ = try store.upsert(
        names: Array(names[range]), labels: Array(repeating: .none, count: range.count),
        vectors: rows, replicas: 1)
      report.acknowledged += names[range]
    }
  }

  /// A client that rides failovers out, and `count` random 16-d vectors.
  private func failoverSetting(count: Int, seed: UInt64) throws -> (RedisClusterClient, Matrix) {
    let seeds = cluster.seeds.split(separator: ",").compactMap { RedisEndpoint($0) }
    var random = SeededRandom(seed: seed)
    return (
      try RedisClusterClient(seeds: seeds, timeout: 1, retryLimit: 30),
      Matrix(
        rows: count, columns: 16, values: (0..<(count * 16)).map { _ in Float(random.normal()) })
    )
  }

  /// Waits until every master has a replica in sync (`state=online`).
  private static func waitUntilEveryMasterHasAReplica(_ client: RedisClusterClient) throws {
    for _ in 0..<300 {
      client.refreshMap()
      let infos = try client.onEveryMaster(RedisCommand("INFO", "replication", keyIndex: nil))
      if infos.allSatisfy({ ($0.reply.text ?? "").contains("state=online") }) { return }
      usleep(100_000)
    }
    Issue.record("a master is still without a replica in sync after 30 s")
  }

  @Test("kill -9 of a master during a build: every acknowledged item survives; a re-run completes")
  func masterKilledDuringBuild() throws {
    let total = 4000
    let (client, vectors) = try failoverSetting(count: total, seed: 21)
    let address = try RedisStoreAddress("redis://\(cluster.seeds)/failover")
    let names = (0..<total).map { "item-\($0)" }
    let store = try RedisStore.openOrCreate(
      address, dimension: 16, metric: .l2, shards: 16, client: client)
    // The writer runs while a master dies; it either rides the failover out or stops with an
    // error that says the write may or may not have run.
    let victim = try #require(client.masters.first)
    let report = WriterReport()
    let writer = Thread {
      do { try Self.build(store, names: names, vectors: vectors, into: report) } catch {
        report.error = error
      }
    }
    writer.start()
    usleep(300_000)
    try cluster.kill(port: victim.port)
    while !writer.isFinished { usleep(50_000) }
    // Whatever the writer was told is stored is there, after the failover.
    var present = Set<String>()
    try RedisStore.open(address, client: client).snapshot().forEachItem { item, _ in
      present.insert(item.name)
    }
    #expect(!report.acknowledged.isEmpty)
    #expect(
      report.acknowledged.allSatisfy(present.contains), "\(String(describing: report.error))")
    // A write is acknowledged only when replicated: with the promoted master alone, the re-run
    // would be refused (`replication`); the old master rejoins as its replica first.
    try cluster.restart(port: victim.port)
    try Self.waitUntilEveryMasterHasAReplica(client)
    // Running the build again (a new writer) finishes it: every name once, nothing damaged.
    let again = try RedisStore.open(address, client: client)
    try Self.build(again, names: names, vectors: vectors, into: WriterReport())
    #expect(try again.count() == total)
    #expect(try again.check().isEmpty)
    var final: [String] = []
    try again.snapshot().forEachItem { item, _ in final.append(item.name) }
    #expect(Set(final) == Set(names))
    #expect(final.count == total)
  }

  /// What a reader thread saw.
  private final class ReaderReport: @unchecked Sendable {
    var reads = 0
    var wrong = 0
    var errors: [String] = []
    var stop = false
  }

  @Test(
    "kill -9 of a master during queries: every read rides the failover with the same answer; a killed replica changes nothing"
  )
  func nodesKilledDuringQueries() throws {
    let total = 3000
    let (client, vectors) = try failoverSetting(count: total, seed: 22)
    let address = try RedisStoreAddress("redis://\(cluster.seeds)/queried")
    let store = try RedisStore.openOrCreate(
      address, dimension: 16, metric: .l2, shards: 16, client: client)
    _ = try store.upsert(
      names: (0..<total).map { "item-\($0)" },
      labels: Array(repeating: .none, count: total), vectors: vectors, replicas: 1)
    let probes = Matrix(rows: 8, columns: 16, values: Array(vectors.values[0..<(8 * 16)]))
    // The blocks point into the snapshot's memory: it is kept while they are searched.
    let first = try store.snapshot()
    let expected = withExtendedLifetime(first) { first.exactSearch.search(probes, k: 5) }
    /// Reads a fresh snapshot and searches it, again and again, until told to stop.
    func reader(_ report: ReaderReport) -> Thread {
      Thread {
        while !report.stop {
          do {
            let snapshot = try RedisStore.open(address, client: client).snapshot()
            let found = withExtendedLifetime(snapshot) { snapshot.exactSearch.search(probes, k: 5) }
            if snapshot.count != total
              || found.map({ $0.map(\.id) }) != expected.map({ $0.map(\.id) })
            {
              report.wrong += 1
            }
            report.reads += 1
          } catch {
            report.errors.append("\(error)")
          }
        }
      }
    }
    for victim in ["master", "replica"] {
      let report = ReaderReport()
      let thread = reader(report)
      thread.start()
      usleep(300_000)
      let masters = Set(client.masters.map(\.port))
      let port = try #require(
        victim == "master"
          ? masters.first
          : (cluster.basePort..<(cluster.basePort + 6)).first { !masters.contains($0) })
      let before = report.reads
      try cluster.kill(port: port)
      // Redis's node timeout here is 2 s; the failover is over well within 8 s.
      usleep(8_000_000)
      report.stop = true
      while !thread.isFinished { usleep(20_000) }
      #expect(report.errors.isEmpty, "\(victim): \(report.errors.prefix(3))")
      #expect(report.wrong == 0, "\(victim)")
      #expect(report.reads > before + 5, "\(victim): \(report.reads - before) reads after the kill")
      try cluster.restart(port: port)
      try Self.waitUntilEveryMasterHasAReplica(client)
    }
    #expect(try store.check().isEmpty)
  }
}
