import Benchmark
import BenchmarkSupport
import Foundation
import TripIndex
import VectorMath
import VectorStore

/// Ingest and exact-query throughput on 100k × 128 clustered vectors (the FAISS comparison's size).
let benchmarks: @Sendable () -> Void = {
  Benchmark.defaultConfiguration = .init(
    metrics: [.wallClock, .throughput, .peakMemoryResident], maxDuration: .seconds(5),
    maxIterations: 20)

  Benchmark("ingest 10k x 128 in batches of 1024") { benchmark in
    let directory = NSTemporaryDirectory() + "tripindex-bench-ingest-\(UUID().uuidString)"
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let store = try VectorStore.openOrCreate(path: directory, dimension: 128, metric: .l2)
    let data = Fixture.shared.ingest
    let names = (0..<data.rows).map { "item-\($0)" }
    benchmark.startMeasurement()
    try data.values.withUnsafeBufferPointer { values in
      for start in stride(from: 0, to: data.rows, by: 1024) {
        let end = min(start + 1024, data.rows)
        _ = try store.write { writer in
          try writer.upsert(
            names: Array(names[start..<end]), labels: Array(repeating: .none, count: end - start),
            vectors: UnsafeBufferPointer(rebasing: values[(start * 128)..<(end * 128)]))
        }
      }
    }
    benchmark.stopMeasurement()
  }

  for probes in [1, 64, 1024] {
    Benchmark(
      "exact query \(probes) probes x 100k x 128, k 10"
    ) { benchmark in
      let store = try Fixture.shared.store()
      let queries = Matrix(
        rows: probes, columns: 128, values: Array(Fixture.shared.queries.values[..<(probes * 128)]))
      try store.read { snapshot in
        benchmark.startMeasurement()
        blackHole(snapshot.exactSearch.search(queries, k: 10))
        benchmark.stopMeasurement()
      }
    }
  }
}

/// Data made once per process: a seeded clustered base in a store, and queries.
final class Fixture: @unchecked Sendable {
  static let shared = Fixture()
  let ingest = ClusteredData.make(rows: 10_000, seed: 1)
  let queries = ClusteredData.make(rows: 1024, seed: 2)
  private var opened: VectorStore?
  private let directory = NSTemporaryDirectory() + "tripindex-bench-store-\(getpid())"

  func store() throws -> VectorStore {
    if let opened { return opened }
    let store = try VectorStore.openOrCreate(path: directory, dimension: 128, metric: .l2)
    if try store.count() == 0 {
      let base = ClusteredData.make(rows: 100_000, seed: 3)
      let names = (0..<base.rows).map { "base-\($0)" }
      try base.values.withUnsafeBufferPointer { values in
        _ = try store.write { writer in
          try writer.upsert(
            names: names, labels: Array(repeating: .none, count: base.rows), vectors: values)
        }
      }
    }
    opened = store
    return store
  }

  deinit { try? FileManager.default.removeItem(atPath: directory) }
}
