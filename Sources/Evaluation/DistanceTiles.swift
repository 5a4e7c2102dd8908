import VectorMath

/// Query × gallery distance tiles through BLAS: ‖q‖² + ‖g‖² − 2 q·g (clamped at 0) for squared L2,
/// 1 − q·g for cosine (rows already unit length).
struct DistanceTiles: Sendable {
  let gallery: Matrix
  let metric: DistanceMetric
  private let galleryNorms: [Float]

  init(gallery: Matrix, metric: DistanceMetric) {
    self.gallery = gallery
    self.metric = metric
    galleryNorms = gallery.values.withUnsafeBufferPointer { values in
      (0..<gallery.rows).map { row in
        Vectors.squaredNorm(
          UnsafeBufferPointer(
            rebasing: values[(row * gallery.columns)..<((row + 1) * gallery.columns)]))
      }
    }
  }

  /// Fills `tile` with the distances of `rows` of `queries` to every gallery row (row-major).
  func distances(from queries: Matrix, rows: Range<Int>, into tile: inout [Float]) {
    let columns = gallery.columns
    let count = gallery.rows
    tile.removeAll(keepingCapacity: true)
    tile.append(contentsOf: repeatElement(0, count: rows.count * count))
    guard count > 0 && !rows.isEmpty else { return }
    queries.values.withUnsafeBufferPointer { queryValues in
      gallery.values.withUnsafeBufferPointer { galleryValues in
        tile.withUnsafeMutableBufferPointer { output in
          guard let queryBase = queryValues.baseAddress,
            let galleryBase = galleryValues.baseAddress,
            let outputBase = output.baseAddress
          else { return }
          BLAS.gemm(
            transposeB: true, m: rows.count, n: count, k: columns, alpha: metric == .l2 ? -2 : -1,
            a: queryBase + rows.lowerBound * columns, lda: columns, b: galleryBase, ldb: columns,
            c: outputBase, ldc: count)
          for (offset, row) in rows.enumerated() {
            let queryNorm =
              metric == .l2
              ? Vectors.squaredNorm(
                UnsafeBufferPointer(rebasing: queryValues[(row * columns)..<((row + 1) * columns)]))
              : 1
            let line = UnsafeMutableBufferPointer(
              rebasing: output[(offset * count)..<((offset + 1) * count)])
            if metric == .l2 {
              for index in 0..<count {
                line[index] = max(0, line[index] + queryNorm + galleryNorms[index])
              }
            } else {
              for index in 0..<count { line[index] += queryNorm }
            }
          }
        }
      }
    }
  }
}
