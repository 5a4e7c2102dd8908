import Foundation
import StorageBackend
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

/// `rows` fresh points near the clusters of ``clusteredStore(_:rows:dimension:metric:seed:)``'s
/// first `stored` rows (the same centres: the same seed's later draws).
func freshProbes(_ rows: Int, after stored: Int) -> Matrix {
  Matrix(
    rows: rows, columns: 24,
    values: Array(
      Fixtures.clusteredMatrix(rows: stored + rows, columns: 24, clusters: 60, seed: 5).values[
        (stored * 24)...]))
}

/// Recall@k of the index against exact search, for probes drawn from the same distribution.
func indexRecall(_ store: VectorStore, index: LSHIndex, data: Matrix, probes: Matrix, k: Int) throws
  -> Double
{
  try store.read { snapshot in
    let found = try index.withSearcher(in: snapshot) { try $0.search(probes, k: k) }
    let exact = snapshot.exactSearch.search(probes, k: k)
    var hits = 0
    for (approximate, truth) in zip(found, exact) {
      let kth = truth.last?.distance ?? 0
      hits += approximate.neighbors.filter { $0.distance <= kth * (1 + 1e-5) + 1e-6 }.count
    }
    return Double(hits) / Double(probes.rows * k)
  }
}

/// Every id of a bucket as a reader returns it from a starting byte (its pages up, then down),
/// sorted, with the number of entries the reader says the bucket holds.
func wholeBucket<Reader: BucketReader>(
  _ reader: inout Reader, table: Int, code: UInt64, firstByte byte: UInt8, coder: CompactCoder
) -> (ids: [UInt64], entries: Int) {
  func ids(_ page: UnsafeRawBufferPointer) -> [UInt64] {
    (0..<(page.count / coder.entryBytes)).map { coder.id(in: page, at: $0) }
  }
  guard let (first, entries) = reader.seek(table: table, code: code, firstByte: byte)
  else { return ([], 0) }
  var found = ids(first)
  while let page = reader.nextPage(table: table) { found += ids(page) }
  while let page = reader.previousPage(table: table, code: code, firstByte: byte) {
    found += ids(page)
  }
  return (found.sorted(), entries)
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
    (
      .itq, .l2,
      LSHConfiguration(
        family: .itq, tables: 4, hashesPerTable: 12, hashDimensions: 12, probes: 4,
        candidateBudget: 0)
    ),
    (
      .itq, .cosine,
      LSHConfiguration(
        family: .itq, tables: 4, hashesPerTable: 12, hashDimensions: 12, probes: 4,
        candidateBudget: 0)
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
    var probes = freshProbes(200, after: 6000)
    if metric == .cosine { probes.normalizeRows() }
    let recall = try indexRecall(store, index: index, data: data, probes: probes, k: 10)
    #expect(recall >= 0.9, "\(family.rawValue) recall \(recall)")
  }

  @Test("a crowded bucket scanned outwards gives the exact answer while examining few entries")
  func crowdedBucketsStayExact() throws {
    let directory = TemporaryDirectory()
    let (store, data) = try clusteredStore(directory, rows: 6000, metric: .l2)
    // One table, one hash, a huge width: every item in one bucket of many pages.
    let configuration = LSHConfiguration(
      family: .pstable, tables: 1, hashesPerTable: 1, bucketWidth: 1e9, probes: 1,
      candidateBudget: 0)
    let index = try LSHIndex.build(on: store, configuration: configuration)
    let probes = freshProbes(100, after: 6000)
    let recall = try indexRecall(store, index: index, data: data, probes: probes, k: 10)
    #expect(recall == 1, "recall \(recall)")
    let results = try store.read { snapshot in
      try index.withSearcher(in: snapshot) { try $0.search(probes, k: 10) }
    }
    let entries = Double(results.map(\.candidates).reduce(0, +)) / Double(results.count)
    let exact = Double(results.map(\.exactDistances).reduce(0, +)) / Double(results.count)
    // Pages far from the probe along the first component are never read.
    #expect(entries < 4500, "mean entries examined \(entries) of 6000")
    #expect(exact < 300, "mean exact distances \(exact)")
  }

  @Test("compact codes bound the true squared distance from below", arguments: [8, 24])
  func compactCodesAreLowerBounds(sketchDimensions: Int) throws {
    let directory = TemporaryDirectory()
    let (store, data) = try clusteredStore(directory, rows: 3000, metric: .l2)
    let index = try LSHIndex.build(
      on: store,
      configuration: LSHConfiguration(
        family: .pstable, tables: 1, hashesPerTable: 2, hashDimensions: 4,
        sketchDimensions: sketchDimensions))
    let encoder = index.encoder
    var scratch = encoder.makeScratch()
    var table = [Float](repeating: 0, count: sketchDimensions * 256)
    var residual = [Float](repeating: 0, count: 256)
    // Queries inside and far outside the data's range (whose codes are the open end intervals).
    var random = SeededRandom(seed: 11)
    var queries = Fixtures.clusteredMatrix(rows: 40, columns: 24, clusters: 60, seed: 99)
    for index in queries.values.indices where index % 7 == 0 {
      queries.values[index] *= Float(1 + 20 * random.uniform())
    }
    var tightest: Float = 0
    for query in 0..<queries.rows {
      let q = Array(queries.values[(query * 24)..<((query + 1) * 24)])
      let norm = q.withUnsafeBufferPointer { encoder.project($0, into: &scratch) }
      scratch.projection.withUnsafeBufferPointer { projection in
        table.withUnsafeMutableBufferPointer { table in
          residual.withUnsafeMutableBufferPointer { residual in
            encoder.coder.queryTables(
              projection: projection, residualNorm: norm, table: table, residual: residual)
          }
        }
      }
      for row in stride(from: 0, to: data.rows, by: 7) {
        let x = Array(data.values[(row * 24)..<((row + 1) * 24)])
        x.withUnsafeBufferPointer { encoder.encode($0, id: UInt64(row), into: &scratch) }
        var bound = residual[Int(scratch.entry[sketchDimensions])]
        for column in 0..<sketchDimensions {
          bound += table[column * 256 + Int(scratch.entry[column])]
        }
        var truth: Double = 0
        for column in 0..<24 {
          truth += Double(x[column] - q[column]) * Double(x[column] - q[column])
        }
        #expect(Double(bound) <= truth * (1 + 1e-5) + 1e-6, "bound \(bound) > \(truth)")
        if truth > 0 { tightest = max(tightest, Float(Double(bound) / truth)) }
      }
    }
    // Not vacuous: some bounds come close to the truth.
    #expect(tightest > 0.5, "tightest bound ratio \(tightest)")
  }

  @Test("a k beyond what the buckets hold still returns min(k, count) items, exactly ordered")
  func largeKReturnsEverything() throws {
    let directory = TemporaryDirectory()
    let (store, _) = try clusteredStore(directory, rows: 700, metric: .l2)
    let index = try LSHIndex.build(
      on: store,
      configuration: LSHConfiguration(
        family: .pstable, tables: 2, hashesPerTable: 12, bucketWidth: 0.01, probes: 1))
    let probes = Fixtures.clusteredMatrix(rows: 3, columns: 24, clusters: 60, seed: 31)
    try store.read { snapshot in
      let found = try index.withSearcher(in: snapshot) { try $0.search(probes, k: 2000) }
      let exact = snapshot.exactSearch.search(probes, k: 700)
      for (approximate, truth) in zip(found, exact) {
        #expect(approximate.neighbors.count == 700)
        #expect(Set(approximate.neighbors.map(\.id)) == Set(truth.map(\.id)))
        let distances = approximate.neighbors.map(\.distance)
        #expect(zip(distances, distances.dropFirst()).allSatisfy { $0 <= $1 })
      }
      let some = try index.withSearcher(in: snapshot) { try $0.search(probes, k: 50) }
      #expect(some.allSatisfy { $0.neighbors.count == 50 })
    }
  }

  @Test(
    "values up to the norm limit hash to the outermost buckets: no trap, and they are found; beyond it they are refused",
    arguments: [Float(1e18), 4.5e18])
  func hugeValues(value: Float) throws {
    let directory = TemporaryDirectory()
    let (store, _) = try clusteredStore(directory, rows: 500, metric: .l2)
    var huge = [Float](repeating: 0, count: 24)
    huge[0] = value
    _ = try huge.withUnsafeBufferPointer { values in
      try store.write { try $0.upsert(names: ["huge"], labels: [.none], vectors: values) }
    }
    var beyond = huge
    beyond[1] = value  // norm √2 · value: over 2^62 for the larger value
    let refused = beyond.withUnsafeBufferPointer { values in
      Result {
        try store.write { try $0.upsert(names: ["beyond"], labels: [.none], vectors: values) }
      }
    }
    if value > 4e18 {
      #expect(throws: VectorStoreError.self) { try refused.get() }
    }
    for family in HashFamily.allCases {
      let index = try LSHIndex.build(
        on: store,
        configuration: LSHConfiguration(
          family: family, tables: 4, hashesPerTable: family == .crosspolytope ? 1 : 6))
      let probe = Matrix(rows: 1, columns: 24, values: huge)
      let found = try store.read { try index.withSearcher(in: $0) { try $0.search(probe, k: 1) } }
      #expect(found.first?.neighbors.count == 1, "\(family.rawValue)")
      let id = try store.read { try $0.id(named: "huge") }
      #expect(found.first?.neighbors.first?.id == id, "\(family.rawValue)")
      #expect(found.first?.neighbors.first?.distance.isFinite == true)
    }
  }

  @Test("tables searched in memory (tuning) and in place (the store) answer alike and truly")
  func memoryAndMappedAgree() throws {
    let directory = TemporaryDirectory()
    let (store, _) = try clusteredStore(directory, rows: 4000, metric: .l2)
    let index = try LSHIndex.build(
      on: store,
      configuration: LSHConfiguration(
        family: .pstable, tables: 6, hashesPerTable: 5, probes: 3, candidateBudget: 0))
    let probes = freshProbes(60, after: 4000)
    try store.read { snapshot in
      let encoded = BulkEncoding(
        snapshot, encoder: index.encoder, codes: false,
        projections: index.configuration.hashDimensions)
      let memory = encoded.memoryTables(
        hasher: index.model.hasher, configuration: index.configuration)
      let inMemory = try LSHSearcher(
        encoder: index.encoder, source: snapshot, tables: .memory(memory)
      ).search(probes, k: 10)
      let inPlace = try index.withSearcher(in: snapshot) { try $0.search(probes, k: 10) }
      // The same entries are read (pages are cut at different places, LMDB's by bytes, memory's
      // by count, which may change the order of exact distances, never what is read); the
      // answers are as good, and every distance true.
      let exact = snapshot.exactSearch.search(probes, k: 10)
      func recall(_ results: [LSHSearchResult]) -> Double {
        var hits = 0
        for (result, truth) in zip(results, exact) {
          let kth = truth.last?.distance ?? 0
          hits += result.neighbors.filter { $0.distance <= kth * (1 + 1e-5) }.count
        }
        return Double(hits) / Double(10 * probes.rows)
      }
      let (memoryRecall, mappedRecall) = (recall(inMemory), recall(inPlace))
      #expect(inMemory.map(\.candidates) == inPlace.map(\.candidates))
      #expect(
        abs(memoryRecall - mappedRecall) < 0.01, "memory \(memoryRecall) vs mapped \(mappedRecall)")
      #expect(mappedRecall > 0.8)
      for result in inMemory + inPlace {
        for neighbor in result.neighbors.prefix(3) {
          let vector = try #require(snapshot.vector(id: neighbor.id))
          let row =
            inMemory.firstIndex { $0.neighbors == result.neighbors }
            ?? inPlace.firstIndex { $0.neighbors == result.neighbors } ?? 0
          let probe = Array(probes.values[(row * 24)..<((row + 1) * 24)])
          let truth = probe.withUnsafeBufferPointer { Vectors.squaredL2($0, vector) }
          #expect(abs(truth - neighbor.distance) <= 1e-3 * max(1, truth))
        }
      }
    }
  }

  @Test(
    "every reader (memory, the store's tables, their packed copy) sees every entry of a bucket from any starting byte"
  )
  func readersSeeWholeBuckets() throws {
    let directory = TemporaryDirectory()
    let (store, _) = try clusteredStore(directory, rows: 4000, metric: .l2)
    // Small buckets (LMDB keeps them inline) and a few crowded ones (pages of their own).
    for configuration in [
      LSHConfiguration(family: .pstable, tables: 3, hashesPerTable: 5),
      LSHConfiguration(family: .pstable, tables: 2, hashesPerTable: 1, bucketWidth: 1e4),
    ] {
      let index = try LSHIndex.build(on: store, configuration: configuration)
      let tables = index.configuration.tables
      try store.read { snapshot in
        let encoded = BulkEncoding(
          snapshot, encoder: index.encoder, codes: false,
          projections: index.configuration.hashDimensions)
        let memory = encoded.memoryTables(
          hasher: index.model.hasher, configuration: index.configuration)
        var inMemory = memory.reader()
        // The store's packed copy of the tables (``PackedTables``), read as memory tables are.
        var packed = ContiguousBucketReader(try #require(try index.packedTables(in: snapshot)))
        let coder = index.encoder.coder
        // The store's transaction type opened, as the searcher opens it.
        func compareMapped(_ transaction: some StorageReading) throws {
          try transaction.withCursors(in: index.bucketTables + index.bucketTables) { cursors in
            var mapped = MappedBuckets(
              up: Array(cursors.prefix(tables)), down: Array(cursors.suffix(tables)),
              entryBytes: index.encoder.coder.entryBytes)
            for table in 0..<tables {
              // The first buckets, and a code no bucket has.
              for code in memory.codes[table].prefix(150) + [(memory.codes[table].max() ?? 0) &+ 1]
              {
                for byte: UInt8 in [0, 90, 128, 200, 255] {
                  let a = wholeBucket(
                    &inMemory, table: table, code: code, firstByte: byte, coder: coder)
                  let b = wholeBucket(
                    &mapped, table: table, code: code, firstByte: byte, coder: coder)
                  let c = wholeBucket(
                    &packed, table: table, code: code, firstByte: byte, coder: coder)
                  #expect(a.ids == b.ids && a.entries == b.entries && a.ids.count == a.entries)
                  #expect(c.ids == b.ids && c.entries == b.entries)
                }
              }
            }
            #expect(mapped.failure == nil)
          }
        }
        try compareMapped(snapshot.transaction)
      }
    }
  }

  @Test(
    "the first tables of a hasher hash as a hasher of fewer tables would",
    arguments: HashFamily.allCases)
  func hasherPrefix(family: HashFamily) throws {
    let hasher = BucketHasher(
      family: family, tables: 9, hashesPerTable: family == .crosspolytope ? 2 : 5, dimensions: 8,
      bucketWidth: 2, seed: 4,
      projectedSample: Fixtures.clusteredMatrix(rows: 300, columns: 8, clusters: 5, seed: 1))
    let prefix = hasher.prefix(tables: 3)
    var random = SeededRandom(seed: 8)
    for _ in 0..<50 {
      let z = (0..<8).map { _ in Float(random.normal()) }
      var all = [UInt64](repeating: 0, count: 9)
      var few = [UInt64](repeating: 0, count: 3)
      z.withUnsafeBufferPointer { z in
        all.withUnsafeMutableBufferPointer { hasher.codes(z, into: $0) }
        few.withUnsafeMutableBufferPointer { prefix.codes(z, into: $0) }
      }
      #expect(Array(all.prefix(3)) == few)
    }
  }

  @Test("the set of ids a query met: members across words, emptied after each query, any size")
  func seenIDs() {
    let seen = SeenIDs(capacity: 100_000)
    var expected = Set<Int>()
    var generator = SystemRandomNumberGenerator()
    for round in 0..<3 {
      // More words than the first list of touched words holds (256), so it grows.
      for _ in 0..<(round == 1 ? 20_000 : 300) {
        let id = Int.random(in: 0..<100_000, using: &generator)
        seen.insert(id)
        expected.insert(id)
      }
      for id in [0, 63, 64, 99_999] + Array(expected.prefix(50)) {
        #expect(seen.contains(id) == expected.contains(id), "\(id)")
      }
      #expect((0..<100_000).filter(seen.contains) == expected.sorted())
      seen.removeAll()
      expected.removeAll()
      #expect(!(0..<100_000).contains(where: seen.contains))
    }
  }

  @Test(
    "a reopened store answers identically, and one seed gives one index (learned rotations too)",
    arguments: [HashFamily.pstable, .itq])
  func deterministicAndPersistent(family: HashFamily) throws {
    let directory = TemporaryDirectory()
    let (store, _) = try clusteredStore(directory, rows: 2000, metric: .l2)
    let configuration = LSHConfiguration(family: family, tables: 6, hashesPerTable: 6, seed: 42)
    let first = try LSHIndex.build(on: store, configuration: configuration)
    let probes = Fixtures.clusteredMatrix(rows: 50, columns: 24, clusters: 60, seed: 77)
    let before = try store.read {
      try first.withSearcher(in: $0) { try $0.search(probes, k: 5) }.map(\.neighbors)
    }
    let reopened = try #require(try LSHIndex.open(store))
    #expect(reopened.configuration == first.configuration)
    #expect(reopened.model.hasher == first.model.hasher)
    #expect(reopened.model.transform == first.model.transform)
    #expect(reopened.encoder.coder == first.encoder.coder)
    let after = try store.read {
      try reopened.withSearcher(in: $0) { try $0.search(probes, k: 5) }.map(\.neighbors)
    }
    #expect(before == after)
    let again = try LSHIndex.build(on: store, configuration: configuration)
    #expect(again.model.hasher == first.model.hasher)
  }

  @Test("an index of an earlier format is refused with a message that says to rebuild it")
  func earlierFormatRefused() throws {
    let directory = TemporaryDirectory()
    let (store, _) = try clusteredStore(directory, rows: 300, metric: .l2)
    let index = try LSHIndex.build(
      on: store, configuration: LSHConfiguration(family: .pstable, tables: 2, hashesPerTable: 4))
    var json = index.configuration.json  // without "format": as the first round wrote it
    if case .object(let fields) = json { json = .object(fields.filter { $0.0 != "format" }) }
    try store.write { writer in
      try writer.transaction.put(
        json.serialized(), forKey: "config", in: index.parametersTable)
    }
    store.detachIndex(named: LSHIndex.name)
    #expect {
      _ = try LSHIndex.open(store)
    } throws: { ($0 as? LSHError)?.kind == .needsRebuild && "\($0)".contains("earlier version") }
    // Dropping needs nothing of the damaged index.
    try LSHIndex.drop(from: store)
    #expect(try LSHIndex.open(store) == nil)
  }

  @Test(
    "a format-1 index (tables of ids without integer keys, sketches apart) is refused, then rebuilt in place: old databases gone, answers as a fresh build"
  )
  func formatOneStoreRebuilt() throws {
    let directory = TemporaryDirectory()
    let (store, _) = try clusteredStore(directory, rows: 1500, metric: .l2, seed: 11)
    let (fresh, _) = try clusteredStore(directory, rows: 1500, metric: .l2, seed: 11)
    let configuration = LSHConfiguration(family: .pstable, tables: 3, hashesPerTable: 5, seed: 8)
    // The databases format 1 wrote: parameters without a format, each table's bucket codes
    // (big-endian) with sorted fixed-size ids, and the sketches in a database of their own.
    var json = configuration.json
    if case .object(let fields) = json { json = .object(fields.filter { $0.0 != "format" }) }
    let engine = store.engine
    let parameters = try engine.table(
      named: "lsh.params", layout: [], creating: true)
    let tables = try (0..<3).map {
      try engine.table(
        named: "lsh.table.\($0)", layout: [.sortedDuplicates, .fixedSizeDuplicates], creating: true)
    }
    let sketches = try engine.table(
      named: "lsh.sketch", layout: [], creating: true)
    try store.write { writer in
      try writer.transaction.put(json.serialized(), forKey: "config", in: parameters)
      for (table, database) in tables.enumerated() {
        for id in UInt64(0)..<200 {
          try writer.transaction.put(
            Array(withUnsafeBytes(of: id.bigEndian) { Array($0) }),
            forKey: BigEndianKey(UInt64(table * 7) + id % 13), in: database)
        }
      }
      for id in UInt64(0)..<200 {
        try writer.transaction.put(
          [UInt8](repeating: 1, count: 16), forKey: BigEndianKey(id), in: sketches)
      }
      try writer.setIndexNames([LSHIndex.name])
    }
    #expect(try engine.storedLayout(of: tables[0]) == [.sortedDuplicates, .fixedSizeDuplicates])
    #expect {
      _ = try LSHIndex.open(store)
    } throws: { ($0 as? LSHError)?.kind == .needsRebuild && "\($0)".contains("table format 1") }
    #expect(try LSHIndex.check(store).first?.isDerived == true)

    let rebuilt = try LSHIndex.build(on: store, configuration: configuration)
    let rebuiltTable = try engine.table(
      named: "lsh.table.0", layout: [.sortedDuplicates, .fixedSizeDuplicates, .integerKeys],
      creating: false)
    #expect(try engine.storedLayout(of: rebuiltTable).contains(.integerKeys))
    #expect(try store.read { try $0.transaction.entryCount(in: sketches) } == 0)
    #expect(try LSHIndex.check(store).isEmpty)
    let freshIndex = try LSHIndex.build(on: fresh, configuration: configuration)
    let probes = Fixtures.clusteredMatrix(rows: 30, columns: 24, clusters: 60, seed: 4)
    let answers = try store.read {
      try rebuilt.withSearcher(in: $0) { try $0.search(probes, k: 6) }.map(\.neighbors)
    }
    let expected = try fresh.read {
      try freshIndex.withSearcher(in: $0) { try $0.search(probes, k: 6) }.map(\.neighbors)
    }
    #expect(answers == expected)
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
      var expected: [Int: Set<LSHIndex.StoredEntry>] = [:]
      var scratch = index.encoder.makeScratch()
      try snapshot.forEachItem { item, vector in
        index.encoder.encode(vector, id: item.id, into: &scratch)
        for table in 0..<index.configuration.tables {
          expected[table, default: []].insert(
            LSHIndex.StoredEntry(
              code: scratch.codes[table], id: item.id,
              compactCode: Array(scratch.entry.prefix(index.encoder.coder.idOffset))))
        }
      }
      for table in 0..<index.configuration.tables {
        let stored = try index.entries(ofTable: table, in: snapshot)
        #expect(stored.count == snapshot.count)
        #expect(Set(stored) == expected[table] ?? [])
      }
      let searcher = try index.searcher(in: snapshot)
      // A deleted id is never returned; the re-inserted name is found once.
      let v3 = try #require(try snapshot.id(named: "v3"))
      let probe = Matrix(rows: 1, columns: 24, values: Array(repeating: 0.5, count: 24))
      let found = try searcher.search(probe, k: 20, probesPerTable: 16, candidateBudget: 0)[0]
        .neighbors
      #expect(found.first?.id == v3 && found.first?.distance == 0)
      #expect(found.filter { $0.id == v3 }.count == 1)
      let deleted = Set([UInt64(3), 500, 7])
      let all = try searcher.search(
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
      let counts = try store.read { snapshot in
        try (0..<tables).map { try index.entries(ofTable: $0, in: snapshot).count }
      }
      #expect(counts == Array(repeating: 800, count: tables))
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
    // The refused write left the store as it was: reopened, it holds the same 300 items and
    // its index still answers.
    let reopened = try VectorStore.open(path: path)
    #expect(try reopened.count() == 300)
    #expect(try reopened.read { try $0.id(named: "x") } == nil)
    #expect(try LSHIndex.open(reopened) != nil)
  }

  @Test("a store and its attached index free each other when the last reference goes")
  func noReferenceCycle() throws {
    let directory = TemporaryDirectory()
    weak var weakStore: VectorStore?
    weak var weakIndex: LSHIndex?
    do {
      let (store, _) = try clusteredStore(directory, rows: 300, metric: .l2)
      let index = try LSHIndex.build(
        on: store, configuration: LSHConfiguration(family: .pstable, tables: 2, hashesPerTable: 4))
      weakStore = store
      weakIndex = index
      #expect(try LSHIndex.open(store) != nil)
    }
    #expect(weakStore == nil, "the store outlived every reference to it")
    #expect(weakIndex == nil, "the index outlived its store")
  }

  @Test(
    "an index in memory over a matrix fits the same encoder and finds what the stored index does",
    arguments: [DistanceMetric.l2, .cosine])
  func memoryIndexMatchesStored(metric: DistanceMetric) throws {
    let directory = TemporaryDirectory()
    let (store, data) = try clusteredStore(directory, rows: 3000, metric: metric)
    let configuration = LSHConfiguration(
      family: metric == .cosine ? .hyperplane : .pstable, tables: 6, hashesPerTable: 6, probes: 4,
      candidateBudget: 0)
    let stored = try LSHIndex.build(on: store, configuration: configuration)
    var probes = freshProbes(50, after: 3000)
    if metric == .cosine { probes.normalizeRows() }
    let fromStore = try store.read { snapshot in
      try stored.withSearcher(in: snapshot) { try $0.search(probes, k: 10) }.map(\.neighbors)
    }
    let fromMemory = try data.withVectorSource(metric: metric, blockRows: 256) { source in
      let index = try LSHMemoryIndex.build(configuration: configuration, over: source)
      #expect(index.configuration == stored.configuration)
      #expect(index.bytes > 0)
      #expect(index.bytes == LSHMemoryIndex.bytes(of: index.encoder, items: source.count))
      let exact = source.exactSearch.search(probes, k: 10)
      let found = try index.withSearcher(over: source) { try $0.search(probes, k: 10) }.map(
        \.neighbors)
      // Every distance is true: the source's own vectors were re-ranked.
      for (row, neighbors) in found.enumerated() {
        for neighbor in neighbors {
          let vector = try #require(source.vector(id: neighbor.id))
          let truth = exact[row].first { $0.id == neighbor.id }?.distance
          if let truth { #expect(abs(truth - neighbor.distance) <= 1e-4 * max(1, abs(truth))) }
          #expect(vector.count == data.columns)
        }
      }
      return found
    }
    // Ids are rows in both (the store numbers the items in insertion order), and the same
    // encoder over the same vectors reads the same buckets.
    var same = 0
    for (a, b) in zip(fromStore, fromMemory) {
      same += Set(a.map(\.id)).intersection(b.map(\.id)).count
    }
    #expect(Double(same) / Double(50 * 10) >= 0.98, "\(same) of 500 shared")
  }
}
