import Foundation
import TestSupport
import Testing
import TripIndex
import VectorMath

/// Exact search's product shape, chosen per machine: `info --blas` measures the candidates and
/// caches the fastest; `TRIPINDEX_SCAN_SHAPE` forces one (every one answers alike) and a
/// malformed value is refused. Run through the tool, so the cache folder and the environment
/// are the child's own.
@Suite struct ScanShapeChoiceTests {
  @Test(
    "info --blas measures every shape, names the kernels and the sgemm speed, and caches the choice per dimension"
  )
  func infoBLAS() throws {
    let directory = TemporaryDirectory()
    let environment = ["TRIPINDEX_CACHE_DIR": directory.file("cache")]
    let outcome = try TripIndexExecutable.run(
      ["info", "--blas", "--dimension", "192", "--json"], environment: environment)
    #expect(outcome.status == 0, "\(outcome.stderr)")
    let report = try #require(
      try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any])
    let shapes = try #require(report["scan_shapes"] as? [[String: Any]])
    #expect(shapes.compactMap { $0["shape"] as? String } == ScanShape.candidates.map(\.description))
    #expect(shapes.allSatisfy { ($0["gflops"] as? Double ?? 0) > 0 })
    #expect((report["sgemm_gflops_one_thread"] as? Double ?? 0) > 0)
    #expect(!(report["openblas_core"] as? String ?? "").isEmpty)
    let chosen = try #require(report["chosen"] as? String)
    let cache = try String(contentsOfFile: directory.file("cache/scan-shapes.tsv"), encoding: .utf8)
    let lines = cache.split(separator: "\n")
    #expect(lines.count == 1 && lines[0].contains("|d=192|") && lines[0].contains("\t\(chosen)\t"))
    // Another dimension adds a line; measuring the same one again replaces its line.
    for dimension in ["128", "192"] {
      let again = try TripIndexExecutable.run(
        ["info", "--blas", "--dimension", dimension], environment: environment)
      #expect(again.status == 0 && again.stdout.contains("(chosen)"), "\(again.stdout)")
    }
    let updated = try String(
      contentsOfFile: directory.file("cache/scan-shapes.tsv"), encoding: .utf8)
    #expect(updated.split(separator: "\n").count == 2)
  }

  @Test(
    "the tool shortens OpenBLAS's idle spin to 2^22 cycles at start-up, keeps a spin the user set, and multi-threaded products still run"
  )
  func idleSpin() throws {
    let directory = TemporaryDirectory()
    for (environment, expected) in [
      ([String: String](), BLASIdleThreads.defaultLog2Cycles),
      ([BLASIdleThreads.environmentName: "20"], 20),
    ] {
      let outcome = try TripIndexExecutable.run(
        ["info", "--blas", "--dimension", "16", "--json"],
        environment: environment.merging(["TRIPINDEX_CACHE_DIR": directory.file("cache")]) {
          $1
        })
      #expect(outcome.status == 0, "\(outcome.stderr)")
      let report = try #require(
        try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any])
      #expect(report["idle_spin_log2_cycles"] as? Int == expected, "\(environment)")
      // The restarted threads take work: the all-threads sgemm ran.
      #expect((report["sgemm_gflops_threads"] as? Double ?? 0) > 0)
    }
  }

  @Test(
    "query --exact answers alike under every forced shape; a malformed TRIPINDEX_SCAN_SHAPE is refused"
  )
  func forcedShapes() throws {
    let directory = TemporaryDirectory()
    let base = Fixtures.clusteredMatrix(rows: 2000, columns: 24, clusters: 20, seed: 5)
    directory.write(Fixtures.fvecsBytes(base), to: "in/base.fvecs")
    let probes = Fixtures.clusteredMatrix(rows: 200, columns: 24, clusters: 20, seed: 6)
    let probePath = directory.write(Fixtures.fvecsBytes(probes), to: "probes.fvecs")
    let store = directory.file("s.lmdb")
    let built = try TripIndexExecutable.run([
      "build", directory.file("in"), "--store", store, "--quiet",
    ])
    #expect(built.status == 0, "\(built.stderr)")
    let outputs = try (["standard"] + ScanShape.candidates.map(\.description)).map { shape in
      let outcome = try TripIndexExecutable.run(
        ["query", probePath, "--store", store, "--exact", "-k", "7", "--json"],
        environment: ["TRIPINDEX_SCAN_SHAPE": shape])
      #expect(outcome.status == 0, "\(shape): \(outcome.stderr)")
      return outcome.stdout
    }
    #expect(outputs[0].split(separator: "\n").count == 200)
    for output in outputs.dropFirst() { #expect(output == outputs[0]) }
    let refused = try TripIndexExecutable.run(
      ["query", probePath, "--store", store, "--exact"],
      environment: ["TRIPINDEX_SCAN_SHAPE": "sideways/1024"])
    #expect(refused.status == 1)
    #expect(refused.stderr.contains("TRIPINDEX_SCAN_SHAPE is 'sideways/1024'"), "\(refused.stderr)")
  }
}
