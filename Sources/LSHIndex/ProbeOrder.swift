import VectorMath

/// The order in which a batch of probes is searched: probes near each other are searched one
/// after another (and by the same worker), so the later ones find the bucket pages and stored
/// vectors the earlier ones read still in the cache instead of meeting them in memory again.
///
/// Each probe's answer is unchanged (a search depends on its probe alone); only the order of the
/// work changes. Probes are grouped in the space of the index's leading principal components
/// around ``groupSize``-fold fewer centres: probes drawn at random as centres, centres moved
/// once to the mean of their probes, probes assigned again (one step of Lloyd's k-means). Groups
/// follow one another in the order their first centres were drawn, probes in a group in batch
/// order.
enum ProbeOrder {
  /// Probes per group, on average.
  static let groupSize = 32
  /// The most groups.
  static let maximumGroups = 1024
  /// Leading principal components the grouping measures distances in.
  static let groupingComponents = 32
  /// Probes assigned to centres per matrix product.
  static let rowsPerProduct = 1024

  /// The rows of `probes` in locality order.
  ///
  /// - Parameters:
  ///   - probes: the probes, one per row (prepared as for the search).
  ///   - encoder: the index's encoder (its principal components).
  ///   - threads: worker threads.
  /// - Returns: a permutation of `0..<probes.rows` (the identity for fewer than two groups).
  static func byLocality(_ probes: Matrix, encoder: ItemEncoder, threads: Int) -> [Int] {
    let components = min(groupingComponents, encoder.model.transform.outputDimension)
    let groups = min(maximumGroups, probes.rows / groupSize)
    guard groups >= 2, components > 0 else { return Array(0..<probes.rows) }
    let projected = projections(
      of: probes, encoder: encoder, components: components, threads: threads)
    // The first centres: probes drawn at random (a fixed seed: the same batch, the same
    // order), so that no pattern in the batch's own order (by label, by camera) can draw them
    // all from one place.
    var rows = Array(0..<probes.rows)
    var random = SeededRandom(seed: 1)
    random.shuffle(&rows)
    var centres = Matrix(rows: groups, columns: components)
    for (group, row) in rows.prefix(groups).enumerated() {
      for column in 0..<components {
        centres.values[group * components + column] =
          projected.values[row * components + column]
      }
    }
    let assigned = nearestCentre(
      of: projected,
      among: means(
        of: projected, in: nearestCentre(of: projected, among: centres), groups: groups,
        keeping: centres))
    return (0..<probes.rows).sorted { (assigned[$0], $0) < (assigned[$1], $1) }
  }

  /// Each probe's leading `components` principal components, one row per probe.
  private static func projections(
    of probes: Matrix, encoder: ItemEncoder, components: Int, threads: Int
  ) -> Matrix {
    var projected = Matrix(rows: probes.rows, columns: components)
    projected.values.withUnsafeMutableBufferPointer { out in
      let out = UncheckedSendable(out)
      probes.values.withUnsafeBufferPointer { values in
        let workers = max(1, min(threads, probes.rows / 256))
        Parallel.forEachChunk(of: probes.rows, count: workers) { _, range in
          var scratch = encoder.makeScratch()
          for row in range {
            encoder.project(
              UnsafeBufferPointer(
                rebasing: values[(row * probes.columns)..<((row + 1) * probes.columns)]),
              into: &scratch)
            for column in 0..<components {
              out.value[row * components + column] = scratch.projection[column]
            }
          }
        }
      }
    }
    return projected
  }

  /// The index of each row's nearest centre (the first of equals).
  private static func nearestCentre(of rows: Matrix, among centres: Matrix) -> [Int] {
    let halfNorms = (0..<centres.rows).map { centre in
      centres.values.withUnsafeBufferPointer {
        Vectors.squaredNorm(
          UnsafeBufferPointer(
            rebasing: $0[(centre * centres.columns)..<((centre + 1) * centres.columns)])
        ) / 2
      }
    }
    var nearest = [Int](repeating: 0, count: rows.rows)
    var products = [Float](repeating: 0, count: rowsPerProduct * centres.rows)
    for start in stride(from: 0, to: rows.rows, by: rowsPerProduct) {
      let count = min(rowsPerProduct, rows.rows - start)
      rows.values.withUnsafeBufferPointer { values in
        centres.values.withUnsafeBufferPointer { centreValues in
          products.withUnsafeMutableBufferPointer { out in
            // Every operand is non-empty: groups >= 2 and components > 0.
            BLAS.gemm(
              transposeB: true, m: count, n: centres.rows, k: rows.columns,
              a: values.baseAddress.unsafelyUnwrapped + start * rows.columns, lda: rows.columns,
              b: centreValues.baseAddress.unsafelyUnwrapped, ldb: centres.columns,
              c: out.baseAddress.unsafelyUnwrapped, ldc: centres.rows)
          }
        }
      }
      for row in 0..<count {
        // Nearest = largest x·c − ‖c‖²/2.
        var best = 0
        var bestScore = -Float.infinity
        for centre in 0..<centres.rows {
          let score = products[row * centres.rows + centre] - halfNorms[centre]
          if score > bestScore {
            bestScore = score
            best = centre
          }
        }
        nearest[start + row] = best
      }
    }
    return nearest
  }

  /// Each group's mean row; a group with no rows keeps its centre.
  private static func means(
    of rows: Matrix, in assigned: [Int], groups: Int, keeping centres: Matrix
  ) -> Matrix {
    var sums = Matrix(rows: groups, columns: rows.columns)
    var counts = [Int](repeating: 0, count: groups)
    for row in 0..<rows.rows {
      let group = assigned[row]
      counts[group] += 1
      for column in 0..<rows.columns {
        sums.values[group * rows.columns + column] += rows.values[row * rows.columns + column]
      }
    }
    for group in 0..<groups {
      for column in 0..<rows.columns {
        let index = group * rows.columns + column
        sums.values[index] =
          counts[group] > 0 ? sums.values[index] / Float(counts[group]) : centres.values[index]
      }
    }
    return sums
  }
}
