import Foundation
import LMDB
import StorageBackend
import TestSupport
import Testing
import VectorMath
import VectorStore

@testable import LSHIndex
@testable import TripIndex

/// build --index lsh → tune → query (LSH and --exact) through the command line.
@Suite struct LSHWorkflowTests {
  private func json(_ text: String) throws -> [[String: Any]] {
    try text.split(separator: "\n").map { line in
      try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }
  }

  /// A store `s.lmdb` in `directory`, built without an index from clustered vectors
  /// (`in/base.fvecs`).
  private func builtStore(
    in directory: TemporaryDirectory, rows: Int, columns: Int, clusters: Int, seed: UInt64
  ) throws -> String {
    directory.write(
      Fixtures.fvecsBytes(
        Fixtures.clusteredMatrix(rows: rows, columns: columns, clusters: clusters, seed: seed)),
      to: "in/base.fvecs")
    let store = directory.file("s.lmdb")
    let built = try TripIndexExecutable.run([
      "build", directory.file("in"), "--store", store, "--quiet",
    ])
    #expect(built.status == 0, "\(built.stderr)")
    return store
  }

  @Test(
    "an index measured slower than exact search is skipped by query unless asked for; a rebuild measures again"
  )
  func slowIndexSkipped() throws {
    let directory = TemporaryDirectory()
    let store = try builtStore(in: directory, rows: 3000, columns: 16, clusters: 30, seed: 2)
    directory.write(
      Fixtures.fvecsBytes(Fixtures.clusteredMatrix(rows: 3, columns: 16, clusters: 30, seed: 3)),
      to: "probes.fvecs")
    #expect(try TripIndexExecutable.run(["index", "--store", store]).status == 0)
    // Whatever `index` measured here, pretend the index was 5× slower than exact search.
    try VectorStore.open(path: store).setMetadata(LSHIndex.speedKey, "500 100")
    /// `method` and `method_reason` of the first probe's JSON line.
    func method(_ extra: [String]) throws -> String {
      let outcome = try TripIndexExecutable.run(
        ["query", directory.file("probes.fvecs"), "-k", "3", "--store", store, "--json"] + extra)
      #expect(outcome.status == 0, "\(outcome.stderr)")
      let first = try #require(try json(outcome.stdout).first)
      let kind = try #require(first["method"] as? String)
      return (first["method_reason"] as? String).map { "\(kind) \($0)" } ?? kind
    }
    /// The table's first line, which says the method in words.
    func described(_ extra: [String]) throws -> String {
      let outcome = try TripIndexExecutable.run(
        ["query", directory.file("probes.fvecs"), "-k", "3", "--store", store] + extra)
      #expect(outcome.status == 0, "\(outcome.stderr)")
      return String(outcome.stdout.split(separator: "\n").first ?? "")
    }
    #expect(try method([]) == "exact index-slower-than-exact")
    #expect(
      try described([]).contains(
        "exact (the LSH index measured 500.0 µs/query against 100.0 µs for exact search"))
    #expect(try method(["--lsh"]) == "lsh")
    #expect(try described(["--lsh"]).contains("lsh pstable"))
    #expect(try method(["--probes", "2"]) == "lsh")
    #expect(try method(["--exact"]) == "exact")
    // An index 1.25× faster than exact search: used unfiltered and under a filter passing 90% of
    // the items (predicted 88.9 µs), not under one passing 70% (about 114 µs against 100).
    try VectorStore.open(path: store).setMetadata(LSHIndex.speedKey, "80 100")
    #expect(try method([]) == "lsh")
    #expect(try method(["--where", "id >= 300"]) == "lsh")
    #expect(try method(["--where", "id < 2100"]) == "exact filter-slower-than-exact")
    #expect(
      try described(["--where", "id < 2100"]).contains(
        "exact (with a filter passing 70.0% of the items the LSH index would take about 114.3 µs/query"
      ))
    #expect(try method(["--where", "id < 2100", "--lsh"]) == "lsh")
    // The probe exclusions search exactly unless the index is asked for.
    let labels = directory.write("name,pid,camera\na,1,1\nb,2,2\nc,3,3\n", to: "probes.csv")
    let exclusion = ["--probe-labels", labels, "--exclude-same-camera"]
    #expect(try method(exclusion) == "exact exclusions-search-exactly")
    #expect(try described(exclusion).contains("exact (a probe's own camera or pid"))
    #expect(try method(exclusion + ["--lsh"]) == "lsh")
    // Rebuilding the index (here through build --index) replaces the old measurement with its
    // own, as `index` does, and says what it measured.
    let rebuilt = try TripIndexExecutable.run([
      "build", directory.file("in"), "--store", store, "--index", "lsh", "--tables", "4", "--quiet",
    ])
    #expect(rebuilt.status == 0, "\(rebuilt.stderr)")
    #expect(rebuilt.stdout.contains("µs/query on one thread, exact search"), "\(rebuilt.stdout)")
    let measured = try VectorStore.open(path: store, readOnly: true).metadata(LSHIndex.speedKey)
    #expect(measured != nil && measured != "80 100")
    #expect(try described(["--lsh"]).contains("lsh pstable L4"))
  }

  @Test(
    "a build into an indexed store packs the index's tables again; a delete leaves that to index --pack"
  )
  func buildPacksAgain() throws {
    let directory = TemporaryDirectory()
    let store = try builtStore(in: directory, rows: 1000, columns: 8, clusters: 10, seed: 7)
    #expect(try TripIndexExecutable.run(["index", "--store", store, "--tables", "4"]).status == 0)
    /// The tables the store holds packed (`info --json`'s `lsh.packed` entries).
    func packedTables() throws -> Int? {
      try TripIndexExecutable.entries(of: LSHIndex.packedName, inStore: store)
    }
    #expect(try packedTables() == 4)
    directory.write(
      Fixtures.fvecsBytes(Fixtures.clusteredMatrix(rows: 200, columns: 8, clusters: 10, seed: 8)),
      to: "more/extra.fvecs")
    let added = try TripIndexExecutable.run([
      "build", directory.file("more"), "--store", store, "--batch", "50",
    ])
    #expect(added.status == 0, "\(added.stderr)")
    #expect(try packedTables() == 4, "packed again when the build ended")
    #expect(try TripIndexExecutable.run(["check", "--store", store, "--quiet"]).status == 0)
    let deleted = try TripIndexExecutable.run(["delete", "--ids", "3", "--store", store])
    #expect(deleted.status == 0, "\(deleted.stderr)")
    #expect(try packedTables() == 0)
    // Queries read the tables meanwhile, and find what the build added.
    let query = try TripIndexExecutable.run([
      "query", directory.file("more/extra.fvecs"), "--store", store, "-k", "1", "--lsh", "--json",
    ])
    #expect(query.status == 0, "\(query.stderr)")
    #expect(query.stdout.split(separator: "\n").count == 200)
    #expect(query.stdout.split(separator: "\n").allSatisfy { $0.contains("\"distance\": 0.0}") })
    // The delete said how to restore the copy; `index --pack` does it, keeping the index's
    // build and measured speed.
    #expect(
      deleted.stderr.contains("`tripindex index --pack` packs them again"), "\(deleted.stderr)")
    let measured = try VectorStore.open(path: store, readOnly: true).metadata(LSHIndex.speedKey)
    let packed = try TripIndexExecutable.run(["index", "--pack", "--store", store])
    #expect(packed.status == 0, "\(packed.stderr)")
    #expect(packed.stdout.contains("4 LSH tables packed again for reading"), "\(packed.stdout)")
    #expect(try packedTables() == 4)
    #expect(
      try VectorStore.open(path: store, readOnly: true).metadata(LSHIndex.speedKey) == measured)
    let again = try TripIndexExecutable.run(["index", "--pack", "--store", store])
    #expect(again.status == 0 && again.stdout.contains("already packed"), "\(again.stdout)")
    #expect(try TripIndexExecutable.run(["check", "--store", store, "--quiet"]).status == 0)
    let both = try TripIndexExecutable.run(["index", "--pack", "--drop", "--store", store])
    #expect(both.status != 0 && both.stderr.contains("--pack and --drop exclude each other"))
    let other = TemporaryDirectory()
    let bare = try builtStore(in: other, rows: 100, columns: 8, clusters: 2, seed: 3)
    let none = try TripIndexExecutable.run(["index", "--pack", "--store", bare])
    #expect(none.status != 0 && none.stderr.contains("has no LSH index to pack"), "\(none.stderr)")
  }

  @Test("check --repair writes a damaged or stale packed copy again, keeping the index's speed")
  func repairRepacksOnly() throws {
    let directory = TemporaryDirectory()
    let store = try builtStore(in: directory, rows: 1000, columns: 8, clusters: 10, seed: 7)
    #expect(try TripIndexExecutable.run(["index", "--store", store, "--tables", "3"]).status == 0)
    func speed() throws -> String? {
      try VectorStore.open(path: store, readOnly: true).metadata(LSHIndex.speedKey)
    }
    let measured = try #require(try speed())
    // Table 1's copy as the first format wrote it: never read, and reported.
    do {
      let environment = try Environment.open(path: store)
      let packed = try environment.table(
        named: LSHIndex.packedName, layout: [.integerKeys], creating: false)
      try environment.write { txn in
        var bytes = Array(try #require(try txn.value(forKey: IntegerKey(1), in: packed)))
        bytes.replaceSubrange(0..<8, with: Array("TIPACK01".utf8))
        try txn.put(bytes, forKey: IntegerKey(1), in: packed)
      }
    }
    let quiet = SilentProgress()
    let found = try StoreCheck.run(storePath: store, repair: false, progress: quiet)
    #expect(found.found.map(\.database) == [LSHIndex.packedName], "\(found.found)")
    let repaired = try StoreCheck.run(storePath: store, repair: true, progress: quiet)
    #expect(repaired.isSound, "\(repaired.remaining)")
    #expect(
      repaired.repaired.map(\.description).contains(
        "LSH index: packed copy written again from the tables"),
      "\(repaired.repaired)")
    #expect(try speed() == measured, "the index's build and measured speed are kept")
    #expect(try StoreCheck.run(storePath: store, repair: false, progress: quiet).isSound)
  }

  @Test(
    "a search's expected time follows the index's recorded speed and the method the plan would choose; nothing is predicted for a filter, exclusions, probing settings, or a store without a record"
  )
  func expectedSearchTime() throws {
    let directory = TemporaryDirectory()
    let store = try builtStore(in: directory, rows: 1000, columns: 8, clusters: 10, seed: 7)
    /// The expected seconds for `probes` probes, from a session opened for the question alone
    /// (one LMDB environment per store and process at a time).
    func expected(_ probes: Int, _ change: (inout Query.SearchOptions) -> Void = { _ in }) throws
      -> Double?
    {
      var options = Query.SearchOptions(k: 5)
      change(&options)
      return try SearchSession(storePath: store, readOnly: true)
        .expectedSearchSeconds(probes: probes, options: options)
    }
    #expect(try expected(3) == nil, "no index")
    #expect(try TripIndexExecutable.run(["index", "--store", store]).status == 0)
    try VectorStore.open(path: store).setMetadata(LSHIndex.speedKey, "80 200")
    #expect(abs(try #require(try expected(3)) - 240e-6) < 1e-12, "the index, 80 µs a probe")
    #expect(abs(try #require(try expected(3) { $0.exact = true }) - 600e-6) < 1e-12)
    // An index measured slower than exact search is put aside unless asked for.
    try VectorStore.open(path: store).setMetadata(LSHIndex.speedKey, "500 100")
    #expect(abs(try #require(try expected(2)) - 200e-6) < 1e-12, "exact, 100 µs a probe")
    #expect(abs(try #require(try expected(2) { $0.forceIndex = true }) - 1000e-6) < 1e-12)
    #expect(try expected(2) { $0.filter = try? ItemFilter.parse("id < 10") } == nil)
    #expect(try expected(2) { $0.probesPerTable = 3 } == nil)
    #expect(try expected(2) { $0.candidateBudget = 100 } == nil)
    #expect(try expected(2) { $0.excludeJunk = true } == nil)
    #expect(try expected(2) { $0.excludeSameCamera = true } == nil)
    try VectorStore.open(path: store).setMetadata(LSHIndex.speedKey, "not a speed")
    #expect(try expected(2) == nil, "a malformed record")
  }

  @Test(
    "query --json gives an LSH search's counters: buckets read (at least one per table), codes scanned, exact distances; an exact search has none"
  )
  func searchCounters() throws {
    let directory = TemporaryDirectory()
    directory.write(
      Fixtures.fvecsBytes(Fixtures.clusteredMatrix(rows: 4000, columns: 16, clusters: 30, seed: 4)),
      to: "in/base.fvecs")
    let probes = directory.write(
      Fixtures.fvecsBytes(Fixtures.clusteredMatrix(rows: 20, columns: 16, clusters: 30, seed: 5)),
      to: "probes.fvecs")
    let store = directory.file("s.lmdb")
    #expect(
      try TripIndexExecutable.run([
        "build", directory.file("in"), "--store", store, "--index", "lsh", "--tables", "4",
        "--quiet",
      ]).status == 0)
    var meanBuckets: [Double] = []
    for probesPerTable in ["1", "6"] {
      let outcome = try TripIndexExecutable.run([
        "query", probes, "-k", "5", "--store", store, "--json", "--lsh", "--probes", probesPerTable,
      ])
      #expect(outcome.status == 0, "\(outcome.stderr)")
      let lines = try json(outcome.stdout)
      #expect(lines.count == 20)
      var total = 0
      for line in lines {
        let buckets = try #require(line["buckets_read"] as? Int)
        let codes = try #require(line["codes_scanned"] as? Int)
        let exact = try #require(line["exact_distances"] as? Int)
        #expect(line["candidates"] as? Int == codes)
        #expect(buckets >= 1 && exact >= 5 && exact <= codes, "\(line)")
        total += buckets
      }
      meanBuckets.append(Double(total) / 20)
    }
    // More probes per table read more buckets: at most one per table with one probe (unless too
    // few items were found), more with six.
    #expect(meanBuckets[0] <= 4.5 && meanBuckets[1] > meanBuckets[0], "\(meanBuckets)")
    let exact = try TripIndexExecutable.run([
      "query", probes, "-k", "5", "--store", store, "--json", "--exact",
    ])
    for line in try json(exact.stdout) {
      #expect(line["buckets_read"] == nil && line["codes_scanned"] == nil)
    }
  }

  @Test(
    "index --family itq: K given sets m (K bits rotate the top K components), the index finds what exact search finds and passes check; K above m is refused by name"
  )
  func itqIndexFromTheCommandLine() throws {
    let directory = TemporaryDirectory()
    let store = try builtStore(in: directory, rows: 3000, columns: 16, clusters: 20, seed: 8)
    // Fresh points of the same clusters: the same seed's later draws.
    let drawn = Fixtures.clusteredMatrix(rows: 3040, columns: 16, clusters: 20, seed: 8)
    let probes = directory.write(
      Fixtures.fvecsBytes(
        Matrix(rows: 40, columns: 16, values: Array(drawn.values[(3000 * 16)...]))),
      to: "probes.fvecs")
    let indexed = try TripIndexExecutable.run([
      "index", "--store", store, "--family", "itq", "--bits", "6", "--tables", "4", "--probes",
      "8",
    ])
    #expect(indexed.status == 0, "\(indexed.stderr)")
    let info = try TripIndexExecutable.run(["info", "--store", store])
    #expect(info.stdout.contains("index: lsh itq L4 K6 m6 T8"), "\(info.stdout)")
    func neighbours(_ method: String) throws -> [[Int]] {
      let outcome = try TripIndexExecutable.run([
        "query", probes, "-k", "5", "--store", store, "--json", method,
      ])
      #expect(outcome.status == 0, "\(outcome.stderr)")
      return try json(outcome.stdout).map { line in
        try #require(line["neighbors"] as? [[String: Any]]).compactMap { $0["id"] as? Int }
      }
    }
    let (approximate, exact) = (try neighbours("--lsh"), try neighbours("--exact"))
    let found = zip(approximate, exact).map { Set($0).intersection($1).count }.reduce(0, +)
    #expect(Double(found) >= 0.9 * 40 * 5, "\(found) of 200")
    #expect(try TripIndexExecutable.run(["check", "--store", store, "--quiet"]).status == 0)
    let refused = try TripIndexExecutable.run([
      "index", "--store", store, "--family", "itq", "--bits", "12", "--hash-dimensions", "8",
    ])
    #expect(refused.status == 1)
    #expect(refused.stderr.contains("must be in 1…8 for ITQ tables"), "\(refused.stderr)")
  }

  @Test(
    "tune's verdict on a built index under the target: within B's sampling error it says so and keeps quiet about running again; beyond it, says to"
  )
  func shortfallNote() {
    func built(recall: Double, standardError: Double) -> LSHTuner.Measurement {
      LSHTuner.Measurement(
        configuration: LSHConfiguration.defaults(for: .itq), queries: 400, recall: recall,
        recallStandardError: standardError, microsecondsPerQuery: 80, candidates: 1500,
        exactDistances: 37)
    }
    #expect(Tune.shortfallNote(built(recall: 0.9, standardError: 0.01), target: 0.9).isEmpty)
    #expect(Tune.shortfallNote(built(recall: 0.93, standardError: 0.01), target: 0.9).isEmpty)
    let near = Tune.shortfallNote(built(recall: 0.89925, standardError: 0.007), target: 0.9)
    #expect(
      near
        == "; that is 0.001 below the target 0.90 on these 400 queries, within their sampling error (± 0.012)"
    )
    let far = Tune.shortfallNote(built(recall: 0.85, standardError: 0.007), target: 0.9)
    #expect(far.contains("run tune again") && far.contains("below the target 0.90"))
  }

  @Test("queries through a tuned index reach the recall tune promised, on probes it never saw")
  func tunedRecall() throws {
    let directory = TemporaryDirectory()
    let data = Fixtures.clusteredMatrix(rows: 6200, columns: 24, clusters: 60, seed: 31)
    directory.write(
      Fixtures.fvecsBytes(
        Matrix(rows: 6000, columns: 24, values: Array(data.values[..<(6000 * 24)]))),
      to: "in/base.fvecs")
    let probes = directory.write(
      Fixtures.fvecsBytes(
        Matrix(rows: 200, columns: 24, values: Array(data.values[(6000 * 24)...]))),
      to: "probes.fvecs")
    let store = directory.file("s.lmdb")
    let built = try TripIndexExecutable.run([
      "build", directory.file("in"), "--store", store, "--index", "lsh", "--quiet",
    ])
    #expect(built.status == 0, "\(built.stderr)")
    #expect(built.stdout.contains("LSH index pstable L8 K8"))
    let tuned = try TripIndexExecutable.run([
      "tune", "--store", store, "--recall", "0.9", "--sample", "150", "--json", "--quiet",
    ])
    #expect(tuned.status == 0, "\(tuned.stderr)")
    let report = try #require(
      JSONSerialization.jsonObject(with: Data(tuned.stdout.utf8)) as? [String: Any])
    let promised = try #require(report["held_out_recall"] as? Double)
    let verdict = try #require(report["search"] as? String)

    let approximate = try TripIndexExecutable.run([
      "query", probes, "-k", "10", "--store", store, "--json",
    ])
    let exact = try TripIndexExecutable.run([
      "query", probes, "-k", "10", "--store", store, "--json", "--exact",
    ])
    #expect(approximate.status == 0 && exact.status == 0)
    let found = try json(approximate.stdout)
    let truth = try json(exact.stdout)
    #expect(found.count == 200 && truth.count == 200)
    // Whatever tune chose is what queries use: the index (with candidates), or exact search.
    #expect(
      found.allSatisfy { ($0["candidates"] is Int) == (verdict == "lsh") }
        && truth.allSatisfy { $0["candidates"] == nil })
    var hits = 0
    for (approximateLine, exactLine) in zip(found, truth) {
      let neighbors = try #require(approximateLine["neighbors"] as? [[String: Any]])
      let reference = try #require(exactLine["neighbors"] as? [[String: Any]])
      let kth = try #require(reference.last?["distance"] as? Double)
      hits +=
        neighbors.filter { ($0["distance"] as? Double ?? .infinity) <= kth * (1 + 1e-5) + 1e-6 }
        .count
    }
    let recall = Double(hits) / 2000
    #expect(recall >= promised - 0.03, "recall \(recall), tune promised \(promised)")
    #expect(recall >= 0.87)
    // info names the index, its settings and tune's verdict.
    let info = try TripIndexExecutable.run(["info", "--store", store, "--json"])
    let described = try #require(
      JSONSerialization.jsonObject(with: Data(info.stdout.utf8)) as? [String: Any])
    let tune = try #require(described["tune"] as? String)
    #expect(tune.hasPrefix(verdict + ": ") && tune.contains("(target recall@10 0.9, 20"), "\(tune)")
    let index = described["index"] as? [String: Any]
    #expect((index?["kind"] as? String == "lsh") == (verdict == "lsh"), "\(info.stdout)")
    let databases = try #require(described["databases"] as? [[String: Any]])
    #expect(
      databases.contains { $0["name"] as? String == "vectors" && ($0["bytes"] as? Int ?? 0) > 0 })
    #expect(described["schema"] as? Int == 3 && described["model"] is NSNull)
  }

  @Test("tune answers 'exact' where no LSH setting beats exact search, and drops the index")
  func tuneChoosesExact() throws {
    let directory = TemporaryDirectory()
    // 800 items: a scan takes a few microseconds, no index can be 1.2x faster.
    let data = Fixtures.clusteredMatrix(rows: 800, columns: 24, clusters: 20, seed: 3)
    let store = try indexedStore(data, in: directory)
    let tuned = try TripIndexExecutable.run([
      "tune", "--store", store, "--recall", "0.9", "--sample", "60", "--quiet",
    ])
    #expect(tuned.status == 0, "\(tuned.stderr)")
    #expect(tuned.stdout.contains("\nexact: "), "\(tuned.stdout)")
    let info = try TripIndexExecutable.run(["info", "--store", store, "--json"])
    #expect(info.status == 0, "\(info.stderr)")
    let described = try #require(
      JSONSerialization.jsonObject(with: Data(info.stdout.utf8)) as? [String: Any])
    #expect(described["index"] is NSNull, "\(info.stdout)")
    #expect((described["tune"] as? String)?.hasPrefix("exact: ") == true, "\(info.stdout)")
    let probe = directory.write(
      Fixtures.fvecsBytes(Matrix(rows: 1, columns: 24, values: Array(data.values[0..<24]))),
      to: "probe.fvecs")
    let found = try TripIndexExecutable.run(["query", probe, "--store", store, "--json"])
    #expect(found.status == 0 && !found.stdout.contains("candidates"), "\(found.stdout)")
  }

  @Test("a damaged index can be dropped or rebuilt; queries refuse it with advice")
  func damagedIndexCanBeReplaced() throws {
    let directory = TemporaryDirectory()
    let data = Fixtures.clusteredMatrix(rows: 1000, columns: 16, clusters: 20, seed: 4)
    let store = try indexedStore(data, in: directory)
    // Damage the index parameters with python-free means: rebuild the store's config value.
    try damageIndexConfig(store)
    let query = try TripIndexExecutable.run([
      "query", directory.file("in/base.fvecs"), "--store", store, "-k", "1",
    ])
    #expect(query.status != 0 && query.stderr.contains("rebuild"), "\(query.stderr)")
    let info = try TripIndexExecutable.run(["info", "--store", store])
    #expect(info.status == 0 && info.stdout.contains("index: cannot be used: "), "\(info.stderr)")
    let rebuilt = try TripIndexExecutable.run(["index", "--store", store])
    #expect(rebuilt.status == 0, "\(rebuilt.stderr)")
    try damageIndexConfig(store)
    let dropped = try TripIndexExecutable.run(["index", "--store", store, "--drop"])
    #expect(dropped.status == 0, "\(dropped.stderr)")
    let after = try TripIndexExecutable.run([
      "query", directory.file("in/base.fvecs"), "--store", store, "-k", "1", "--json",
    ])
    #expect(after.status == 0 && !after.stdout.contains("candidates"))
  }

  /// Writes `data` to `in/base.fvecs` and builds a store of it with an LSH index at the default
  /// settings; returns the store's path.
  private func indexedStore(_ data: Matrix, in directory: TemporaryDirectory) throws -> String {
    directory.write(Fixtures.fvecsBytes(data), to: "in/base.fvecs")
    let store = directory.file("s.lmdb")
    let built = try TripIndexExecutable.run([
      "build", directory.file("in"), "--store", store, "--index", "lsh", "--quiet",
    ])
    #expect(built.status == 0, "\(built.stderr)")
    return store
  }

  /// Overwrites the stored LSH configuration with text that is not JSON.
  private func damageIndexConfig(_ path: String) throws {
    let store = try VectorStore.open(path: path)
    let parameters = try store.engine.table(named: "lsh.params", layout: [], creating: false)
    try store.engine.write { txn in
      try txn.put(Array("{not json".utf8), forKey: "config", in: parameters)
    }
  }
}
