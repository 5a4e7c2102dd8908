import Benchmark
import BenchmarkSupport
import Foundation
import TripIndex

/// The LSH index's parts on 100k × 128 clustered vectors (as make_clustered.py draws them):
/// hashing (projection onto the principal components, then every table's code), bucket lookup,
/// and the end-to-end query (candidates, sketch bounds, exact re-rank) at the default settings.
/// The FAISS comparison on real image patches is scripts/compare_lsh_faiss.py.
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
    "bucket lookup: 8 tables x 1,024 home codes over 100k ids"
  ) { benchmark in
    let fixture = try LSHFixture.shared()
    var total = 0
    benchmark.startMeasurement()
    for (table, map) in fixture.maps.enumerated() {
      for code in fixture.homeCodes[table] { total += map.bucket(code).count }
    }
    benchmark.stopMeasurement()
    blackHole(total)
  }

  for threads in [1, 2] {
    Benchmark(
      "LSH query end to end: 1,024 probes, k 10, default settings, \(threads) thread(s)"
    ) { benchmark in
      let fixture = try LSHFixture.shared()
      try fixture.store.read { snapshot in
        let searcher = try fixture.index.searcher(in: snapshot)
        benchmark.startMeasurement()
        blackHole(searcher.search(fixture.queries, k: 10, threads: threads))
        benchmark.stopMeasurement()
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
  let maps: [BucketMap]
  let homeCodes: [[UInt64]]

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
    // Tables as plain bucket maps over the base's home codes, and the queries' home codes.
    let hasher = index.hasher
    let dimensions = index.configuration.hashDimensions
    func homeCodes(of vectors: Matrix) -> [[UInt64]] {
      let projected = index.transform.project(vectors)
      let width = projected.columns
      var codes = [UInt64](repeating: 0, count: hasher.tables)
      var perTable = [[UInt64]](repeating: [], count: hasher.tables)
      projected.values.withUnsafeBufferPointer { values in
        for row in 0..<projected.rows {
          codes.withUnsafeMutableBufferPointer { codes in
            hasher.codes(
              UnsafeBufferPointer(rebasing: values[(row * width)..<(row * width + dimensions)]),
              into: codes)
          }
          for table in 0..<hasher.tables { perTable[table].append(codes[table]) }
        }
      }
      return perTable
    }
    let baseCodes = homeCodes(of: base)
    self.maps = baseCodes.map { codes in
      var builder = BucketMap.Builder(expectedBuckets: 4096)
      for (id, code) in codes.enumerated() { builder.append(code: code, id: UInt32(id)) }
      return builder.finish()
    }
    self.homeCodes = homeCodes(of: queries)
    self.store = store
    self.index = index
    self.queries = queries
    self.transform = index.transform
  }

  deinit { try? FileManager.default.removeItem(atPath: directory) }
}
