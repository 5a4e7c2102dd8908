import Foundation
import RedisCluster
import TestSupport
import Testing
import TripIndex
import TripIndexTools
import VectorMath
import VectorStore

/// The commands on a store on a real local Redis Cluster (3 masters + 3 replicas), against the
/// same commands on an LMDB store of the same items: same answers, same metrics, ids kept by
/// `copy`, and one clear line for every bad endpoint.
@Suite(.serialized) struct RedisWorkflowTests {
  private static let shared = Result { try LocalRedis.cluster() }
  let cluster: LocalRedis
  let directory = TemporaryDirectory()
  private static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().path
  private static let gallery = root + "/datasets/synth-reid/gallery"
  private static let queries = root + "/datasets/synth-reid/query"

  init() throws { cluster = try Self.shared.get() }

  /// A store address on the test cluster (a fresh name per test run).
  private func redis(_ name: String) -> String {
    "redis://\(cluster.seeds)/\(name)-\(UUID().uuidString.prefix(6))"
  }

  /// Runs the tool and requires success.
  @discardableResult
  private func run(_ arguments: [String]) throws -> String {
    let outcome = try TripIndexExecutable.run(arguments)
    try #require(
      outcome.status == 0, "tripindex \(arguments.joined(separator: " ")): \(outcome.stderr)")
    return outcome.stdout
  }

  /// Runs the tool and requires failure; returns what it said.
  private func refusal(_ arguments: [String]) throws -> String {
    let outcome = try TripIndexExecutable.run(arguments)
    #expect(outcome.status != 0, "tripindex \(arguments.joined(separator: " ")) succeeded")
    #expect(!outcome.signalled)
    return outcome.stdout + outcome.stderr
  }

  /// An LMDB store of the gallery with an LSH index (pstable L6 K8).
  private func indexedGallery(_ name: String) throws -> String {
    let lmdb = directory.file(name)
    try run([
      "build", Self.gallery, "--store", lmdb, "--index", "lsh", "--tables", "6", "--bits", "8",
      "--quiet",
    ])
    return lmdb
  }

  /// The same query on both stores prints the same lines.
  private func expectSameQuery(_ stores: [String], _ extra: [String]) throws {
    let answers = try stores.map {
      try run(["query", Self.queries, "--store", $0, "-k", "10", "--json"] + extra)
    }
    #expect(answers[0].split(separator: "\n").count == 400)
    for answer in answers.dropFirst() { #expect(answer == answers[0], "\(extra)") }
  }

  @Test(
    "a labelled re-ID set: build, query (exact, --where, exclusions, Market-1501), delete, info, check and eval agree with LMDB"
  )
  func sameAsLMDB() throws {
    let lmdb = directory.file("g.lmdb")
    let store = redis("reid")
    try run(["build", Self.gallery, "--store", lmdb, "--quiet"])
    let built = try run(["build", Self.gallery, "--store", store, "--shards", "5", "--json"])
    #expect(built.contains("\"added\": 997") && built.contains("\"count\": 997"))
    // Building again changes nothing: the same upsert-by-name rule.
    let again = try run(["build", Self.gallery, "--store", store, "--json", "--quiet"])
    #expect(again.contains("\"unchanged\": 997") && again.contains("\"added\": 0"))
    let stores = [lmdb, store]
    try expectSameQuery(stores, [])
    try expectSameQuery(stores, ["--where", "camera != 1 and pid not in [0, -1]"])
    try expectSameQuery(stores, ["--protocol", "market1501"])
    // Deletes by name and by id, then the same answers again.
    for target in stores {
      try run(["delete", "--store", target, "0201_c3s1_002022_00", "0246_c3s1_002556_00"])
      try run(["delete", "--store", target, "--ids", "5", "6"])
    }
    try expectSameQuery(stores, ["--exclude-same-camera"])
    let unknown = try refusal(["delete", "--store", store, "0201_c6s1_002028_00", "no-such"])
    #expect(unknown.contains("no item named 'no-such'; nothing was deleted"))
    let info = try run(["info", "--store", store, "--json"])
    #expect(info.contains("\"engine\": \"redis\"") && info.contains("\"count\": 993"))
    #expect(info.contains("\"deleted\": 4") && info.contains("\"dimension\": 96"))
    let check = try run(["check", "--store", store])
    #expect(check.contains("the store is sound"), "\(check)")
    // eval on the stored gallery: the same metrics from both engines.
    let metrics = try stores.map { target in
      let report = try run(["eval", "--query", Self.queries, "--gallery-store", target, "--json"])
      let json = try #require(
        JSONSerialization.jsonObject(with: Data(report.utf8)) as? [String: Any])
      let method = try #require((json["methods"] as? [[String: Any]])?.first)
      return [method["rank1"], method["map"], method["map_at_r"], method["cmc"]].map {
        "\($0 ?? "missing")"
      }
    }
    #expect(metrics[0] == metrics[1])
  }

  @Test(
    "LSH: the same fitted index answers the same on Redis as on LMDB; an index rebuilt or dropped on Redis switches whole"
  )
  func lshSameAsLMDB() throws {
    let lmdb = try indexedGallery("l.lmdb")
    let store = redis("lsh")
    let copied = try run(["copy", "--from", lmdb, "--to", store])
    #expect(copied.contains("LSH index pstable L6 K8"), "\(copied)")
    try expectSameQuery([lmdb, store], ["--lsh"])
    try expectSameQuery([lmdb, store], ["--lsh", "--where", "camera in [1, 2, 3]"])
    // An index fitted on Redis, copied back to LMDB, answers the same there.
    try run(["index", "--store", store, "--tables", "4", "--bits", "6", "--family", "pstable"])
    #expect(try run(["info", "--store", store]).contains("index: lsh pstable L4 K6"))
    let back = directory.file("back.lmdb")
    try run(["copy", "--from", store, "--to", back])
    try expectSameQuery([store, back], ["--lsh"])
    let lines = try run(["query", Self.queries, "--store", store, "-k", "3", "--json", "--lsh"])
    #expect(lines.contains("\"method\": \"lsh\"") && lines.contains("\"buckets_read\""))
    try run(["index", "--store", store, "--drop"])
    let exact = try run(["query", Self.queries, "--store", store, "-k", "3", "--json"])
    #expect(exact.contains("\"method\": \"exact\"") && !exact.contains("\"lsh\""))
    #expect(try run(["info", "--store", store]).contains("index: none"))
  }

  @Test(
    "LSH through the postings: probes read their buckets and the vectors they score, with LMDB's answers, also after upserts and deletes; check verifies the postings"
  )
  func postingsSameAsLMDB() throws {
    let lmdb = try indexedGallery("p.lmdb")
    let store = redis("postings")
    try run(["copy", "--from", lmdb, "--to", store])
    // Probes near stored items (so that their buckets hold k items), and items to write.
    let stored = try VectorStore.open(path: lmdb, readOnly: true).read { snapshot in
      (0..<UInt64(60)).compactMap { id in snapshot.vector(id: id).map { Array($0) } }
    }
    var random = SystemRandomNumberGenerator()
    let probes = Matrix(
      rowArrays: stored.map { row in row.map { $0 + Float.random(in: -0.05...0.05, using: &random) }
      })
    let onLMDB = try SearchSession(storePath: lmdb, readOnly: false)
    let onRedis = try SearchSession(storePath: store, readOnly: false, redisReads: .postings)
    let overSnapshot = try SearchSession(storePath: store, readOnly: true, redisReads: .snapshot)
    var options = Query.SearchOptions(k: 10)
    options.forceIndex = true
    func expectSame(_ stage: String) throws {
      let expected = try onLMDB.search(probes, labels: nil, options: options)
      for (session, path) in [(onRedis, true), (overSnapshot, false)] {
        let found = try session.search(probes, labels: nil, options: options)
        #expect(found.readThroughPostings == path, "\(stage)")
        #expect(found.neighbors == expected.neighbors, "\(stage), postings \(path)")
        #expect(found.candidates == expected.candidates, "\(stage), postings \(path)")
        #expect(found.exactDistances == expected.exactDistances, "\(stage), postings \(path)")
        #expect(found.bucketsRead == expected.bucketsRead, "\(stage), postings \(path)")
      }
    }
    try expectSame("as copied")
    // Writes keep the postings current in the same script as the items.
    for (index, row) in stored.prefix(20).enumerated() {
      let moved = row.map { $0 * 0.9 + 0.01 }
      for session in [onLMDB, onRedis] {
        _ = try session.upsert(name: "new-\(index)", vector: row, labels: ItemLabels())
        _ = try session.upsert(name: "base#\(index + 30)", vector: moved, labels: ItemLabels())
        _ = try session.delete(name: "base#\(index + 100)")
      }
    }
    try expectSame("after writes")
    #expect(try run(["check", "--store", store]).contains("sound"))
    // A rebuilt index leaves every shard keeping its postings alone, and no other version's.
    let client = try RedisClusterClient(
      seeds: cluster.seeds.split(separator: ",").compactMap { RedisEndpoint($0) })
    let name = String(store.split(separator: "/").last ?? "")
    let former = try client.send(RedisCommand("HGET", "\(name):meta", "index")).text
    try run(["index", "--store", store, "--tables", "4", "--bits", "6", "--quiet"])
    let current = try #require(try client.send(RedisCommand("HGET", "\(name):meta", "index")).text)
    #expect(current != former)
    for shard in 0..<16 {
      #expect(try client.send(RedisCommand("GET", "{\(name):\(shard)}:lsh")).text == current)
      #expect(
        try client.send(RedisCommand("EXISTS", "{\(name):\(shard)}:lsh:\(former ?? ""):0"))
          .integer == 0)
    }
    #expect(try run(["check", "--store", store]).contains("sound"))
    #expect(try onRedis.search(probes, labels: nil, options: options).readThroughPostings)
    // A posting lost is damage that check names.
    var damaged = false
    for shard in 0..<16 where !damaged {
      let version = try #require(
        try client.send(RedisCommand("HGET", "\(name):meta", "index")).text)
      let key = "{\(name):\(shard)}:lsh:\(version):2"
      guard let field = try client.send(RedisCommand("HRANDFIELD", key)).bytes else { continue }
      _ = try client.send(RedisCommand("HDEL", key, field))
      damaged = true
    }
    #expect(damaged)
    let report = try refusal(["check", "--store", store])
    #expect(report.contains("table 2 of the index"), "\(report)")
    // Postings of a length no entry has: a search through them stops with one line naming the
    // store and what to do, and check names them.
    let version = try #require(
      try client.send(RedisCommand("HGET", "\(name):meta", "index")).text)
    for shard in 0..<16 {
      let key = "{\(name):\(shard)}:lsh:\(version):0"
      for field in try client.send(RedisCommand("HKEYS", key)).elements ?? [] {
        _ = try client.send(RedisCommand("HSET", key, field.bytes ?? [], "xyz"))
      }
    }
    #expect {
      try onRedis.search(probes, labels: nil, options: options)
    } throws: { error in
      "\(error)".contains("not a whole number") && "\(error)".contains("tripindex index")
    }
    #expect(try refusal(["check", "--store", store]).contains("malformed bucket"))
  }

  @Test(
    "tune measures the same recalls on Redis as on LMDB and records its verdict; index records its speed; annbench runs on Redis with LMDB's answers"
  )
  func tuneIndexAndANNBench() throws {
    let lmdb = directory.file("t.lmdb")
    let store = redis("tune")
    for target in [lmdb, store] { try run(["build", Self.gallery, "--store", target, "--quiet"]) }
    // The grid's screen is deterministic (the same items held out by id, the same fit and
    // tables): recall and entries examined agree setting by setting; only timings, hence the
    // choice, may differ.
    func screened(_ target: String) throws -> (String, [String]) {
      let output = try run([
        "tune", "--store", target, "--sample", "100", "--json", "--quiet",
      ])
      let json = try #require(
        JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
      let rows = try #require(json["measurements"] as? [[String: Any]]).map { measurement in
        let fields = ["configuration", "recall", "candidates"].map { measurement[$0] ?? "" }
        return String(
          decoding: try JSONSerialization.data(withJSONObject: fields, options: .sortedKeys),
          as: UTF8.self)
      }
      return (try #require(json["search"] as? String), rows)
    }
    let (_, onLMDB) = try screened(lmdb)
    let (search, onRedis) = try screened(store)
    #expect(onRedis.count > 10 && onRedis == onLMDB)
    let info = try run(["info", "--store", store])
    #expect(info.contains("last tune: \(search):"), "\(info)")
    #expect(info.contains(search == "lsh" ? "index: lsh" : "index: none"), "\(info)")
    // An index built on Redis is timed against exact search, and the time recorded with it.
    try run(["index", "--store", store, "--tables", "4", "--bits", "6"])
    let indexed = try run(["info", "--store", store, "--json"])
    #expect(indexed.contains("\"exact_microseconds_per_query\""), "\(indexed)")
    try run(["index", "--store", store, "--drop"])
    #expect(!(try run(["info", "--store", store, "--json"])).contains("microseconds"))

    // annbench on a Redis store: exact answers equal LMDB's, recall recomputed from the rows.
    let file = ANNBenchTests.fixture("annbench-euclidean.hdf5")
    var answers: [Data] = []
    for target in [directory.file("a.lmdb"), redis("annbench")] {
      var options = ANNBench.Options(path: file)
      options.recallTargets = [0.5]
      options.tuneSample = 100
      options.storePath = target
      let returned = directory.file("returned-\(answers.count)")
      options.neighborsFolder = returned
      let report = try ANNBench.run(options, progress: SilentProgress())
      try ANNBenchTests.expectRecallsRecomputed(report, file: file, returned: returned)
      answers.append(try Data(contentsOf: URL(fileURLWithPath: returned + "/exact.npy")))
    }
    #expect(answers[0] == answers[1])
  }

  @Test(
    "copy LMDB → Redis → Redis → LMDB keeps every id, deleted ids, names, labels and vectors; check agrees; an existing target needs --replace"
  )
  func copyKeepsEverything() throws {
    let lmdb = directory.file("c.lmdb")
    try run(["build", Self.gallery, "--store", lmdb, "--quiet"])
    // Deleted ids at the start, in the middle and at the end.
    try run(["delete", "--store", lmdb, "--ids", "0", "1", "500", "996"])
    let first = redis("copy-a")
    let second = redis("copy-b")
    let last = directory.file("c2.lmdb")
    let hops = [(lmdb, first), (first, second), (second, last)]
    for (from, to) in hops {
      let report = try run(["copy", "--from", from, "--to", to, "--batch", "300", "--json"])
      #expect(report.contains("\"items\": 993") && report.contains("\"deleted_ids\": 4"))
    }
    for store in [lmdb, first, second, last] {
      #expect(try run(["check", "--store", store]).contains("the store is sound"), "\(store)")
      let info = try run(["info", "--store", store, "--json"])
      #expect(info.contains("\"count\": 993") && info.contains("\"deleted\": 4"), "\(store)")
    }
    // Same items and vectors, bit for bit, through export.
    var exported: [Data] = []
    for (position, store) in [lmdb, second, last].enumerated() {
      let out = directory.file("out\(position)")
      try run(["export", "--store", store, "--out", out, "--quiet"])
      exported.append(try Data(contentsOf: URL(fileURLWithPath: out + "/vectors.npy")))
      exported.append(try Data(contentsOf: URL(fileURLWithPath: out + "/labels.csv")))
    }
    #expect(exported[0] == exported[2] && exported[0] == exported[4])
    #expect(exported[1] == exported[3] && exported[1] == exported[5])
    try expectSameQuery([lmdb, first, last], [])
    // Targets that exist, or are the source, are refused; --replace starts over.
    let exists = try refusal(["copy", "--from", lmdb, "--to", first])
    #expect(exists.contains("exists") && exists.contains("--replace"), "\(exists)")
    #expect(try refusal(["copy", "--from", last, "--to", last]).contains("the same store"))
    try run(["copy", "--from", lmdb, "--to", first, "--replace", "--quiet"])
    try expectSameQuery([lmdb, first], ["--where", "pid > 300"])
  }

  @Test("two servers writing one store take turns: each single-item write lands, none is refused")
  func serversTakeTurns() throws {
    let store = redis("turns")
    try run(["build", Self.gallery, "--store", store, "--quiet"])
    let first = try SearchSession(storePath: store, readOnly: false)
    let second = try SearchSession(storePath: store, readOnly: false)
    let vector = [Float](repeating: 0.5, count: 96)
    for round in 0..<3 {
      #expect(
        try first.upsert(name: "a\(round)", vector: vector, labels: ItemLabels()).outcome == .added)
      #expect(
        try second.upsert(name: "b\(round)", vector: vector, labels: ItemLabels()).outcome == .added
      )
    }
    #expect(try first.delete(name: "b0") != nil && second.delete(name: "a0") != nil)
    #expect(try first.info().count == 997 + 4)
    #expect(try run(["check", "--store", store]).contains("the store is sound"))
  }

  @Test("bad endpoints and states: one line each, naming the endpoint and what to do")
  func badEndpoints() throws {
    let query = ["query", Self.queries, "-k", "3", "--store"]
    // Nothing listens on port 1.
    let refused = try refusal(query + ["redis://127.0.0.1:1/x", "--timeout", "2"])
    #expect(refused.contains("127.0.0.1:1"), "\(refused)")
    // A dead first seed: the next one is enough.
    let store = redis("endpoints")
    let seeds = "127.0.0.1:1," + cluster.seeds
    let name = String(store.split(separator: "/").last ?? "")
    try run(["build", Self.gallery, "--store", "redis://\(seeds)/\(name)", "--quiet"])
    try run(query + [store])
    // No store of that name.
    let missing = try refusal(["info", "--store", "redis://\(cluster.seeds)/nothing-here"])
    #expect(missing.contains("no store here") && missing.contains("tripindex build"), "\(missing)")
    // Another dimension into an existing store.
    directory.write(
      Fixtures.fvecsBytes(Fixtures.randomMatrix(rows: 3, columns: 8, seed: 1)), to: "small/x.fvecs")
    let dimension = try refusal(["build", directory.file("small"), "--store", store])
    #expect(dimension.contains("dimension"), "\(dimension)")
    // More replicas than a master has.
    let replicas = try refusal(["delete", "--store", store, "--replicas", "3", "x"])
    #expect(replicas.contains("--replicas 3") && replicas.contains("1 replica"), "\(replicas)")
    // A command that works on LMDB only says so and how to proceed.
    let compact = try refusal(["compact", "--store", store, "--out", directory.file("c")])
    #expect(
      compact.contains("works on LMDB stores") && compact.contains("tripindex copy"), "\(compact)")
    // A wrong password is named as such and never printed.
    let password = try refusal(query + ["redis://:hunter2-secret@\(cluster.seeds)/\(name)"])
    #expect(!password.contains("hunter2-secret"), "\(password)")
    #expect(password.lowercased().contains("password"), "\(password)")
    // A store written by a newer layout.
    let client = try RedisClusterClient(
      seeds: cluster.seeds.split(separator: ",").compactMap { RedisEndpoint($0) })
    _ = try client.send(RedisCommand("HSET", "\(name):meta", "schema", 99))
    let newer = try refusal(query + [store])
    #expect(newer.contains("newer tripindex"), "\(newer)")
    // A Redis without cluster mode.
    let standalone = try LocalRedis.standalone()
    defer { standalone.stop() }
    let plain = try refusal(query + ["redis://\(standalone.seeds)/x"])
    #expect(plain.contains("cluster"), "\(plain)")
  }
}
