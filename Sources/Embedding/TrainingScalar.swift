import RealModule
import VectorMath

/// The floating-point types networks are computed in: `Float` for training and inference,
/// `Double` for gradient checks by finite differences.
public protocol TrainingScalar: BinaryFloatingPoint, Real, SIMDScalar, Codable, Sendable {
  /// C ← alpha · op(A) · op(B) + beta · C, row-major, through BLAS.
  static func gemm(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Self,
    a: UnsafePointer<Self>, lda: Int, b: UnsafePointer<Self>, ldb: Int, beta: Self,
    c: UnsafeMutablePointer<Self>, ldc: Int)
}

extension Float: TrainingScalar {
  /// `cblas_sgemm`.
  @inline(__always)
  public static func gemm(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float,
    c: UnsafeMutablePointer<Float>, ldc: Int
  ) {
    BLAS.gemm(
      transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha, a: a,
      lda: lda,
      b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
  }
}

extension Double: TrainingScalar {
  /// `cblas_dgemm`.
  @inline(__always)
  public static func gemm(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Double,
    a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int, beta: Double,
    c: UnsafeMutablePointer<Double>, ldc: Int
  ) {
    BLAS.gemm(
      transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha, a: a,
      lda: lda,
      b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
  }
}
