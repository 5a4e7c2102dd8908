import VectorMath

/// Iterative quantization (Gong & Lazebnik, CVPR 2011): the rotation R of centred, projected
/// data V (n × K) that makes the sign bits B = sign(V R) lose the least, min ‖B − V R‖_F over
/// orthogonal R. Alternates the two exact half-steps: B from R (signs), then R from B (the
/// orthogonal Procrustes solution, the polar factor of Vᵀ B). Each step lowers the loss, so it
/// ends in a local minimum near its random start; tables of one index start from different
/// rotations and so cut the data differently.
enum ITQRotation {
  /// Rows of the projected sample one rotation is fitted on (its cost is a few K × n × K
  /// products per iteration).
  static let sampleRows = 10_000
  /// Alternations (the paper's 50).
  static let iterations = 50

  /// The learned rotation of the first `bits` columns of `projected`.
  ///
  /// - Parameters:
  ///   - projected: the centred, projected sample (at least `bits` columns).
  ///   - bits: K, the rotation's size.
  ///   - random: the draw of the starting rotation.
  /// - Returns: R, `bits × bits`, row-major; bit j of a vector v is the sign of Σ_i v_i R[i, j].
  static func fit(_ projected: Matrix, bits: Int, random: inout SeededRandom) -> [Double] {
    precondition(bits >= 1 && bits <= projected.columns, "ITQ rotates at most the columns it has")
    let start = randomRotation(size: bits, random: &random)
    let rows = min(projected.rows, sampleRows)
    guard rows > 0 else { return start }
    let stride = max(1, projected.rows / rows)
    var v = [Double](repeating: 0, count: rows * bits)
    for row in 0..<rows {
      for column in 0..<bits {
        v[row * bits + column] = Double(projected[row * stride, column])
      }
    }
    var rotation = start
    var rotated = [Double](repeating: 0, count: rows * bits)
    var cross = [Double](repeating: 0, count: bits * bits)
    for _ in 0..<iterations {
      // B = sign(V R), kept in `rotated`.
      product(v, rows: rows, inner: bits, rotation, columns: bits, into: &rotated)
      for index in rotated.indices { rotated[index] = rotated[index] >= 0 ? 1 : -1 }
      // M = Vᵀ B (K × K); R = the polar factor of M.
      product(v, rows: bits, inner: rows, rotated, columns: bits, into: &cross, transposeA: true)
      guard let polar = polarFactor(cross, size: bits) else { break }
      rotation = polar
    }
    return rotation
  }

  /// C = op(A) B for row-major B (inner × columns) and A (rows × inner, or inner × rows when
  /// `transposeA`, op(A) = Aᵀ).
  private static func product(
    _ a: [Double], rows: Int, inner: Int, _ b: [Double], columns: Int, into c: inout [Double],
    transposeA: Bool = false
  ) {
    a.withUnsafeBufferPointer { a in
      b.withUnsafeBufferPointer { b in
        c.withUnsafeMutableBufferPointer { c in
          guard let a = a.baseAddress, let b = b.baseAddress, let c = c.baseAddress else { return }
          BLAS.gemm(
            transposeA: transposeA, m: rows, n: columns, k: inner, a: a,
            lda: transposeA ? rows : inner, b: b, ldb: columns, c: c, ldc: columns)
        }
      }
    }
  }

  /// The orthogonal factor Q of M = Q P (P symmetric positive semi-definite): M (Mᵀ M)^(−1/2),
  /// which is U Wᵀ for M = U Σ Wᵀ, the rotation closest to M. `nil` when M is (numerically)
  /// singular or the eigen-solver fails.
  static func polarFactor(_ m: [Double], size: Int) -> [Double]? {
    var gram = [Double](repeating: 0, count: size * size)
    product(m, rows: size, inner: size, m, columns: size, into: &gram, transposeA: true)
    guard let (values, eigenvectors) = SymmetricEigen.decompose(gram, n: size),
      let largest = values.first, largest > 0, let smallest = values.last,
      smallest > largest * 1e-12
    else { return nil }
    var vectors = eigenvectors
    // (Mᵀ M)^(−1/2) = Σ_e v_e v_eᵀ / √λ_e = Sᵀ S, where row e of S is v_e / λ_e^(1/4).
    for e in 0..<size {
      let scale = 1 / values[e].squareRoot().squareRoot()
      for index in 0..<size { vectors[e * size + index] *= scale }
    }
    var inverseRoot = [Double](repeating: 0, count: size * size)
    product(
      vectors, rows: size, inner: size, vectors, columns: size, into: &inverseRoot,
      transposeA: true)
    var q = [Double](repeating: 0, count: size * size)
    product(m, rows: size, inner: size, inverseRoot, columns: size, into: &q)
    return q
  }

  /// A random rotation: Gram–Schmidt on Gaussian rows (uniform over orthogonal matrices up to
  /// the signs Gram–Schmidt fixes, which is all a starting point needs).
  static func randomRotation(size: Int, random: inout SeededRandom) -> [Double] {
    var q = [Double](repeating: 0, count: size * size)
    var row = 0
    while row < size {
      var candidate = (0..<size).map { _ in random.normal() }
      for earlier in 0..<row {
        var dot = 0.0
        for index in 0..<size { dot += candidate[index] * q[earlier * size + index] }
        for index in 0..<size { candidate[index] -= dot * q[earlier * size + index] }
      }
      let norm = candidate.reduce(0) { $0 + $1 * $1 }.squareRoot()
      guard norm > 1e-6 else { continue }
      for index in 0..<size { q[row * size + index] = candidate[index] / norm }
      row += 1
    }
    return q
  }
}
