import Evaluation
import LSHIndex
import Plumbing
import VectorIO
import VectorMath
import VectorStore

/// Exact and LSH search of the same gallery, side by side: the gallery goes into a temporary
/// store (deleted afterwards), is indexed, and every query is answered both ways, timed under the
/// same conditions (same store, same depth, same threads).
struct SearchComparison: Sendable {
  /// Per query, gallery row indices of the exact top `depth`, closest first.
  var exact: [[Int]]
  /// Per query, gallery row indices of the LSH top `depth`, closest first (possibly fewer).
  var approximate: [[Int]]
  /// The depth searched.
  var depth: Int
  /// Seconds the exact search took (all queries).
  var exactSeconds: Double
  /// Seconds the LSH search took (all queries; tables already loaded).
  var approximateSeconds: Double
  /// Mean distinct candidates per query gathered from the buckets.
  var meanCandidates: Double
  /// Mean exact distances computed per query by the LSH search.
  var meanExactDistances: Double
  /// The index's settings (bucket width resolved).
  var configuration: LSHConfiguration
  /// Further LSH searches with other numbers of probes per table, in the order asked for.
  var sweep: [SweepPoint] = []
  /// With a neighbour search asked for: per item (queries, then gallery), the gallery rows the
  /// index returned as its nearest (what re-ranking from the index starts from).
  var galleryCandidates: [[Int]]?

  /// One LSH search with a given number of probes per table.
  struct SweepPoint: Sendable {
    /// Probes per table.
    var probes: Int
    /// Per query, gallery row indices of the top `depth`.
    var rankings: [[Int]]
    /// Seconds for all queries.
    var seconds: Double
    /// Mean distinct candidates per query.
    var meanCandidates: Double
  }

  /// ANN recall@k of the LSH lists against the exact ones.
  ///
  /// - Parameter k: the depth (at most ``depth``).
  /// - Returns: the mean recall.
  func annRecall(at k: Int) -> Double {
    ANNRecall.recall(approximate: approximate, exact: exact, k: min(k, depth))
  }

  /// Queries per second of each search.
  var exactQueriesPerSecond: Double { Double(exact.count) / max(exactSeconds, 1e-9) }
  /// Queries per second of the LSH search.
  var approximateQueriesPerSecond: Double {
    Double(approximate.count) / max(approximateSeconds, 1e-9)
  }

  /// Runs both searches.
  ///
  /// - Parameters:
  ///   - queries: one query per row, prepared for `metric` (unit length for cosine).
  ///   - gallery: one gallery item per row, same columns, prepared likewise.
  ///   - metric: the distance.
  ///   - depth: neighbours per query.
  ///   - configuration: the LSH settings (a missing p-stable width is estimated from the gallery).
  ///   - threads: worker threads for both searches.
  ///   - probeSweep: further numbers of probes per table to search with (for speed curves).
  ///   - progress: status output.
  /// - Returns: both rankings and their costs.
  /// - Throws: `LSHError` for bad settings, `VectorStoreError` or `VectorIOError` when the
  ///   temporary store cannot be written.
  static func run(
    queries: Matrix, gallery: Matrix, metric: DistanceMetric, depth: Int,
    configuration: LSHConfiguration, threads: Int, probeSweep: [Int] = [],
    neighbourDepth: Int? = nil, progress: Progress
  ) throws -> SearchComparison {
    precondition(queries.columns == gallery.columns, "query and gallery dimensions differ")
    let folder = try Directories.temporary(prefix: "tripindex-eval")
    defer { try? Directories.removeTree(folder) }
    progress.update(
      "indexing \(TextFormatting.grouped(gallery.rows)) gallery items (LSH) in a temporary store",
      force: true)
    let store = try VectorStore.openOrCreate(
      path: folder + "/gallery.lmdb", dimension: gallery.columns, metric: metric)
    var rowOfID: [UInt64: Int] = [:]
    try store.write { writer in
      let batch = 4096
      var start = 0
      while start < gallery.rows {
        let end = min(start + batch, gallery.rows)
        let summary = try gallery.values.withUnsafeBufferPointer { values in
          try writer.upsert(
            names: (start..<end).map { "row \($0)" },
            labels: Array(repeating: ItemLabels(), count: end - start),
            vectors: UnsafeBufferPointer(
              rebasing: values[(start * gallery.columns)..<(end * gallery.columns)]))
        }
        for (offset, id) in summary.ids.enumerated() { rowOfID[id] = start + offset }
        start = end
      }
    }
    let index = try LSHIndex.build(on: store, configuration: configuration)
    return try compare(
      queries: queries, store: store, index: index, rowOfID: rowOfID, depth: depth,
      threads: threads, probeSweep: probeSweep,
      neighbours: neighbourDepth.map { ($0, gallery) }, progress: progress)
  }

  /// Searches a store's items exactly and with its LSH index: the same comparison as
  /// ``run(queries:gallery:metric:depth:configuration:threads:probeSweep:progress:)`` on a gallery
  /// already stored and indexed.
  ///
  /// - Parameters:
  ///   - queries: prepared query vectors (embedded, unit length for cosine).
  ///   - store: the gallery's store.
  ///   - index: its LSH index.
  ///   - rowOfID: each stored id's gallery row (rankings are reported in rows).
  ///   - depth: neighbours per query.
  ///   - threads: worker threads.
  ///   - probeSweep: further probe counts per table to time.
  ///   - neighbours: also search every query and gallery vector (`gallery`, in row order) for
  ///     this many nearest gallery items, or `nil`.
  ///   - progress: status output.
  /// - Returns: the rankings, times and candidate counts.
  /// - Throws: `LSHError` when a table cannot be read.
  static func compare(
    queries: Matrix, store: VectorStore, index: LSHIndex, rowOfID: [UInt64: Int], depth: Int,
    threads: Int, probeSweep: [Int] = [], neighbours: (depth: Int, gallery: Matrix)? = nil,
    progress: Progress
  ) throws -> SearchComparison {
    let depth = min(depth, rowOfID.count)
    progress.update(
      "searching \(TextFormatting.grouped(queries.rows)) queries, exact and LSH (\(index.configuration.summary))",
      force: true)
    return try store.read { snapshot in
      func rows(_ neighbors: [Neighbor]) -> [Int] { neighbors.compactMap { rowOfID[$0.id] } }
      var exactSearch = snapshot.exactSearch
      exactSearch.threads = max(1, threads)
      let exactStarted = Progress.now()
      let exact = exactSearch.search(queries, k: depth)
      let exactSeconds = Progress.now() - exactStarted
      let searcher = index.searcher(in: snapshot)
      let approximateStarted = Progress.now()
      let results = try searcher.search(queries, k: depth, threads: max(1, threads))
      let approximateSeconds = Progress.now() - approximateStarted
      let count = Double(max(results.count, 1))
      func meanCandidates(_ results: [LSHSearchResult]) -> Double {
        Double(results.reduce(0) { $0 + $1.candidates }) / count
      }
      let sweep = try probeSweep.map { probes in
        let started = Progress.now()
        let found = try searcher.search(
          queries, k: depth, probesPerTable: probes, threads: max(1, threads))
        return SweepPoint(
          probes: probes, rankings: found.map { rows($0.neighbors) },
          seconds: Progress.now() - started, meanCandidates: meanCandidates(found))
      }
      var galleryCandidates: [[Int]]?
      if let neighbours {
        progress.update(
          "searching the index for the \(neighbours.depth) nearest of every item (re-ranking)",
          force: true)
        let wanted = min(neighbours.depth, rowOfID.count)
        let fromQueries = try searcher.search(queries, k: wanted, threads: max(1, threads))
        let fromGallery = try searcher.search(
          neighbours.gallery, k: wanted, threads: max(1, threads))
        galleryCandidates = (fromQueries + fromGallery).map { rows($0.neighbors) }
      }
      return SearchComparison(
        exact: exact.map(rows), approximate: results.map { rows($0.neighbors) }, depth: depth,
        exactSeconds: exactSeconds, approximateSeconds: approximateSeconds,
        meanCandidates: meanCandidates(results),
        meanExactDistances: Double(results.reduce(0) { $0 + $1.exactDistances }) / count,
        configuration: index.configuration, sweep: sweep, galleryCandidates: galleryCandidates)
    }
  }
}
