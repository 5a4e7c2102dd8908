import Foundation
import Plumbing
import VectorIO
import VectorMath

/// Data and byte-level builders shared by the test suites.
public enum Fixtures {
  /// A reproducible random matrix with values in [-scale, scale).
  ///
  /// - Parameters:
  ///   - rows: rows.
  ///   - columns: columns.
  ///   - seed: the seed.
  ///   - scale: the value range.
  public static func randomMatrix(rows: Int, columns: Int, seed: UInt64, scale: Float = 1) -> Matrix
  {
    var random = SeededRandom(seed: seed)
    return Matrix(
      rows: rows, columns: columns,
      values: (0..<(rows * columns)).map { _ in Float(random.uniform() * 2 - 1) * scale })
  }

  /// Clustered data: `clusters` Gaussian blobs, like real embeddings rather than uniform noise.
  public static func clusteredMatrix(rows: Int, columns: Int, clusters: Int, seed: UInt64) -> Matrix
  {
    var random = SeededRandom(seed: seed)
    let centres = (0..<(clusters * columns)).map { _ in Float(random.normal() * 3) }
    var values: [Float] = []
    values.reserveCapacity(rows * columns)
    for _ in 0..<rows {
      let cluster = random.integer(in: 0...(clusters - 1))
      for column in 0..<columns {
        values.append(centres[cluster * columns + column] + Float(random.normal()))
      }
    }
    return Matrix(rows: rows, columns: columns, values: values)
  }

  /// The bytes of a TEXMEX `.fvecs` file.
  public static func fvecsBytes(_ matrix: Matrix) -> [UInt8] {
    var bytes: [UInt8] = []
    for row in 0..<matrix.rows {
      withUnsafeBytes(of: Int32(matrix.columns).littleEndian) { bytes += $0 }
      for value in matrix.row(row) {
        withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 }
      }
    }
    return bytes
  }

  /// The bytes of a `.npy` file with an arbitrary header dictionary and payload.
  ///
  /// - Parameters:
  ///   - dictionary: the header's Python literal.
  ///   - payload: the data bytes.
  ///   - major: the format's major version (1 uses a 2-byte header length, 2 and 3 use 4 bytes).
  public static func npyBytes(dictionary: String, payload: [UInt8], major: UInt8 = 1) -> [UInt8] {
    var header = Array(dictionary.utf8)
    let preamble = major == 1 ? 10 : 12
    while (preamble + header.count + 1) % 64 != 0 { header.append(UInt8(ascii: " ")) }
    header.append(UInt8(ascii: "\n"))
    var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [major, 0]
    if major == 1 {
      withUnsafeBytes(of: UInt16(header.count).littleEndian) { bytes += $0 }
    } else {
      withUnsafeBytes(of: UInt32(header.count).littleEndian) { bytes += $0 }
    }
    return bytes + header + payload
  }

  /// Little-endian float32 bytes of values.
  public static func float32Bytes(_ values: [Float]) -> [UInt8] {
    values.flatMap { value in withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) } }
  }

  /// Writes a matrix as a `.vec` text file.
  public static func vecText(_ matrix: Matrix) -> String {
    (0..<matrix.rows).map { row in matrix.row(row).map { "\($0)" }.joined(separator: " ") }
      .joined(separator: "\n") + "\n"
  }

  /// Brute-force nearest neighbours, the reference for search tests: (distance, id) ascending.
  public static func bruteForce(
    base: Matrix, probe: [Float], k: Int, metric: DistanceMetric, excluded: Set<Int> = []
  ) -> [(id: Int, distance: Float)] {
    var all: [(id: Int, distance: Float)] = []
    for row in 0..<base.rows where !excluded.contains(row) {
      let vector = base.row(row)
      var distance: Float = 0
      switch metric {
      case .l2:
        for index in 0..<vector.count {
          distance += (vector[index] - probe[index]) * (vector[index] - probe[index])
        }
      case .cosine:
        var dot: Float = 0
        for index in 0..<vector.count { dot += vector[index] * probe[index] }
        distance = 1 - dot
      }
      all.append((row, distance))
    }
    all.sort { $0.distance < $1.distance || ($0.distance == $1.distance && $0.id < $1.id) }
    return Array(all.prefix(k))
  }
}
