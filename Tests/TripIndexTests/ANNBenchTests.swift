import Foundation
import TestSupport
import Testing
import TripIndex
import TripIndexTools
import VectorIO
import VectorMath

/// ann-benchmarks HDF5 files through `build`, `query` and `annbench`: the small files written by
/// Tests/VectorIOTests/Fixtures/hdf5/make_hdf5_fixtures.py with h5py (true neighbours from numpy).
@Suite struct ANNBenchTests {
  static func fixture(_ name: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("VectorIOTests/Fixtures/hdf5/\(name)").path
  }

  /// A file's matrix, as rows of doubles.
  static func rows(_ path: String, dataset: String) throws -> [[Double]] {
    let (values, dimension) = try VectorFileReader.readAll(path: path, dataset: dataset)
    return stride(from: 0, to: values.count, by: dimension).map { start in
      values[start..<(start + dimension)].map(Double.init)
    }
  }

  /// Checks a run on one of the fixtures: exact first, at least one LSH row, and every row's
  /// recall and strict recall equal to ann-benchmarks' rule recomputed here, in float64, from
  /// the train rows it returned (written to `returned`).
  static func expectRecallsRecomputed(
    _ report: ANNBench.Report, file path: String, returned folder: String
  )
    throws
  {
    let metric = report.metric == .cosine ? "angular" : "euclidean"
    #expect(report.trainRows == 600 && report.queries == 30 && report.dimension == 8)
    #expect(report.rows.first?.name == "exact")
    #expect(report.rows.count >= 2, "no LSH row was measured")

    let train = try Self.rows(path, dataset: "train")
    let test = try Self.rows(path, dataset: "test")
    let truthDistances = try Self.rows(path, dataset: "distances")
    let truthNeighbors = try Self.rows(path, dataset: "neighbors").map { $0.map { Int($0) } }
    func distance(_ a: [Double], _ b: [Double]) -> Double {
      if metric == "euclidean" {
        return zip(a, b).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot()
      }
      let dot = zip(a, b).map { $0 * $1 }.reduce(0, +)
      let norms =
        a.map { $0 * $0 }.reduce(0, +).squareRoot() * b.map { $0 * $0 }.reduce(0, +).squareRoot()
      return 1 - dot / norms
    }
    for row in report.rows {
      let returned = try Self.rows(folder + "/\(row.name).npy", dataset: "")
        .map { $0.map { Int($0) } }
      #expect(returned.count == 30)
      var recall = 0.0
      var strict = 0.0
      for query in 0..<30 {
        let threshold = truthDistances[query][9] + 1e-3
        let found = returned[query].filter { $0 >= 0 }
        recall += Double(found.filter { distance(test[query], train[$0]) <= threshold }.count) / 10
        strict +=
          Double(found.filter { Set(truthNeighbors[query].prefix(10)).contains($0) }.count) / 10
      }
      #expect(abs(row.recall - recall / 30) < 1e-12, "\(row.method)")
      #expect(abs(row.strictRecall - strict / 30) < 1e-12, "\(row.method)")
      #expect(row.queriesPerSecond > 0 && row.p50Milliseconds <= row.p99Milliseconds)
      #expect((row.indexBytes > 0) == (row.name != "exact"))
    }
  }

  @Test(
    "annbench's recall equals ann-benchmarks' rule recomputed here from the rows it returned",
    arguments: ["euclidean", "angular"])
  func recallRecomputed(metric: String) throws {
    let path = Self.fixture("annbench-\(metric).hdf5")
    let directory = TemporaryDirectory()
    var options = ANNBench.Options(path: path)
    options.recallTargets = [0.5]
    options.tuneSample = 100
    options.storePath = directory.file("store")
    options.neighborsFolder = directory.file("returned")
    let report = try ANNBench.run(options, progress: SilentProgress())
    #expect(report.metric == (metric == "angular" ? .cosine : .l2))
    try Self.expectRecallsRecomputed(report, file: path, returned: directory.file("returned"))
    #expect(report.rows[0].recall == 1 && report.rows[0].strictRecall == 1)
    let json = report.json.serialized()
    for key in [
      "\"recall\"", "\"strict_recall\"", "\"qps\"", "\"p99_ms\"", "\"index_bytes\"",
      "\"build_seconds\"",
    ] {
      #expect(json.contains(key))
    }
    #expect(report.chart.svg.contains("<svg"))
  }

  @Test("annbench refuses an existing store and a file without the datasets it needs")
  func refusals() throws {
    let directory = TemporaryDirectory()
    var options = ANNBench.Options(path: Self.fixture("annbench-euclidean.hdf5"))
    options.storePath = directory.file("store")
    _ = try Build.run(
      Build.Options(input: Self.fixture("ann-euclidean.hdf5"), storePath: directory.file("store")),
      progress: SilentProgress())
    #expect(throws: TripIndexError.self) {
      try ANNBench.run(options, progress: SilentProgress())
    }
    let layouts = ANNBench.Options(path: Self.fixture("layouts.hdf5"))
    do {
      _ = try ANNBench.run(layouts, progress: SilentProgress())
      Issue.record("layouts.hdf5 ran")
    } catch {
      #expect("\(error)".contains("distance attribute"), "\(error)")
    }
  }

  @Test("build takes train and the metric the file declares; query reads test")
  func buildAndQuery() throws {
    let directory = TemporaryDirectory()
    let store = directory.file("s.lmdb")
    let path = Self.fixture("annbench-angular.hdf5")
    let report = try Build.run(
      Build.Options(input: path, storePath: store), progress: SilentProgress())
    #expect(report.vectors == 600 && report.metric == .cosine)
    let result = try Query.run(Query.Options(probePath: path, storePath: store, k: 10, exact: true))
    #expect(result.neighbors.count == 30)
    let truth = try Self.rows(path, dataset: "neighbors").map { $0.map { Int($0) } }
    let found = result.neighbors.map {
      $0.map { Int($0.item.name.split(separator: "#").last ?? "") ?? -1 }
    }
    #expect(found == truth)

    var testOnly = Build.Options(input: path, storePath: directory.file("t.lmdb"), metric: .l2)
    testOnly.dataset = "test"
    #expect(try Build.run(testOnly, progress: SilentProgress()).vectors == 30)

    directory.write(
      Fixtures.fvecsBytes(Fixtures.randomMatrix(rows: 3, columns: 8, seed: 1)), to: "in/x.fvecs")
    var wrong = Build.Options(input: directory.file("in"), storePath: directory.file("u.lmdb"))
    wrong.dataset = "train"
    #expect(throws: TripIndexError.self) { try Build.run(wrong, progress: SilentProgress()) }
  }

  @Test(
    "without the HDF5 library, HDF5 files are refused with the reason and other files still work")
  func libraryMissing() throws {
    let directory = TemporaryDirectory()
    let missing = ["TRIPINDEX_HDF5_LIBRARY": directory.file("no-such-libhdf5.so")]
    let refused = try TripIndexExecutable.run(
      ["build", Self.fixture("ann-euclidean.hdf5"), "--store", directory.file("a.lmdb")],
      environment: missing)
    #expect(refused.status == 1 && !refused.signalled)
    #expect(refused.stderr.contains("needs the HDF5 library"), "\(refused.stderr)")
    directory.write("1 2 3\n4 5 6\n", to: "v.vec")
    let built = try TripIndexExecutable.run(
      ["build", directory.file("v.vec"), "--store", directory.file("b.lmdb"), "--quiet"],
      environment: missing)
    #expect(built.status == 0, "\(built.stderr)")
  }

  @Test("damaged HDF5 files end in an error message or in values, never in a signal")
  func mutatedFiles() throws {
    // libhdf5 trusts its files: seeded byte mutations of the superblock and object headers, and
    // truncations, go through `build`. HDF5 1.10.8 itself faults on some of them (with this seed,
    // one of the 80 runs, inside H5Dread); the tool's fault guard must turn that into an error.
    let original = try Array(Data(contentsOf: URL(fileURLWithPath: Self.fixture("layouts.hdf5"))))
    let directory = TemporaryDirectory()
    var generator = SeededRandom(seed: 3)
    var outcomes: [Int32: Int] = [:]
    for round in 0..<40 {
      var bytes = original
      if round % 4 == 0 {
        bytes.removeLast(Int(generator.next() % UInt64(bytes.count - 1)) + 1)
      } else {
        for _ in 0..<(1 + Int(generator.next() % 6)) {
          let position = Int(generator.next() % UInt64(min(bytes.count, 6_144)))
          bytes[position] = UInt8(truncatingIfNeeded: generator.next())
        }
      }
      let path = directory.write(bytes, to: "m\(round).hdf5")
      for dataset in ["plain", "by_columns_gzip"] {
        let outcome = try TripIndexExecutable.run([
          "build", path, "--dataset", dataset, "--store",
          directory.file("s\(round)\(dataset).lmdb"),
          "--quiet",
        ])
        #expect(!outcome.signalled, "m\(round) \(dataset) ended on signal \(outcome.status)")
        #expect(
          outcome.status == 0 || outcome.status == 1, "m\(round) \(dataset): \(outcome.status)")
        if outcome.status == 1 {
          #expect(outcome.stderr.hasPrefix("Error:"), "m\(round) \(dataset): \(outcome.stderr)")
        }
        outcomes[outcome.status, default: 0] += 1
      }
    }
    #expect(outcomes[0, default: 0] > 0 && outcomes[1, default: 0] > 0, "\(outcomes)")
  }
}
