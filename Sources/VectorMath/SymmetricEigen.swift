import COpenBLAS

/// Eigen-decomposition of symmetric matrices through LAPACK (`dsyevd`, as shipped with OpenBLAS).
public enum SymmetricEigen {
  /// Eigenvalues and eigenvectors of a symmetric n × n matrix, largest eigenvalue first.
  ///
  /// - Parameters:
  ///   - matrix: row-major n × n values (only the symmetric part matters).
  ///   - n: the size.
  /// - Returns: eigenvalues (descending) and eigenvectors as rows (`vectors[i * n + j]` is
  ///   component j of eigenvector i), or `nil` when LAPACK fails to converge.
  /// - Complexity: O(n³).
  public static func decompose(_ matrix: [Double], n: Int) -> (values: [Double], vectors: [Double])?
  {
    precondition(matrix.count == n * n, "not an n × n matrix")
    guard n > 0 else { return ([], []) }
    var a = matrix  // column-major = row-major for a symmetric matrix
    var values = [Double](repeating: 0, count: n)
    var size = Int32(n)
    var info: Int32 = 0
    var workSize: Int32 = -1
    var integerWorkSize: Int32 = -1
    var workQuery = 0.0
    var integerWorkQuery: Int32 = 0
    let jobz = Int8(UInt8(ascii: "V"))
    let uplo = Int8(UInt8(ascii: "U"))
    var jobzValue = jobz
    var uploValue = uplo
    BLASBuffers.withBuffer {
      dsyevd_(
        &jobzValue, &uploValue, &size, &a, &size, &values, &workQuery, &workSize,
        &integerWorkQuery, &integerWorkSize, &info)
    }
    guard info == 0 else { return nil }
    workSize = Int32(workQuery)
    integerWorkSize = integerWorkQuery
    var work = [Double](repeating: 0, count: Int(workSize))
    var integerWork = [Int32](repeating: 0, count: Int(integerWorkSize))
    BLASBuffers.withBuffer {
      dsyevd_(
        &jobzValue, &uploValue, &size, &a, &size, &values, &work, &workSize, &integerWork,
        &integerWorkSize, &info)
    }
    guard info == 0 else { return nil }
    // LAPACK returns ascending eigenvalues with eigenvectors as columns (column-major): column j
    // is a[j * n ..< (j + 1) * n]. Reverse to descending, one eigenvector per row.
    var vectors = [Double](repeating: 0, count: n * n)
    var descending = [Double](repeating: 0, count: n)
    for rank in 0..<n {
      let column = n - 1 - rank
      descending[rank] = values[column]
      for component in 0..<n { vectors[rank * n + component] = a[column * n + component] }
    }
    return (descending, vectors)
  }
}
