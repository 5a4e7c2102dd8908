import VectorMath

/// Centring and projection onto the top principal components, learned from (a sample of) the
/// stored vectors: z = B (x − μ), where the rows of B are orthonormal eigenvectors of the
/// covariance, largest first. Since B has orthonormal rows, ‖B(x − y)‖ ≤ ‖x − y‖: distances between
/// projections are lower bounds of true L2 distances.
public struct DataTransform: Sendable, Equatable {
  /// Input dimension.
  public let inputDimension: Int
  /// Output dimension (components kept).
  public let outputDimension: Int
  /// μ.
  public let mean: [Float]
  /// B, `outputDimension × inputDimension`, row-major.
  public let basis: [Float]
  /// The variance along each kept component (the eigenvalues), largest first.
  public let variances: [Float]

  /// Wraps stored values.
  public init(
    inputDimension: Int, outputDimension: Int, mean: [Float], basis: [Float], variances: [Float]
  ) {
    precondition(mean.count == inputDimension && basis.count == inputDimension * outputDimension)
    self.inputDimension = inputDimension
    self.outputDimension = outputDimension
    self.mean = mean
    self.basis = basis
    self.variances = variances
  }

  /// The same transform keeping only its leading `components` components.
  ///
  /// - Parameter components: at most ``outputDimension``.
  /// - Returns: the shorter transform.
  public func leading(_ components: Int) -> DataTransform {
    precondition(components >= 0 && components <= outputDimension, "components the transform keeps")
    return DataTransform(
      inputDimension: inputDimension, outputDimension: components, mean: mean,
      basis: Array(basis.prefix(components * inputDimension)),
      variances: Array(variances.prefix(components)))
  }

  /// Learns the transform from sample vectors.
  ///
  /// - Parameters:
  ///   - sample: vectors, one per row.
  ///   - components: components to keep.
  /// - Returns: the transform, or `nil` when the eigen-solver fails.
  /// - Complexity: O(rows · d² + d³).
  public static func fit(_ sample: Matrix, components: Int) -> DataTransform? {
    let d = sample.columns
    let rows = max(sample.rows, 1)
    var mean = [Double](repeating: 0, count: d)
    for row in 0..<sample.rows {
      for column in 0..<d { mean[column] += Double(sample[row, column]) }
    }
    for column in 0..<d { mean[column] /= Double(rows) }
    // Covariance through BLAS: C = Xcᵀ Xc / n.
    var centred = [Double](repeating: 0, count: sample.rows * d)
    for row in 0..<sample.rows {
      for column in 0..<d { centred[row * d + column] = Double(sample[row, column]) - mean[column] }
    }
    var covariance = [Double](repeating: 0, count: d * d)
    centred.withUnsafeBufferPointer { x in
      covariance.withUnsafeMutableBufferPointer { c in
        guard let xBase = x.baseAddress, let cBase = c.baseAddress else { return }
        BLAS.gemm(
          transposeA: true, transposeB: false, m: d, n: d, k: sample.rows, alpha: 1 / Double(rows),
          a: xBase,
          lda: d, b: xBase, ldb: d, c: cBase, ldc: d)
      }
    }
    guard let (values, vectors) = SymmetricEigen.decompose(covariance, n: d) else { return nil }
    let kept = min(components, d)
    return DataTransform(
      inputDimension: d, outputDimension: kept, mean: mean.map { Float($0) },
      basis: vectors[0..<(kept * d)].map { Float($0) },
      variances: values[0..<kept].map { Float(max($0, 0)) })
  }

  /// Projects one vector.
  ///
  /// - Parameters:
  ///   - vector: `inputDimension` values.
  ///   - output: receives `outputDimension` values.
  @inline(__always)
  public func project(
    _ vector: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>
  ) {
    basis.withUnsafeBufferPointer { basis in
      mean.withUnsafeBufferPointer { mean in
        for component in 0..<outputDimension {
          var sum: Float = 0
          let row = component * inputDimension
          for index in 0..<inputDimension {
            sum += basis[row + index] * (vector[index] - mean[index])
          }
          output[component] = sum
        }
      }
    }
  }

  /// Projects many vectors at once with BLAS.
  ///
  /// - Parameter vectors: one per row.
  /// - Returns: one projection per row.
  public func project(_ vectors: Matrix) -> Matrix {
    var centred = vectors
    for row in 0..<vectors.rows {
      for column in 0..<inputDimension { centred[row, column] -= mean[column] }
    }
    let basisMatrix = Matrix(rows: outputDimension, columns: inputDimension, values: basis)
    return BLAS.multiply(centred, basisMatrix, transposeB: true)
  }
}
