import Benchmark
import BenchmarkSupport
import Foundation
import LSHIndex
import TripIndex
import VectorMath
import VectorStore

/// The LSH index's parts on 100k × 128 clustered vectors (as make_clustered.py draws them):
/// hashing (projection onto the principal components, then every table's code), a single probe
/// through the index used in place (open a searcher, read the buckets from the map, re-rank),
/// and the end-to-end query at the default settings. The side-by-side comparison with FAISS,
/// hnswlib, Annoy and FALCONN on several data sets is scripts/ann_suite.py.
let benchmarks: @Sendable () -> Void = {
  Benchmark.defaultConfiguration = .init(
    metrics: [.wallClock, .throughput, .peakMemoryResident], maxDuration: .seconds(5),
    maxIterations: 1000)

  for family in HashFamily.allCases {
    Benchmark(
      "hash 1,024 probes: project to 32 components + L8 codes (\(family.rawValue))"
    ) { benchmark in
      let fixture = try LSHFixture.shared()
      let hasher = BucketHasher(
        family: family, tables: 8,
        hashesPerTable: LSHConfiguration.defaults(for: family).hashesPerTable, dimensions: 8,
        bucketWidth: 50, seed: 1)
      var codes = [UInt64](repeating: 0, count: 8)
      benchmark.startMeasurement()
      let projected = fixture.transform.project(fixture.queries)
      projected.values.withUnsafeBufferPointer { values in
        codes.withUnsafeMutableBufferPointer { codes in
          for row in 0..<projected.rows {
            hasher.codes(
              UnsafeBufferPointer(rebasing: values[(row * 32)..<(row * 32 + 8)]), into: codes)
          }
        }
      }
      benchmark.stopMeasurement()
      blackHole(codes)
    }
  }

  Benchmark(
    "one probe in place: open a searcher in a snapshot and answer k 10 (no loading)"
  ) { benchmark in
    let fixture = try LSHFixture.shared()
    let probe = Matrix(
      rows: 1, columns: 128, values: Array(fixture.queries.values[0..<128]))
    benchmark.startMeasurement()
    try fixture.store.read { snapshot in
      blackHole(
        try fixture.index.withSearcher(in: snapshot) { try $0.search(probe, k: 10, threads: 1) })
    }
    benchmark.stopMeasurement()
  }

  for threads in [1, 2] {
    Benchmark(
      "LSH query end to end: 1,024 probes, k 10, default settings, \(threads) thread(s)"
    ) { benchmark in
      let fixture = try LSHFixture.shared()
      try fixture.store.read { snapshot in
        try fixture.index.withSearcher(in: snapshot) { searcher in
          benchmark.startMeasurement()
          blackHole(try searcher.search(fixture.queries, k: 10, threads: threads))
          benchmark.stopMeasurement()
        }
      }
    }
  }

  Benchmark(
    "exact query for comparison: 1,024 probes, k 10, 2 threads"
  ) { benchmark in
    let fixture = try LSHFixture.shared()
    try fixture.store.read { snapshot in
      benchmark.startMeasurement()
      blackHole(snapshot.exactSearch.search(fixture.queries, k: 10))
      benchmark.stopMeasurement()
    }
  }
}

/// A seeded clustered store with an LSH index at the default settings, made once per process.
final class LSHFixture: @unchecked Sendable {
  nonisolated(unsafe) private static var made: LSHFixture?
  static func shared() throws -> LSHFixture {
    if let made { return made }
    let fixture = try LSHFixture()
    made = fixture
    return fixture
  }

  let directory = NSTemporaryDirectory() + "tripindex-bench-lsh-\(getpid())"
  let store: VectorStore
  let index: LSHIndex
  let queries: Matrix
  let transform: DataTransform

  init() throws {
    let base = ClusteredData.make(rows: 100_000, seed: 3)
    let queries = ClusteredData.make(rows: 1024, seed: 2)
    let store = try VectorStore.openOrCreate(path: directory, dimension: 128, metric: .l2)
    try base.values.withUnsafeBufferPointer { values in
      _ = try store.write { writer in
        try writer.upsert(
          names: (0..<base.rows).map { "base-\($0)" },
          labels: Array(repeating: .none, count: base.rows), vectors: values)
      }
    }
    let index = try LSHIndex.build(on: store, configuration: .defaults(for: .pstable))
    self.store = store
    self.index = index
    self.queries = queries
    self.transform = index.model.transform
  }

  deinit { try? FileManager.default.removeItem(atPath: directory) }
}
