import Foundation
import TestSupport
import Testing
import VectorIO
import VectorMath
import VectorStore

@testable import LSHIndex

/// Builds a store of clustered vectors (cosine stores hold them normalised).
func clusteredStore(
  _ directory: TemporaryDirectory, rows: Int = 6000, dimension: Int = 24, metric: DistanceMetric,
  seed: UInt64 = 5
) throws -> (VectorStore, Matrix) {
  let store = try VectorStore.openOrCreate(
    path: directory.file("s-\(UUID().uuidString).lmdb"), dimension: dimension, metric: metric)
  var data = Fixtures.clusteredMatrix(rows: rows, columns: dimension, clusters: 60, seed: seed)
  _ = try data.values.withUnsafeBufferPointer { values in
    try store.write { writer in
      try writer.upsert(
        names: (0..<rows).map { "v\($0)" }, labels: Array(repeating: .none, count: rows),
        vectors: values)
    }
  }
  if metric == .cosine { data.normalizeRows() }
  return (store, data)
}

/// Recall@k of the index against exact search, for probes drawn from the same distribution.
func indexRecall(_ store: VectorStore, index: LSHIndex, data: Matrix, probes: Matrix, k: Int) throws
  -> Double
{
  try store.read { snapshot in
    let found = try index.searcher(in: snapshot).search(probes, k: k)
    let exact = snapshot.exactSearch.search(probes, k: k)
    var hits = 0
    for (approximate, truth) in zip(found, exact) {
      let kth = truth.last?.distance ?? 0
      hits += approximate.neighbors.filter { $0.distance <= kth * (1 + 1e-5) + 1e-6 }.count
    }
    return Double(hits) / Double(probes.rows * k)
  }
}

@Suite struct LSHIndexTests {
  static let families: [(HashFamily, DistanceMetric, LSHConfiguration)] = [
    (
      .pstable, .l2,
      LSHConfiguration(
        family: .pstable, tables: 8, hashesPerTable: 6, probes: 4, candidateBudget: 0)
    ),
    (
      .hyperplane, .cosine,
      LSHConfiguration(
        family: .hyperplane, tables: 10, hashesPerTable: 10, probes: 8, candidateBudget: 0)
    ),
    (
      .crosspolytope, .cosine,
      LSHConfiguration(
        family: .crosspolytope, tables: 10, hashesPerTable: 1, probes: 4, candidateBudget: 0)
    ),
  ]

  @Test(
    "each family finds at least 90% of the true 10 nearest neighbours on clustered data",
    arguments: families)
  func recallOnClusteredData(
    family: HashFamily, metric: DistanceMetric, configuration: LSHConfiguration
  ) throws {
    let directory = TemporaryDirectory()
    let (store, data) = try clusteredStore(directory, metric: metric)
    let index = try LSHIndex.build(on: store, configuration: configuration)
    var probes = Fixtures.clusteredMatrix(rows: 200, columns: 24, clusters: 60, seed: 5)
    // Fresh points near the stored clusters (same centres: same seed, later draws).
    probes = Matrix(
      rows: 200, columns: 24,
      values: Array(
        Fixtures.clusteredMatrix(rows: 6200, columns: 24, clusters: 60, seed: 5).values[
          (6000 * 24)...]))
    if metric == .cosine { probes.normalizeRows() }
    let recall = try indexRecall(store, index: index, data: data, probes: probes, k: 10)
    #expect(recall >= 0.9, "\(family.rawValue) recall \(recall)")
  }

  @Test("a crowded bucket scanned outwards gives the exact answer while bounding few candidates")
  func crowdedBucketsStayExact() throws {
    let directory = TemporaryDirectory()
    let (store, data) = try clusteredStore(directory, rows: 6000, metric: .l2)
    // One table, one hash, a huge width: every item in one bucket, far above the crowding limit.
    let configuration = LSHConfiguration(
      family: .pstable, tables: 1, hashesPerTable: 1, bucketWidth: 1e9, probes: 1,
      candidateBudget: 0)
    let index = try LSHIndex.build(on: store, configuration: configuration)
    let probes = Matrix(
      rows: 100, columns: 24,
      values: Array(
        Fixtures.clusteredMatrix(rows: 6100, columns: 24, clusters: 60, seed: 5).values[
          (6000 * 24)...]))
    let recall = try indexRecall(store, index: index, data: data, probes: probes, k: 10)
    #expect(recall == 1, "recall \(recall)")
    let candidates = try store.read { snapshot in
      try index.searcher(in: snapshot).search(probes, k: 10).map(\.candidates)
    }
    let mean = Double(candidates.reduce(0, +)) / Double(candidates.count)
    #expect(LSHSearcher.orderedBucketMinimum <= 6000 && mean < 3000, "mean candidates \(mean)")
  }

  @Test("the radix sort orders by the upper half, stably; float keys map to ordered bits")
  func radixSort() {
    var random = SeededRandom(seed: 3)
    let keys: [Float] = [-2.5, -0.0, 0, 1e-7, 3, -1e30, 7, 7]
    #expect(
      keys.map(BucketMap.sortableBits).sorted()
        == keys.sorted().map(BucketMap.sortableBits))
    var values = (0..<5000).map { index -> UInt64 in
      UInt64(random.next() % 300) << 32 | UInt64(index)
    }
    let expected = values.sorted { ($0 >> 32, $0 & 0xFFFF_FFFF) < ($1 >> 32, $1 & 0xFFFF_FFFF) }
    var spare = [UInt64](repeating: 0, count: values.count)
    values.withUnsafeMutableBufferPointer { values in
      spare.withUnsafeMutableBufferPointer { BucketMap.radixSortByHighHalf(values, spare: $0) }
    }
    #expect(values == expected)
  }

  @Test("a reopened store answers identically, and one seed gives one index")
  func deterministicAndPersistent() throws {
    let directory = TemporaryDirectory()
    let (store, _) = try clusteredStore(directory, rows: 2000, metric: .l2)
    let configuration = LSHConfiguration(family: .pstable, tables: 6, hashesPerTable: 6, seed: 42)
    let first = try LSHIndex.build(on: store, configuration: configuration)
    let probes = Fixtures.clusteredMatrix(rows: 50, columns: 24, clusters: 60, seed: 77)
    let before = try store.read { try first.searcher(in: $0).search(probes, k: 5).map(\.neighbors) }
    let reopened = try #require(try LSHIndex.open(store))
    #expect(reopened.configuration == first.configuration && reopened.hasher == first.hasher)
    #expect(reopened.transform == first.transform)
    let after = try store.read {
      try reopened.searcher(in: $0).search(probes, k: 5).map(\.neighbors)
    }
    #expect(before == after)
    let again = try LSHIndex.build(on: store, configuration: configuration)
    #expect(again.hasher == first.hasher)
  }

  @Test("inserts, updates and deletes keep the tables exactly in step with the vectors")
  func updatesStayConsistent() throws {
    let directory = TemporaryDirectory()
    let (store, _) = try clusteredStore(directory, rows: 1500, metric: .l2)
    let index = try LSHIndex.build(
      on: store, configuration: LSHConfiguration(family: .pstable, tables: 4, hashesPerTable: 4))
    let extra = Fixtures.clusteredMatrix(rows: 300, columns: 24, clusters: 60, seed: 9)
    try extra.values.withUnsafeBufferPointer { values in
      _ = try store.write { writer in
        // 200 new names, and 100 existing names with new vectors.
        let names = (0..<200).map { "new\($0)" } + (0..<100).map { "v\($0 * 7)" }
        return try writer.upsert(
          names: names, labels: Array(repeating: .none, count: 300), vectors: values)
      }
    }
    try store.write { writer in
      for victim in ["v3", "v500", "new5", "v7"] { _ = try writer.delete(name: victim) }
    }
    // Re-insert a deleted name: it gets a new id and is found once.
    _ = try [Float](repeating: 0.5, count: 24).withUnsafeBufferPointer { values in
      try store.write { writer in try writer.upsert(names: ["v3"], labels: [.none], vectors: values)
      }
    }
    try store.read { snapshot in
      // The tables hold exactly the live ids, each under the codes of its current vector.
      var expected: [Int: [(UInt64, UInt32)]] = [:]
      try snapshot.forEachItem { item, vector in
        var z = [Float](repeating: 0, count: index.transform.outputDimension)
        z.withUnsafeMutableBufferPointer { index.transform.project(vector, into: $0) }
        let codes = z.withUnsafeBufferPointer { index.model.codes(ofProjection: $0) }
        for table in codes.indices {
          expected[table, default: []].append((codes[table], UInt32(item.id)))
        }
      }
      let searcher = try index.searcher(in: snapshot)
      for table in 0..<index.configuration.tables {
        let map = searcher.maps[table]
        #expect(map.ids.count == snapshot.count)
        for (code, id) in expected[table] ?? [] {
          #expect(map.ids[map.bucket(code)].contains(id), "table \(table) lacks id \(id)")
        }
      }
      // A deleted id is never returned; the re-inserted name is found once.
      let v3 = try #require(try snapshot.id(named: "v3"))
      let probe = Matrix(rows: 1, columns: 24, values: Array(repeating: 0.5, count: 24))
      let found = searcher.search(probe, k: 20, probesPerTable: 16, candidateBudget: 0)[0].neighbors
      #expect(found.first?.id == v3 && found.first?.distance == 0)
      #expect(found.filter { $0.id == v3 }.count == 1)
      let deleted = Set([UInt64(3), 500, 7])
      let all = searcher.search(
        Fixtures.clusteredMatrix(rows: 100, columns: 24, clusters: 60, seed: 5), k: 30
      ).flatMap(\.neighbors)
      #expect(all.allSatisfy { !deleted.contains($0.id) })
    }
  }

  @Test("an index can be rebuilt with more or fewer tables, and dropped")
  func rebuildAndDrop() throws {
    let directory = TemporaryDirectory()
    let (store, _) = try clusteredStore(directory, rows: 800, metric: .l2)
    for tables in [8, 3, 12] {
      let index = try LSHIndex.build(
        on: store,
        configuration: LSHConfiguration(family: .pstable, tables: tables, hashesPerTable: 4))
      let searcher = try store.read { try index.searcher(in: $0) }
      #expect(searcher.maps.count == tables)
    }
    try LSHIndex.drop(from: store)
    #expect(try LSHIndex.open(store) == nil)
    // Without an index, writes need no attached hook.
    _ = try [Float](repeating: 1, count: 24).withUnsafeBufferPointer { values in
      try store.write { writer in
        try writer.upsert(names: ["after"], labels: [.none], vectors: values)
      }
    }
  }

  @Test("a store with an unattached index refuses changes")
  func refusesUnattachedWrites() throws {
    let directory = TemporaryDirectory()
    let path: String
    do {
      let (store, _) = try clusteredStore(directory, rows: 300, metric: .l2)
      path = store.path
      try LSHIndex.build(
        on: store, configuration: LSHConfiguration(family: .pstable, tables: 2, hashesPerTable: 4))
      store.detachIndex(named: LSHIndex.name)
      #expect {
        try [Float](repeating: 1, count: 24).withUnsafeBufferPointer { values in
          try store.write { writer in
            try writer.upsert(names: ["x"], labels: [.none], vectors: values)
          }
        }
      } throws: { "\($0)".contains("lsh index that is not attached") }
    }
    #expect(FileManager.default.fileExists(atPath: path))
  }
}
