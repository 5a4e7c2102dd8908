import PropertyBased
import TestSupport
import Testing
import VectorMath

@Suite struct ExactSearchTests {
  /// Splits a matrix into blocks of uneven sizes, optionally with deleted rows.
  private func withBlocks<R>(
    _ base: Matrix, sizes: [Int], deleted: Set<Int> = [], _ body: ([VectorBlock]) -> R
  ) -> R {
    base.values.withUnsafeBufferPointer { values in
      var blocks: [VectorBlock] = []
      var bitmaps: [UnsafeMutablePointer<UInt8>] = []
      var start = 0
      var sizeIndex = 0
      while start < base.rows {
        let count = min(sizes[sizeIndex % sizes.count], base.rows - start)
        var bitmap: UnsafeMutablePointer<UInt8>?
        let dead = (start..<(start + count)).filter { deleted.contains($0) }
        if !dead.isEmpty {
          let map = UnsafeMutablePointer<UInt8>.allocate(capacity: (count + 7) / 8)
          map.initialize(repeating: 0, count: (count + 7) / 8)
          for row in dead { map[(row - start) >> 3] |= 1 << UInt8((row - start) & 7) }
          bitmaps.append(map)
          bitmap = map
        }
        blocks.append(
          VectorBlock(
            firstID: UInt64(start), rowCount: count,
            values: values.baseAddress! + start * base.columns,
            deleted: bitmap.map { UnsafePointer($0) }))
        start += count
        sizeIndex += 1
      }
      defer { bitmaps.forEach { $0.deallocate() } }
      return body(blocks)
    }
  }

  @Test(
    "matches brute force on both paths, both metrics, with deleted rows, in every product shape",
    arguments: [
      (DistanceMetric.l2, 3), (.l2, 40), (.cosine, 3), (.cosine, 40),
    ],
    // Tiles of 16 and 13 probes: several tiles per worker, and lanes left over in the
    // rows-by-probes scan's groups of eight.
    [
      ScanShape(orientation: .probesByRows, probeTile: 16),
      ScanShape(orientation: .rowsByProbes, probeTile: 16),
      ScanShape(orientation: .rowsByProbes, probeTile: 13),
    ])
  func matchesBruteForce(setting: (DistanceMetric, Int), shape: ScanShape) {
    let (metric, probeCount) = setting
    var base = Fixtures.clusteredMatrix(rows: 1000, columns: 24, clusters: 12, seed: 7)
    var probes = Fixtures.clusteredMatrix(rows: probeCount, columns: 24, clusters: 12, seed: 8)
    if metric == .cosine {
      base.normalizeRows()
      probes.normalizeRows()
    }
    let deleted: Set<Int> = [0, 5, 77, 500, 999]
    let k = 15
    let results = withBlocks(base, sizes: [128, 37, 256, 1], deleted: deleted) { blocks in
      var search = ExactSearch(dimension: 24, metric: metric, blocks: blocks)
      search.shape = shape
      return search.search(probes, k: k)
    }
    for probe in 0..<probeCount {
      let expected = Fixtures.bruteForce(
        base: base, probe: probes.row(probe), k: k, metric: metric, excluded: deleted)
      #expect(results[probe].map { Int($0.id) } == expected.map(\.id), "probe \(probe)")
      for (found, reference) in zip(results[probe], expected) {
        #expect(abs(found.distance - reference.distance) <= 1e-4 * max(1, abs(reference.distance)))
      }
    }
  }

  @Test(
    "ties resolve to the smaller id; k larger than the base returns everything",
    arguments: ScanShape.Orientation.allCases)
  func tiesAndSmallBases(orientation: ScanShape.Orientation) {
    // Four identical rows and one far away.
    let base = Matrix(rowArrays: [[1, 1], [5, 5], [1, 1], [1, 1], [1, 1]])
    for probeCount in [1, 20] {
      let probes = Matrix(rowArrays: Array(repeating: [1, 1], count: probeCount))
      let results = withBlocks(base, sizes: [2]) { blocks in
        var search = ExactSearch(dimension: 2, metric: .l2, blocks: blocks)
        search.shape = ScanShape(orientation: orientation, probeTile: 8)
        return search.search(probes, k: 10)
      }
      for result in results {
        #expect(result.map(\.id) == [0, 2, 3, 4, 1])
        #expect(result.map(\.distance) == [0, 0, 0, 0, 32])
      }
    }
  }

  @Test(
    "both orientations give the same neighbours and distances on a larger random set, and the standard shape agrees"
  )
  func orientationsAgree() {
    let base = Fixtures.clusteredMatrix(rows: 3000, columns: 40, clusters: 30, seed: 11)
    let probes = Fixtures.clusteredMatrix(rows: 300, columns: 40, clusters: 30, seed: 12)
    let results = ScanShape.candidates.map { shape in
      withBlocks(base, sizes: [256]) { blocks in
        var search = ExactSearch(dimension: 40, metric: .l2, blocks: blocks)
        search.shape = shape
        return search.search(probes, k: 12)
      }
    }
    for (shape, result) in zip(ScanShape.candidates, results).dropFirst() {
      #expect(result == results[0], "\(shape) differs from \(ScanShape.candidates[0])")
    }
  }

  @Test("scan shapes print and parse as ORIENTATION/TILE; malformed ones are refused")
  func scanShapeText() {
    for shape in ScanShape.candidates {
      #expect(ScanShape(shape.description) == shape)
    }
    #expect(
      ScanShape("rows-by-probes/512") == ScanShape(orientation: .rowsByProbes, probeTile: 512))
    for bad in [
      "", "rows-by-probes", "rows-by-probes/4", "columns/1024", "probes-by-rows/x", "a/b/c",
    ] {
      #expect(ScanShape(bad) == nil, "\(bad)")
    }
  }

  @Test("top-k keeps the smallest and orders ties by id")
  func topK() {
    var random = SeededRandom(seed: 3)
    var selection = TopK(k: 10)
    var all: [Neighbor] = []
    for id in 0..<500 {
      let distance = Float(random.integer(in: 0...40))  // many ties
      all.append(Neighbor(id: UInt64(id), distance: distance))
      selection.insert(id: UInt64(id), distance: distance)
    }
    #expect(selection.sorted() == Array(all.sorted().prefix(10)))
    var merged = TopK(k: 10)
    var other = TopK(k: 10)
    for neighbor in all[..<250] { merged.insert(id: neighbor.id, distance: neighbor.distance) }
    for neighbor in all[250...] { other.insert(id: neighbor.id, distance: neighbor.distance) }
    merged.merge(other)
    #expect(merged.sorted() == selection.sorted())
  }

  @Test("BLAS products match a plain triple loop", arguments: [false, true])
  func blasMatchesLoops(transposeB: Bool) {
    let a = Fixtures.randomMatrix(rows: 7, columns: 5, seed: 1)
    let b = Fixtures.randomMatrix(rows: transposeB ? 3 : 5, columns: transposeB ? 5 : 3, seed: 2)
    let product = BLAS.multiply(a, b, transposeB: transposeB)
    for row in 0..<7 {
      for column in 0..<3 {
        var sum: Float = 0
        for inner in 0..<5 {
          sum += a[row, inner] * (transposeB ? b[column, inner] : b[inner, column])
        }
        #expect(abs(product[row, column] - sum) < 1e-5)
      }
    }
  }

  @Test("seeded random numbers repeat, and normals have mean 0 and variance 1")
  func seededRandom() {
    var first = SeededRandom(seed: 42)
    var second = SeededRandom(seed: 42)
    #expect((0..<100).map { _ in first.next() } == (0..<100).map { _ in second.next() })
    var random = SeededRandom(seed: 1)
    let draws = (0..<200_000).map { _ in random.normal() }
    let mean = draws.reduce(0, +) / Double(draws.count)
    let variance = draws.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(draws.count)
    #expect(abs(mean) < 0.01)
    #expect(abs(variance - 1) < 0.01)
    let integers = (0..<10_000).map { _ in random.integer(in: 3...7) }
    #expect(Set(integers) == [3, 4, 5, 6, 7])
  }
}

/// TopK against the obvious answer: sort everything, keep the first k.
@Suite struct TopKPropertyTests {
  @Test("TopK keeps exactly sorted().prefix(k), ties by smaller id, however the input is split")
  func matchesSorting() async {
    // Few distinct distances, so that ties are common.
    let distances = Gen.int(in: 0...20).array(of: 0...300)
    await propertyCheck(count: 300, input: distances, Gen.int(in: 1...40), Gen.int(in: 1...5)) {
      values, k, parts in
      let candidates = values.enumerated().map {
        Neighbor(id: UInt64($0.offset * 7 % 1009), distance: Float($0.element) / 4)
      }
      let expected = Array(candidates.sorted().prefix(k))
      var whole = TopK(k: k)
      for candidate in candidates { whole.insert(id: candidate.id, distance: candidate.distance) }
      #expect(whole.sorted() == expected)
      #expect(whole.threshold == (candidates.count < k ? .infinity : expected.last?.distance))
      // Merging partial selections gives the same answer (what parallel search does).
      var merged = TopK(k: k)
      for part in 0..<parts {
        var partial = TopK(k: k)
        for (index, candidate) in candidates.enumerated() where index % parts == part {
          partial.insert(id: candidate.id, distance: candidate.distance)
        }
        merged.merge(partial)
      }
      #expect(merged.sorted() == expected)
    }
  }
}
