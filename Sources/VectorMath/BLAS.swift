import COpenBLAS

/// Matrix products through OpenBLAS (`cblas_sgemm`), the batched core of exact search and training.
public enum BLAS {
  /// The number of threads OpenBLAS uses inside one call (process-wide).
  public static var threadCount: Int { Int(openblas_get_num_threads()) }

  /// Sets the number of threads OpenBLAS uses inside one call (process-wide). Code that changes
  /// it puts the previous count back when it is done (see ``shareThreads(_:among:)``).
  ///
  /// - Parameter count: threads per BLAS call.
  public static func setThreadCount(_ count: Int) {
    // Under an address-space limit OpenBLAS keeps one thread: each of its threads needs a work
    // buffer of its own (see ``BLASBuffers``).
    openblas_set_num_threads(Int32(BLASBuffers.isLimited ? 1 : count))
  }

  /// Gives each of `workers` callers its share of a budget of `threads`: BLAS calls made while
  /// they run use `threads / workers` threads (at least 1), so a search limited to one thread
  /// never runs BLAS on more, and parallel workers never oversubscribe the cores.
  ///
  /// The setting is process-wide; put the returned count back when the work is done:
  /// ```swift
  /// let previousThreads = BLAS.shareThreads(threads, among: workers)
  /// defer { BLAS.setThreadCount(previousThreads) }
  /// ```
  ///
  /// - Parameters:
  ///   - threads: the threads the whole computation may use.
  ///   - workers: the workers that will call BLAS at the same time.
  /// - Returns: the thread count before the call.
  public static func shareThreads(_ threads: Int, among workers: Int) -> Int {
    let previous = threadCount
    setThreadCount(max(1, threads / max(1, workers)))
    return previous
  }

  /// C ← alpha · op(A) · op(B) + beta · C for row-major matrices given by pointers.
  ///
  /// - Parameters:
  ///   - transposeA: use Aᵀ.
  ///   - transposeB: use Bᵀ.
  ///   - m: rows of op(A) and C.
  ///   - n: columns of op(B) and C.
  ///   - k: columns of op(A), rows of op(B).
  ///   - alpha: the product's scale.
  ///   - a: A's values, leading dimension `lda`.
  ///   - lda: A's row stride.
  ///   - b: B's values, leading dimension `ldb`.
  ///   - ldb: B's row stride.
  ///   - beta: C's scale before adding.
  ///   - c: C's values, leading dimension `ldc`.
  ///   - ldc: C's row stride.
  /// - Complexity: O(m·n·k).
  @inline(__always)
  public static func gemm(
    transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int,
    alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
  ) {
    guard m > 0 && n > 0 else { return }
    BLASBuffers.withBuffer {
      cblas_sgemm(
        CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans,
        transposeB ? CblasTrans : CblasNoTrans, blasint(m), blasint(n), blasint(k), alpha, a,
        blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
    }
  }

  /// C ← alpha · op(A) · op(B) + beta · C in double precision (`cblas_dgemm`), for gradient checks.
  ///
  /// - Parameters: as the `Float` version.
  /// - Complexity: O(m·n·k).
  @inline(__always)
  public static func gemm(
    transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int,
    alpha: Double = 1, a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int,
    beta: Double = 0, c: UnsafeMutablePointer<Double>, ldc: Int
  ) {
    guard m > 0 && n > 0 else { return }
    BLASBuffers.withBuffer {
      cblas_dgemm(
        CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans,
        transposeB ? CblasTrans : CblasNoTrans, blasint(m), blasint(n), blasint(k), alpha, a,
        blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
    }
  }

  /// The product of two matrices, optionally transposed.
  ///
  /// - Parameters:
  ///   - a: the left matrix.
  ///   - b: the right matrix.
  ///   - transposeA: use aᵀ.
  ///   - transposeB: use bᵀ.
  /// - Returns: op(a) · op(b).
  /// - Complexity: O(m·n·k).
  public static func multiply(
    _ a: Matrix, _ b: Matrix, transposeA: Bool = false, transposeB: Bool = false
  ) -> Matrix {
    let m = transposeA ? a.columns : a.rows
    let k = transposeA ? a.rows : a.columns
    let n = transposeB ? b.rows : b.columns
    precondition(k == (transposeB ? b.columns : b.rows), "inner dimensions differ")
    var c = Matrix(rows: m, columns: n)
    a.values.withUnsafeBufferPointer { av in
      b.values.withUnsafeBufferPointer { bv in
        c.values.withUnsafeMutableBufferPointer { cv in
          guard let aBase = av.baseAddress, let bBase = bv.baseAddress, let cBase = cv.baseAddress
          else { return }  // an empty operand: the product is all zeros already
          gemm(
            transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
            a: aBase, lda: a.columns, b: bBase, ldb: b.columns, c: cBase, ldc: n)
        }
      }
    }
    return c
  }
}
