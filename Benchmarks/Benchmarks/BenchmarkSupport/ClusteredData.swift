import TripIndex
import VectorMath

/// Seeded clustered vectors shared by the store and LSH suites.
public enum ClusteredData {
  /// Points around 1,000 Gaussian centres (σ 3) with unit noise, 128-d, as
  /// scripts/make_clustered.py draws them.
  ///
  /// - Parameters:
  ///   - rows: points.
  ///   - seed: the draw's seed (the centres are fixed).
  /// - Returns: the points, one per row.
  public static func make(rows: Int, seed: UInt64) -> Matrix {
    var random = SeededRandom(seed: 1234)
    let centres = (0..<(1000 * 128)).map { _ in Float(random.normal() * 3) }
    var draws = SeededRandom(seed: seed)
    var values: [Float] = []
    values.reserveCapacity(rows * 128)
    for _ in 0..<rows {
      let centre = draws.integer(in: 0...999)
      for column in 0..<128 {
        values.append(centres[centre * 128 + column] + Float(draws.normal()))
      }
    }
    return Matrix(rows: rows, columns: 128, values: values)
  }
}
