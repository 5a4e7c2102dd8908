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
    let first = nearestCentre(of: projected, among: centres, threads: threads)
    let assigned = nearestCentre(
      of: projected,
      among: means(of: projected, in: first, groups: groups, keeping: centres), threads: threads)
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

  /// The index of each row's nearest centre (the first of equals): an exact search of the
  /// centres, in the standard product shape (too small a search to consult the shape cache).
  private static func nearestCentre(of rows: Matrix, among centres: Matrix, threads: Int) -> [Int] {
    centres.withVectorSource(metric: .l2) { source in
      var search = source.exactSearch
      search.threads = threads
      search.shape = .standard
      return search.search(rows, k: 1).map { Int($0[0].id) }
    }
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
