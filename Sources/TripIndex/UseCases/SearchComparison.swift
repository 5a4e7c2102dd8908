import Evaluation
import LSHIndex
import Plumbing
import VectorIO
import VectorMath
import VectorStore

/// Exact and LSH search of the same gallery, side by side: the gallery (in memory, or in a store)
/// is indexed, and every query is answered both ways, timed under the same conditions (same
/// vectors, same depth, same threads).
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

  /// Runs both searches over a gallery in memory, indexed in memory (``LSHMemoryIndex``): no
  /// store is written.
  ///
  /// - Parameters:
  ///   - queries: one query per row, prepared for `metric` (unit length for cosine).
  ///   - gallery: one gallery item per row, same columns, prepared likewise.
  ///   - metric: the distance.
  ///   - depth: neighbours per query.
  ///   - configuration: the LSH settings (a missing p-stable width is estimated from the gallery).
  ///   - threads: worker threads for both searches.
  ///   - probeSweep: further numbers of probes per table to search with (for speed curves).
  ///   - neighbourDepth: also search every query and gallery vector for this many nearest
  ///     gallery items (re-ranking from the index), or `nil`.
  ///   - progress: status output.
  /// - Returns: both rankings and their costs.
  /// - Throws: `LSHError` for bad settings.
  static func run(
    queries: Matrix, gallery: Matrix, metric: DistanceMetric, depth: Int,
    configuration: LSHConfiguration, threads: Int, probeSweep: [Int] = [],
    neighbourDepth: Int? = nil, progress: any ProgressReporting
  ) throws -> SearchComparison {
    precondition(queries.columns == gallery.columns, "query and gallery dimensions differ")
    return try gallery.withVectorSource(metric: metric) { source in
      progress.update(
        "indexing \(TextFormatting.grouped(gallery.rows)) gallery items (LSH) in memory",
        force: true)
      let index = try LSHMemoryIndex.build(configuration: configuration, over: source)
      return try index.withSearcher(over: source) { searcher in
        try compare(
          queries: queries, source: source, searcher: searcher,
          configuration: index.configuration, rowOf: { Int($0) }, depth: depth, threads: threads,
          probeSweep: probeSweep, neighbours: neighbourDepth.map { ($0, gallery) },
          progress: progress)
      }
    }
  }

  /// Searches a store's items exactly and with its LSH index: the same comparison as
  /// ``run(queries:gallery:metric:depth:configuration:threads:probeSweep:neighbourDepth:progress:)``
  /// on a gallery already stored and indexed.
  ///
  /// - Parameters:
  ///   - queries: prepared query vectors (embedded, unit length for cosine).
  ///   - store: the gallery's store.
  ///   - index: its LSH index (opened before this call).
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
    progress: any ProgressReporting
  ) throws -> SearchComparison {
    try store.read { snapshot in
      try index.withSearcher(in: snapshot) { searcher in
        try compare(
          queries: queries, source: snapshot, searcher: searcher,
          configuration: index.configuration, rowOf: { rowOfID[$0] }, depth: depth,
          threads: threads, probeSweep: probeSweep, neighbours: neighbours, progress: progress)
      }
    }
  }

  /// Both searches over one ``VectorSource``, whatever holds it.
  ///
  /// - Parameters:
  ///   - source: the gallery's vectors.
  ///   - searcher: an LSH searcher over the same source.
  ///   - configuration: the index's settings, for the report.
  ///   - rowOf: the gallery row of an id (`nil`: not a gallery item).
  ///   - Other parameters: as ``compare(queries:store:index:rowOfID:depth:threads:probeSweep:neighbours:progress:)``.
  private static func compare(
    queries: Matrix, source: some VectorSource, searcher: borrowing LSHSearcher,
    configuration: LSHConfiguration, rowOf: (UInt64) -> Int?, depth: Int, threads: Int,
    probeSweep: [Int], neighbours: (depth: Int, gallery: Matrix)?, progress: any ProgressReporting
  ) throws -> SearchComparison {
    let depth = min(depth, source.count)
    progress.update(
      "searching \(TextFormatting.grouped(queries.rows)) queries, exact and LSH (\(configuration.summary))",
      force: true)
    func rows(_ neighbors: [Neighbor]) -> [Int] { neighbors.compactMap { rowOf($0.id) } }
    var exactSearch = source.exactSearch
    exactSearch.threads = max(1, threads)
    let exactStarted = MonotonicClock.now()
    let exact = exactSearch.search(queries, k: depth)
    let exactSeconds = MonotonicClock.now() - exactStarted
    let approximateStarted = MonotonicClock.now()
    let results = try searcher.search(queries, k: depth, threads: max(1, threads))
    let approximateSeconds = MonotonicClock.now() - approximateStarted
    let count = Double(max(results.count, 1))
    func meanCandidates(_ results: [LSHSearchResult]) -> Double {
      Double(results.reduce(0) { $0 + $1.candidates }) / count
    }
    let sweep = try probeSweep.map { probes in
      let started = MonotonicClock.now()
      let found = try searcher.search(
        queries, k: depth, probesPerTable: probes, threads: max(1, threads))
      return SweepPoint(
        probes: probes, rankings: found.map { rows($0.neighbors) },
        seconds: MonotonicClock.now() - started, meanCandidates: meanCandidates(found))
    }
    var galleryCandidates: [[Int]]?
    if let neighbours {
      progress.update(
        "searching the index for the \(neighbours.depth) nearest of every item (re-ranking)",
        force: true)
      let wanted = min(neighbours.depth, source.count)
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
      configuration: configuration, sweep: sweep, galleryCandidates: galleryCandidates)
  }
}
