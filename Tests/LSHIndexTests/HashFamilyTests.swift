import CKernels
import Foundation
import TestSupport
import Testing
import VectorMath

@testable import LSHIndex

@Suite struct HashFamilyTests {
  /// A pair of unit vectors at angle θ in `dimensions` dimensions.
  static func pair(angle: Double, dimensions: Int, random: inout SeededRandom) -> ([Float], [Float])
  {
    var u = (0..<dimensions).map { _ in random.normal() }
    var w = (0..<dimensions).map { _ in random.normal() }
    func normalise(_ v: inout [Double]) {
      let norm = v.map { $0 * $0 }.reduce(0, +).squareRoot()
      v = v.map { $0 / norm }
    }
    normalise(&u)
    let projection = zip(u, w).map(*).reduce(0, +)
    w = zip(w, u).map { $0 - projection * $1 }
    normalise(&w)
    let v = zip(u, w).map { cos(angle) * $0 + sin(angle) * $1 }
    return (u.map(Float.init), v.map(Float.init))
  }

  /// The fraction of (pair, table) combinations where both vectors land in one bucket.
  static func collisionRate(_ hasher: BucketHasher, pairs: [([Float], [Float])]) -> Double {
    var same = 0
    var codesA = [UInt64](repeating: 0, count: hasher.tables)
    var codesB = [UInt64](repeating: 0, count: hasher.tables)
    for (a, b) in pairs {
      a.withUnsafeBufferPointer { a in
        codesA.withUnsafeMutableBufferPointer { hasher.codes(a, into: $0) }
      }
      b.withUnsafeBufferPointer { b in
        codesB.withUnsafeMutableBufferPointer { hasher.codes(b, into: $0) }
      }
      same += zip(codesA, codesB).filter { $0 == $1 }.count
    }
    return Double(same) / Double(pairs.count * hasher.tables)
  }

  @Test("random hyperplanes collide with probability 1 − θ/π", arguments: [0.3, 1.0, 2.0])
  func hyperplane(angle: Double) {
    var random = SeededRandom(seed: 1)
    let pairs = (0..<60).map { _ in Self.pair(angle: angle, dimensions: 16, random: &random) }
    let hasher = BucketHasher(
      family: .hyperplane, tables: 500, hashesPerTable: 1, dimensions: 16, bucketWidth: 1, seed: 2)
    let rate = Self.collisionRate(hasher, pairs: pairs)
    // 30,000 samples: a standard error below 0.003; allow 0.02.
    #expect(abs(rate - (1 - angle / Double.pi)) < 0.02, "rate \(rate)")
  }

  @Test(
    "p-stable hashes collide as Datar et al. give for t = w / c", arguments: [0.5, 1.0, 2.0, 4.0])
  func pStable(ratio t: Double) {
    var random = SeededRandom(seed: 3)
    let distance = 2.0
    let pairs = (0..<60).map { _ -> ([Float], [Float]) in
      let (u, v) = Self.pair(angle: 0.7, dimensions: 12, random: &random)
      // Scale the difference to the wanted distance.
      let difference = zip(v, u).map { $0 - $1 }
      let norm = difference.map { Double($0 * $0) }.reduce(0, +).squareRoot()
      return (u, zip(u, difference).map { $0 + $1 * Float(distance / norm) })
    }
    let hasher = BucketHasher(
      family: .pstable, tables: 500, hashesPerTable: 1, dimensions: 12,
      bucketWidth: Float(t * distance), seed: 4)
    let rate = Self.collisionRate(hasher, pairs: pairs)
    let phi = { (x: Double) in 0.5 * erfc(-x / 2.0.squareRoot()) }
    let expected = 1 - 2 * phi(-t) - 2 / ((2 * Double.pi).squareRoot() * t) * (1 - exp(-t * t / 2))
    #expect(abs(rate - expected) < 0.02, "rate \(rate), formula \(expected)")
  }

  @Test(
    "the cross-polytope's pseudo-random rotation collides like a true random rotation",
    arguments: [0.4, 0.9, 1.4])
  func crossPolytope(angle: Double) {
    var random = SeededRandom(seed: 5)
    let dimensions = 16
    let pairs = (0..<60).map { _ in Self.pair(angle: angle, dimensions: dimensions, random: &random)
    }
    let hasher = BucketHasher(
      family: .crosspolytope, tables: 400, hashesPerTable: 1, dimensions: dimensions,
      bucketWidth: 1, seed: 6)
    let rate = Self.collisionRate(hasher, pairs: pairs)
    // Reference: the same hash after a uniformly random rotation (Gram–Schmidt of a Gaussian matrix).
    var same = 0
    var trials = 0
    for _ in 0..<250 {
      let rotation = ITQRotation.randomRotation(size: dimensions, random: &random)
      let rows = (0..<dimensions).map {
        Array(rotation[($0 * dimensions)..<(($0 + 1) * dimensions)])
      }
      func hash(_ x: [Float]) -> Int {
        let y = rows.map { row in zip(row, x).map { $0 * Double($1) }.reduce(0, +) }
        let best = y.indices.max { abs(y[$0]) < abs(y[$1]) } ?? 0
        return 2 * best + (y[best] < 0 ? 1 : 0)
      }
      for (a, b) in pairs.prefix(15) {
        same += hash(a) == hash(b) ? 1 : 0
        trials += 1
      }
    }
    let reference = Double(same) / Double(trials)
    #expect(abs(rate - reference) < 0.04, "pseudo-random \(rate), random rotation \(reference)")
    #expect(rate > 0 && rate < 1)
  }

  @Test(
    "the cross-polytope rotation kernel equals the scalar sign-and-Hadamard rounds bit for bit",
    arguments: [2, 4, 8, 16, 32, 64])
  func crossPolytopeRotationKernel(padded: Int) {
    var random = SeededRandom(seed: UInt64(padded))
    /// The transform as first written: padding, then three rounds of signs and the butterflies
    /// of span 1, 2, 4, … over the whole vector.
    func reference(_ z: [Float], signs: [Float]) -> [Float] {
      var values = (0..<padded).map { $0 < z.count ? z[$0] : 0 }
      for round in 0..<3 {
        for index in 0..<padded { values[index] *= signs[round * padded + index] }
        var span = 1
        while span < padded {
          for start in stride(from: 0, to: padded, by: 2 * span) {
            for index in start..<(start + span) {
              let (a, b) = (values[index], values[index + span])
              values[index] = a + b
              values[index + span] = a - b
            }
          }
          span *= 2
        }
      }
      return values
    }
    for round in 0..<300 {
      let dimensions = [padded, padded / 2 + 1, 1][round % 3]
      let scale: Float = round % 10 == 0 ? 1e36 : 3
      var z = (0..<dimensions).map { _ in Float(random.normal()) * scale }
      if round % 17 == 0 { z[round % dimensions] = round % 2 == 0 ? .nan : -.infinity }
      let signs = (0..<(3 * padded)).map { _ in random.uniform() < 0.5 ? Float(-1) : 1 }
      var out = [Float](repeating: 0, count: padded)
      z.withUnsafeBufferPointer { z in
        tripindex_crosspolytope_rotate(z.baseAddress, dimensions, padded, signs, &out)
      }
      let expected = reference(z, signs: signs)
      #expect(
        zip(out, expected).allSatisfy {
          $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN)
        }, "padded \(padded), \(dimensions) dimensions, round \(round)")
    }
  }

  @Test("perturbation sets come in non-decreasing score, each once, never two of one group")
  func perturbationOrder() {
    var random = SeededRandom(seed: 7)
    let atoms = (0..<10).map { index in
      Perturbation(score: Float(random.uniform()), group: index / 2, value: index, lowerBound: 0)
    }
    var sequence = PerturbationSequence()
    sequence.reset(atoms: atoms)
    var produced: [(UInt64, Float)] = []
    while let next = sequence.next() { produced.append(next) }
    // Every valid non-empty subset of 10 atoms in 5 groups of 2: 3^5 − 1 = 242 sets.
    #expect(produced.count == 242)
    #expect(Set(produced.map(\.0)).count == produced.count)
    #expect(zip(produced, produced.dropFirst()).allSatisfy { $0.1 <= $1.1 + 1e-6 })
    for (members, score) in produced {
      var groups = Set<Int>()
      var total: Float = 0
      for index in 0..<10 where members & (1 << UInt64(index)) != 0 {
        #expect(groups.insert(sequence.atoms[index].group).inserted)
        total += sequence.atoms[index].score
      }
      #expect(abs(total - score) < 1e-5)
    }
  }

  @Test(
    "the home codes indexing computes equal the multiprobe path's home codes, bit for bit, in every family",
    arguments: HashFamily.allCases)
  func fastCodesEqualHomeCodes(family: HashFamily) {
    var random = SeededRandom(seed: 31)
    let hashes = [HashFamily.crosspolytope: 2, .itq: 6][family] ?? 9
    let hasher = BucketHasher(
      family: family, tables: 5, hashesPerTable: hashes, dimensions: 8, bucketWidth: 0.7, seed: 4,
      projectedSample: Fixtures.clusteredMatrix(rows: 500, columns: 8, clusters: 7, seed: 2))
    var codes = [UInt64](repeating: 0, count: hasher.tables)
    var scratch = [Float](repeating: 0, count: hasher.scratchSize)
    var checked = 0
    for round in 0..<2000 {
      // Ordinary values, values on bucket edges, and huge and non-finite ones.
      var z = (0..<8).map { _ in Float(random.normal()) * (round % 7 == 0 ? 1e30 : 3) }
      if round % 11 == 0 { z[round % 8] = round % 2 == 0 ? .nan : .infinity }
      if round % 13 == 0 { z = z.map { ($0 / 0.7).rounded() * 0.7 } }
      z.withUnsafeBufferPointer { z in
        codes.withUnsafeMutableBufferPointer { hasher.codes(z, into: $0) }
        for table in 0..<hasher.tables
        where codes[table] == hasher.code(z, table: table, scratch: &scratch).code {
          checked += 1
        }
      }
    }
    #expect(checked == 2000 * hasher.tables)
  }
}

@Suite struct ProjectionTests {
  @Test(
    "a vector projects to the bits of a plain reference (each component summed alone, eight lanes then the rest), for dimensions and component counts that fill no whole group"
  )
  func projectionEqualsReference() throws {
    for (dimension, components) in [(13, 7), (24, 16), (8, 5), (37, 11), (3, 3)] {
      var data = Fixtures.clusteredMatrix(rows: 400, columns: dimension, clusters: 9, seed: 3)
      var configuration = LSHConfiguration.defaults(for: .pstable)
      configuration.sketchDimensions = components
      configuration.hashDimensions = min(8, components)
      let encoder = try data.withVectorSource(metric: .l2) { source in
        try LSHMemoryIndex.build(configuration: configuration, over: source).encoder
      }
      let transform = encoder.model.transform
      #expect(transform.outputDimension == components)
      var scratch = encoder.makeScratch()
      var random = SeededRandom(seed: 8)
      for row in 0..<data.rows {
        if row % 5 == 0 {  // some values far from the data, some tiny
          for column in 0..<dimension {
            data.values[row * dimension + column] *= Float(random.normal()) * 1e3
          }
        }
        let vector = Array(data.row(row))
        let residual = vector.withUnsafeBufferPointer { encoder.project($0, into: &scratch) }
        // The reference: the same arithmetic, one component at a time.
        var total = 0.0
        let centred = (0..<dimension).map { vector[$0] - transform.mean[$0] }
        for value in centred { total += Double(value) * Double(value) }
        var explained = 0.0
        for component in 0..<components {
          let basis = Array(
            transform.basis[(component * dimension)..<((component + 1) * dimension)])
          var sums = SIMD8<Float>()
          var index = 0
          while index + 8 <= dimension {
            sums +=
              SIMD8(basis[index..<(index + 8)]) * SIMD8(centred[index..<(index + 8)])
            index += 8
          }
          var sum = sums.sum()
          while index < dimension {
            sum += basis[index] * centred[index]
            index += 1
          }
          #expect(
            scratch.projection[component].bitPattern == sum.bitPattern,
            "d \(dimension), component \(component) of \(components), row \(row)")
          explained += Double(sum) * Double(sum)
        }
        #expect(residual.bitPattern == Float(max(0, total - explained).squareRoot()).bitPattern)
      }
    }
  }
}

@Suite struct BulkEncodingTests {
  @Test(
    "a pass that keeps the codes of a group of tables keeps exactly those tables' codes, and the groups of a large build cover every table once within the budget"
  )
  func tableGroups() throws {
    let data = Fixtures.clusteredMatrix(rows: 1500, columns: 16, clusters: 20, seed: 3)
    try data.withVectorSource(metric: .l2, blockRows: 256) { source in
      let configuration = LSHConfiguration(family: .pstable, tables: 7, hashesPerTable: 4)
      let encoder = try LSHMemoryIndex.build(configuration: configuration, over: source).encoder
      let whole = BulkEncoding(source, encoder: encoder, codes: true, projections: 0)
      #expect(whole.tables == 7 && whole.codedTables == 0..<7)
      for group in [0..<3, 3..<6, 6..<7] {
        let part = BulkEncoding(source, encoder: encoder, codes: true, of: group, projections: 0)
        #expect(part.entries == whole.entries && part.count == whole.count)
        #expect(part.tables == group.count)
        for item in 0..<whole.count {
          for (column, table) in group.enumerated() {
            #expect(part.codes[item * part.tables + column] == whole.codes[item * 7 + table])
          }
        }
      }
    }
    // A million items keep every table's codes in one pass; ten million, five at a time.
    #expect(BulkEncoding.tableGroups(items: 1_000_000, tables: 16) == [0..<16])
    let large = BulkEncoding.tableGroups(items: 10_000_000, tables: 16)
    #expect(large == [0..<5, 5..<10, 10..<15, 15..<16])
    #expect(BulkEncoding.tableGroups(items: 1_000_000_000, tables: 3) == [0..<1, 1..<2, 2..<3])
    #expect(
      BulkEncoding.tableGroups(
        items: 10_000_000, tables: 3, budget: BulkEncoding.rehashedCodeBytesPerGroup)
        == [0..<1, 1..<2, 2..<3])
    for group in large {
      #expect(group.count * 10_000_000 * 8 <= BulkEncoding.codeBytesPerPass)
    }
  }
}

@Suite struct TableOrderTests {
  @Test(
    "tables are ordered by code, then entry bytes, exactly as one comparison sort orders them: codes alike in every digit or in none, heads and whole entries tied"
  )
  func orderEqualsComparisonSort() {
    var random = SeededRandom(seed: 77)
    for (items, entryBytes, spread) in [
      (5000, 12, UInt64.max), (3000, 5, 7), (2000, 17, 1 << 40), (1, 9, 3), (0, 9, 3),
      (4000, 9, 0),
    ] {
      // Few distinct codes (buckets of many), spread over all 64 bits or only low ones; entries
      // drawn from few bytes, so heads and whole entries tie often.
      let distinct = (0..<max(1, items / 50)).map { _ in
        spread == UInt64.max ? random.next() : random.next() % (spread + 1)
      }
      let codes = (0..<items).map { _ in distinct[Int(random.next() % UInt64(distinct.count))] }
      let entries = (0..<(items * entryBytes)).map { _ in UInt8(random.next() % 3) }
      let sorted = TableOrder.sorted(
        items: items, code: { codes[$0] }, entries: entries, entryBytes: entryBytes)
      let reference = (0..<items).sorted { a, b in
        if codes[a] != codes[b] { return codes[a] < codes[b] }
        let left = entries[(a * entryBytes)..<((a + 1) * entryBytes)]
        let right = entries[(b * entryBytes)..<((b + 1) * entryBytes)]
        if left.elementsEqual(right) { return a < b }  // stable, as the table's sort
        return left.lexicographicallyPrecedes(right)
      }
      #expect(
        sorted.map(Int.init) == reference, "\(items) items of \(entryBytes) bytes, spread \(spread)"
      )
    }
  }

  @Test(
    "a radix sort on several threads orders codes and items exactly as on one: stably, passes skipped alike"
  )
  func parallelRadixSortEqualsSerial() {
    var random = SeededRandom(seed: 78)
    for (items, spread, threads) in [
      (20_000, UInt64.max, 2), (20_001, 1 << 22, 3), (5_000, 5, 2), (3_000, 0, 2), (700, 9, 4),
    ] {
      let distinct = (0..<max(1, items / 40)).map { _ in
        spread == UInt64.max ? random.next() : random.next() % (spread + 1)
      }
      let codes = (0..<items).map { _ in distinct[Int(random.next() % UInt64(distinct.count))] }
      func sorted(threads: Int) -> ([UInt64], [UInt32]) {
        var keys = codes
        var order = (0..<UInt32(items)).map { $0 }
        keys.withUnsafeMutableBufferPointer { keys in
          order.withUnsafeMutableBufferPointer { order in
            TableOrder.radixSortByCode(
              codes: keys, items: order, threads: threads, itemsPerWorker: 100)
          }
        }
        return (keys, order)
      }
      let reference = (0..<items).sorted {
        codes[$0] != codes[$1] ? codes[$0] < codes[$1] : $0 < $1
      }
      let serial = sorted(threads: 1)
      let parallel = sorted(threads: threads)
      #expect(serial.1.map(Int.init) == reference, "\(items) items, spread \(spread)")
      #expect(
        parallel.0 == serial.0 && parallel.1 == serial.1,
        "\(items) items, spread \(spread), \(threads) threads")
    }
  }
}

@Suite struct QueryScratchPoolTests {
  @Test(
    "a search's scratch is kept for the next search of the same shape, emptied, only for one whose ids it can hold, and the oldest goes when the pool is full"
  )
  func scratchesAreKeptEmptiedAndMatched() throws {
    let data = Fixtures.clusteredMatrix(rows: 500, columns: 19, clusters: 5, seed: 9)
    let encoder = try data.withVectorSource(metric: .l2) { source in
      try LSHMemoryIndex.build(configuration: .defaults(for: .pstable), over: source).encoder
    }
    let tables = encoder.model.configuration.tables
    let pool = ScratchPool(limit: 2)
    let first = pool.borrow(items: 1000, tables: tables, encoder: encoder)
    _ = first.seen.insert(7)
    _ = first.seen.insert(999)
    pool.giveBack(first)
    // A search of fewer ids and the same shape gets it back, with nothing marked.
    let again = pool.borrow(items: 600, tables: tables, encoder: encoder)
    #expect(again === first)
    #expect(!again.seen.contains(7) && !again.seen.contains(999))
    pool.giveBack(again)
    // More ids than it holds, or another table count: a new one.
    let larger = pool.borrow(items: 5000, tables: tables, encoder: encoder)
    #expect(larger !== first && larger.seen.capacity >= 5000)
    let otherTables = pool.borrow(items: 600, tables: tables + 1, encoder: encoder)
    #expect(otherTables !== first)
    // Full: giving back two more drops the oldest (first), keeping the newest.
    pool.giveBack(larger)
    pool.giveBack(otherTables)
    #expect(pool.borrow(items: 600, tables: tables, encoder: encoder) === larger)
    #expect(pool.borrow(items: 600, tables: tables, encoder: encoder) !== first)
  }
}
