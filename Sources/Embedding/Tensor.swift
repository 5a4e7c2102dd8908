/// A dense row-major 2-D array of a ``TrainingScalar``: a batch of rows.
public struct Tensor<Scalar: TrainingScalar>: Sendable, Equatable {
  /// Rows (batch size).
  public var rows: Int
  /// Columns (features).
  public var columns: Int
  /// The values, row after row.
  public var values: [Scalar]

  /// A tensor filled with zeros.
  ///
  /// - Parameters:
  ///   - rows: rows.
  ///   - columns: columns.
  public init(rows: Int, columns: Int) {
    self.rows = rows
    self.columns = columns
    values = Array(repeating: 0, count: rows * columns)
  }

  /// Wraps values.
  ///
  /// - Parameters:
  ///   - rows: rows.
  ///   - columns: columns.
  ///   - values: exactly `rows × columns` values.
  public init(rows: Int, columns: Int, values: [Scalar]) {
    precondition(values.count == rows * columns, "\(values.count) values for \(rows)×\(columns)")
    self.rows = rows
    self.columns = columns
    self.values = values
  }

  /// Element (row, column).
  public subscript(row: Int, column: Int) -> Scalar {
    get { values[row * columns + column] }
    set { values[row * columns + column] = newValue }
  }
}

/// `result = op(a) · op(b)` (+ `result` when `accumulate`), through BLAS.
@inline(__always)
func multiply<T: TrainingScalar>(
  _ a: [T], _ b: [T], into result: inout [T], m: Int, n: Int, k: Int,
  transposeA: Bool = false, transposeB: Bool = false, accumulate: Bool = false
) {
  guard m > 0 && n > 0 && k > 0 else {
    if !accumulate { for index in result.indices { result[index] = 0 } }
    return
  }
  a.withUnsafeBufferPointer { a in
    b.withUnsafeBufferPointer { b in
      result.withUnsafeMutableBufferPointer { c in
        guard let aBase = a.baseAddress, let bBase = b.baseAddress, let cBase = c.baseAddress else {
          return
        }
        T.gemm(
          transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: 1, a: aBase,
          lda: transposeA ? m : k, b: bBase, ldb: transposeB ? k : n, beta: accumulate ? 1 : 0,
          c: cBase, ldc: n)
      }
    }
  }
}
