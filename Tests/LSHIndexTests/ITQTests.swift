import Foundation
import TestSupport
import Testing
import VectorMath
import VectorStore

@testable import LSHIndex

@Suite struct ITQTests {
  /// ‖a‖_F of the difference from the identity of Rᵀ R.
  static func orthogonalityError(_ r: [Double], size: Int) -> Double {
    var worst = 0.0
    for i in 0..<size {
      for j in 0..<size {
        var dot = 0.0
        for row in 0..<size { dot += r[row * size + i] * r[row * size + j] }
        worst = max(worst, abs(dot - (i == j ? 1 : 0)))
      }
    }
    return worst
  }

  /// Clustered data centred and projected on all its principal components, as the hashes see it.
  static func projectedSample(rows: Int, columns: Int, clusters: Int, seed: UInt64) throws
    -> Matrix
  {
    let data = Fixtures.clusteredMatrix(
      rows: rows, columns: columns, clusters: clusters, seed: seed)
    let transform = try #require(DataTransform.fit(data, components: columns))
    return transform.project(data)
  }

  /// ‖sign(V R) − V R‖²_F over the first `bits` columns of `projected`: what ITQ minimises.
  static func quantizationLoss(_ projected: Matrix, rotation: [Double], bits: Int) -> Double {
    var loss = 0.0
    for row in 0..<projected.rows {
      for bit in 0..<bits {
        var value = 0.0
        for index in 0..<bits {
          value += Double(projected[row, index]) * rotation[index * bits + bit]
        }
        let sign: Double = value >= 0 ? 1 : -1
        loss += (sign - value) * (sign - value)
      }
    }
    return loss
  }

  @Test(
    "the polar factor is the rotation nearest M: orthogonal, and no other rotation has a larger trace(Qᵀ M)",
    arguments: [2, 5, 12])
  func polarFactorIsNearestRotation(size: Int) throws {
    var random = SeededRandom(seed: UInt64(size))
    let m = (0..<(size * size)).map { _ in random.normal() }
    let q = try #require(ITQRotation.polarFactor(m, size: size))
    #expect(Self.orthogonalityError(q, size: size) < 1e-9)
    func trace(_ r: [Double]) -> Double {
      var sum = 0.0
      for i in 0..<size { for j in 0..<size { sum += r[i * size + j] * m[i * size + j] } }
      return sum
    }
    let best = trace(q)
    for _ in 0..<200 {
      let other = ITQRotation.randomRotation(size: size, random: &random)
      #expect(trace(other) <= best + 1e-9)
    }
    // A rotation is its own polar factor.
    let rotation = ITQRotation.randomRotation(size: size, random: &random)
    let again = try #require(ITQRotation.polarFactor(rotation, size: size))
    #expect(zip(again, rotation).allSatisfy { abs($0 - $1) < 1e-9 })
    // A singular M has none.
    #expect(ITQRotation.polarFactor([Double](repeating: 0, count: size * size), size: size) == nil)
  }

  @Test(
    "the learned rotation is orthogonal and loses less than its random start and than any of 30 other random rotations"
  )
  func rotationLowersTheLoss() throws {
    let projected = try Self.projectedSample(rows: 3000, columns: 16, clusters: 12, seed: 9)
    for bits in [4, 8, 16] {
      var random = SeededRandom(seed: 3)
      var start = random
      let startRotation = ITQRotation.randomRotation(size: bits, random: &start)
      let learned = ITQRotation.fit(projected, bits: bits, random: &random)
      #expect(Self.orthogonalityError(learned, size: bits) < 1e-9)
      let before = Self.quantizationLoss(projected, rotation: startRotation, bits: bits)
      let after = Self.quantizationLoss(projected, rotation: learned, bits: bits)
      #expect(after < before, "\(bits) bits: loss \(after) from \(before)")
      var others = SeededRandom(seed: 11)
      for _ in 0..<30 {
        let other = ITQRotation.randomRotation(size: bits, random: &others)
        let loss = Self.quantizationLoss(projected, rotation: other, bits: bits)
        #expect(after < loss, "\(bits) bits: learned \(after), a random rotation \(loss)")
      }
    }
  }

  @Test(
    "an ITQ table's bit j is the sign of the j-th rotated top component: its rows are orthonormal in the first K components and zero past them, one rotation per table"
  )
  func bitsAreRotatedSigns() throws {
    let projected = try Self.projectedSample(rows: 2000, columns: 10, clusters: 8, seed: 4)
    let (tables, bits, m) = (3, 6, 10)
    let hasher = BucketHasher(
      family: .itq, tables: tables, hashesPerTable: bits, dimensions: m, bucketWidth: 1, seed: 5,
      projectedSample: projected)
    #expect(
      hasher.parameters.count
        == BucketHasher.parameterCount(
          family: .itq, tables: tables, hashesPerTable: bits, dimensions: m))
    var rotations: [[Double]] = []
    for table in 0..<tables {
      // Column j of the table's rotation is bit j's row (its first K values).
      var rotation = [Double](repeating: 0, count: bits * bits)
      for bit in 0..<bits {
        let row = (table * bits + bit) * m
        for index in 0..<m {
          let value = Double(hasher.parameters[row + index])
          if index < bits { rotation[index * bits + bit] = value } else { #expect(value == 0) }
        }
      }
      #expect(Self.orthogonalityError(rotation, size: bits) < 1e-5)
      rotations.append(rotation)
    }
    #expect(rotations[0] != rotations[1] && rotations[1] != rotations[2])
    var codes = [UInt64](repeating: 0, count: tables)
    for row in 0..<projected.rows {
      let z = Array(projected.row(row))
      z.withUnsafeBufferPointer { z in
        codes.withUnsafeMutableBufferPointer { hasher.codes(z, into: $0) }
      }
      for table in 0..<tables {
        var expected: UInt64 = 0
        for bit in 0..<bits {
          var value: Float = 0
          for index in 0..<m {
            value += hasher.parameters[(table * bits + bit) * m + index] * z[index]
          }
          if value >= 0 { expected |= 1 << UInt64(bit) }
        }
        #expect(codes[table] == expected)
      }
    }
  }

  @Test(
    "ITQ settings: K at most m (an error names it), one of K and m given sets the other, fewer data dimensions cap both"
  )
  func settings() throws {
    let tooMany = LSHConfiguration(family: .itq, tables: 4, hashesPerTable: 12, hashDimensions: 8)
    #expect(throws: LSHError.self) { try tooMany.validated(forDimension: 64) }
    do {
      _ = try tooMany.validated(forDimension: 64)
    } catch {
      #expect(error.description.contains("hashesPerTable must be in 1…8 for ITQ tables"))
    }
    let wide = LSHConfiguration(
      family: .itq, tables: 4, hashesPerTable: 65, hashDimensions: 80, sketchDimensions: 80)
    #expect(throws: LSHError.self) { try wide.validated(forDimension: 100) }
    var widest = wide
    widest.hashesPerTable = 64
    #expect(try widest.validated(forDimension: 100).hashesPerTable == 64)
    let narrow = try LSHConfiguration.defaults(for: .itq).validated(forDimension: 6)
    #expect(narrow.hashesPerTable == 6 && narrow.hashDimensions == 6)
    // The tuner pairs each K with m = K, within the code size.
    var grid = LSHTuner.Grid(metric: .l2)
    grid.hashesPerTable[.itq] = [20, 12, 40]
    #expect(grid.families == [.pstable, .itq, .crosspolytope])
    #expect(
      grid.shapes(of: .itq, codeSize: 32).map { [$0.hashDimensions, $0.hashes] } == [
        [12, 12], [20, 20],
      ])
    grid.hashDimensions = [8, 16]
    grid.hashesPerTable[.pstable] = [6]
    #expect(
      grid.shapes(of: .pstable, codeSize: 12).map { [$0.hashDimensions, $0.hashes] } == [
        [8, 6], [12, 6],
      ])
  }

  @Test(
    "tuning an ITQ grid builds what it measured, and that index keeps the recall on fresh probes")
  func tunesITQ() throws {
    let directory = TemporaryDirectory()
    let (store, _) = try clusteredStore(directory, rows: 5000, metric: .l2)
    var grid = LSHTuner.Grid(metric: .l2)
    grid.families = [.itq]
    grid.hashesPerTable = [.itq: [8, 12]]
    grid.tables = [4, 8]
    grid.probes = [1, 4, 16]
    let report = try LSHTuner.tune(store: store, target: 0.9, k: 10, sampleSize: 150, grid: grid)
    let reaching = try #require(report.fastestReaching)
    #expect(reaching.configuration.family == .itq)
    #expect(reaching.configuration.hashDimensions == reaching.configuration.hashesPerTable)
    let encoder = try #require(report.encoder)
    let index = try LSHIndex.build(on: store, encoder: encoder)
    let reopened = try #require(try LSHIndex.open(store))
    #expect(reopened.model.hasher == index.model.hasher)
    let recall = try indexRecall(
      store, index: reopened, data: Matrix(rows: 0, columns: 24),
      probes: freshProbes(300, after: 5000), k: 10)
    #expect(recall >= 0.9, "fresh-probe recall \(recall)")
  }
}
