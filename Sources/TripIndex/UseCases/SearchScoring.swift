import Evaluation
import LSHIndex
import Plumbing
import VectorMath

/// The steps of `Evaluate.evaluateSearches`, over one set of queries and one gallery: score
/// exact search (and its re-ranking), run the index beside it, and turn the rankings into
/// report entries (`exact`, `exact+rerank`, `exact top-D`, `lsh top-D`, `lsh+rerank top-D`)
/// and the probe sweep.
struct SearchScoring {
  let prefix: String
  let queries: Matrix
  let gallery: Matrix
  let metric: DistanceMetric
  let labels: (queries: LabelSet, gallery: LabelSet)
  let evaluationProtocol: EvaluationProtocol
  let maxRank: Int
  let threads: Int
  let listDepth: Int
  let progress: any ProgressReporting
  /// Scores rankings without recording query outcomes.
  let unlisted: Evaluator
  /// Scores rankings, recording `listDepth` items of each query's.
  let evaluator: Evaluator

  init(
    prefix: String, queries: Matrix, gallery: Matrix, metric: DistanceMetric,
    labels: (queries: LabelSet, gallery: LabelSet), evaluationProtocol: EvaluationProtocol,
    maxRank: Int, threads: Int, listDepth: Int, progress: any ProgressReporting
  ) {
    self.prefix = prefix
    self.queries = queries
    self.gallery = gallery
    self.metric = metric
    self.labels = labels
    self.evaluationProtocol = evaluationProtocol
    self.maxRank = maxRank
    self.threads = threads
    self.listDepth = listDepth
    self.progress = progress
    var unlisted = Evaluator(evaluationProtocol: evaluationProtocol, maxRank: maxRank)
    unlisted.threads = threads
    self.unlisted = unlisted
    var evaluator = unlisted
    evaluator.listDepth = listDepth
    self.evaluator = evaluator
  }

  /// Exact search scored, with its time, and its k-reciprocal re-ranking when asked for (whose
  /// time counts building the encodings too).
  struct Exact {
    var metrics: EvaluationMetrics
    var seconds: Double
    var reranked: (metrics: EvaluationMetrics, seconds: Double)?
  }

  /// Scores exact search over the whole gallery (and its re-ranking).
  func exact(rerank: RerankingParameters?) throws -> Exact {
    let started = MonotonicClock.now()
    let full = evaluator.evaluate(
      queryVectors: queries, galleryVectors: gallery, metric: metric, queries: labels.queries,
      gallery: labels.gallery)
    let seconds = MonotonicClock.now() - started
    guard let rerank else { return Exact(metrics: full, seconds: seconds) }
    guard queries.rows + gallery.rows <= KReciprocalReranker.maximumItems else {
      throw TripIndexError(
        "re-ranking numbers queries and gallery items with 32-bit integers: at most \(TextFormatting.grouped(KReciprocalReranker.maximumItems)) together, not \(TextFormatting.grouped(queries.rows + gallery.rows))"
      )
    }
    let rerankStarted = MonotonicClock.now()
    let reranker = KReciprocalReranker(
      queries: queries, gallery: gallery, metric: metric, parameters: rerank, threads: threads,
      progress: { progress.update($0, force: true) })
    progress.update("re-ranking: scoring", force: true)
    let metrics = evaluator.evaluate(
      queryVectors: queries, galleryVectors: gallery, metric: metric, queries: labels.queries,
      gallery: labels.gallery, reranker: reranker)
    return Exact(
      metrics: full, seconds: seconds, reranked: (metrics, MonotonicClock.now() - rerankStarted))
  }

  /// The entries of exact search alone (no index).
  func exactEntries(_ exact: Exact) -> [EvaluationReport.Entry] {
    var entries = [
      EvaluationReport.Entry(
        name: prefix + "exact", metrics: exact.metrics,
        extras: [("queries/s", queriesPerSecond(exact.seconds))])
    ]
    if let reranked = exact.reranked {
      entries.append(
        EvaluationReport.Entry(
          name: prefix + "exact+rerank", metrics: reranked.metrics,
          extras: [("queries/s", queriesPerSecond(reranked.seconds))]))
    }
    return entries
  }

  /// Exact and LSH top-D searches side by side (D = the CMC depth, one more when each query
  /// finds itself); with `neighbourDepth`, every item's nearest gallery items from the index
  /// too (for re-ranking from it).
  func compare(with lsh: IndexSource, probeSweep: [Int], neighbourDepth: Int?) throws
    -> SearchComparison
  {
    let excludesSelf: Bool
    if case .retrieval(excludeSelf: true) = evaluationProtocol {
      excludesSelf = true
    } else {
      excludesSelf = false
    }
    let depth = maxRank + (excludesSelf ? 1 : 0)
    switch lsh {
    case .temporary(let configuration):
      return try SearchComparison.run(
        queries: queries, gallery: gallery, metric: metric, depth: depth,
        configuration: configuration, threads: threads, probeSweep: probeSweep,
        neighbourDepth: neighbourDepth, progress: progress)
    case .stored(let store, let index, let rowOfID):
      return try SearchComparison.compare(
        queries: queries, store: store, index: index, rowOfID: rowOfID, depth: depth,
        threads: threads, probeSweep: probeSweep,
        neighbours: neighbourDepth.map { ($0, gallery) }, progress: progress)
    }
  }

  /// The entries beside an index: `exact` (and `exact+rerank`) with the search's speed and
  /// recall columns, `exact top-D` (not charted: it repeats `exact`'s CMC up to D) and
  /// `lsh top-D`.
  func entries(exact: Exact, comparison: SearchComparison) -> [EvaluationReport.Entry] {
    let searchedDepth = comparison.depth
    let exactExtras = searchExtras(
      comparison, queriesPerSecond: comparison.exactQueriesPerSecond, exact: true)
    var truncated = EvaluationReport.Entry(
      name: prefix + "exact top-\(searchedDepth)",
      metrics: unlisted.evaluate(
        rankings: comparison.exact, queries: labels.queries, gallery: labels.gallery),
      extras: exactExtras)
    truncated.charted = false
    var entries = [
      EvaluationReport.Entry(name: prefix + "exact", metrics: exact.metrics, extras: exactExtras)
    ]
    if let reranked = exact.reranked {
      entries.append(
        EvaluationReport.Entry(
          name: prefix + "exact+rerank", metrics: reranked.metrics,
          extras: searchExtras(
            comparison, queriesPerSecond: queriesPerSecond(reranked.seconds), exact: true)))
    }
    entries += [
      truncated,
      EvaluationReport.Entry(
        name: prefix + "lsh top-\(searchedDepth)",
        metrics: evaluator.evaluate(
          rankings: comparison.approximate,
          distances: listDepth > 0
            ? Evaluate.distances(
              of: comparison.approximate, queries: queries, gallery: gallery, metric: metric)
            : nil,
          queries: labels.queries, gallery: labels.gallery),
        extras: searchExtras(
          comparison, queriesPerSecond: comparison.approximateQueriesPerSecond, exact: false)),
    ]
    return entries
  }

  /// `lsh+rerank top-D`: the index's top D of each query, re-ranked by the distances re-ranking
  /// from the index's neighbour lists gives (the rest of the gallery after them, in gallery
  /// order); its time counts the LSH searches of every item, the encodings and the re-ranking
  /// (from `started`).
  func lshRerankEntry(
    _ comparison: SearchComparison, parameters: RerankingParameters, candidates: [[Int]],
    started: Double
  ) -> EvaluationReport.Entry {
    let reranker = KReciprocalReranker(
      queries: queries, gallery: gallery, metric: metric, parameters: parameters,
      galleryCandidates: candidates, threads: threads,
      progress: { progress.update($0, force: true) })
    var scratch = KReciprocalReranker.Scratch(galleryCount: gallery.rows)
    var rerankedDistances = Evaluate.distances(
      of: comparison.approximate, queries: queries, gallery: gallery, metric: metric)
    var reranked: [[Int]] = []
    for (query, ranking) in comparison.approximate.enumerated() {
      reranker.rerank(
        query: query, items: ranking, distances: &rerankedDistances[query], scratch: &scratch)
      let sorted = zip(ranking, rerankedDistances[query]).sorted { ($0.1, $0.0) < ($1.1, $1.0) }
      reranked.append(sorted.map(\.0))
      rerankedDistances[query] = sorted.map(\.1)
    }
    let seconds = MonotonicClock.now() - started
    let searchedDepth = comparison.depth
    return EvaluationReport.Entry(
      name: prefix + "lsh+rerank top-\(searchedDepth)",
      metrics: evaluator.evaluate(
        rankings: reranked, distances: rerankedDistances, queries: labels.queries,
        gallery: labels.gallery),
      extras: searchExtras(comparison, queriesPerSecond: queriesPerSecond(seconds), exact: false))
  }

  /// The probe sweep's points, scored.
  func sweep(_ comparison: SearchComparison) -> [SearchEvaluation.SweepPoint] {
    comparison.sweep.map { point in
      SearchEvaluation.SweepPoint(
        probes: point.probes,
        metrics: unlisted.evaluate(
          rankings: point.rankings, queries: labels.queries, gallery: labels.gallery),
        queriesPerSecond: Double(point.rankings.count) / max(point.seconds, 1e-9),
        annRecall: ANNRecall.recall(
          approximate: point.rankings, exact: comparison.exact, k: comparison.depth),
        meanCandidates: point.meanCandidates)
    }
  }

  /// The queries per second of a search of every query that took `seconds`.
  private func queriesPerSecond(_ seconds: Double) -> Double {
    Double(queries.rows) / max(seconds, 1e-9)
  }

  /// The columns of an entry beside the index: its speed, its ANN recall at the depth searched
  /// and the candidates it scored per query (exact search: recall 1, the whole gallery).
  private func searchExtras(
    _ comparison: SearchComparison, queriesPerSecond: Double, exact: Bool
  ) -> [(String, Double)] {
    [
      ("search q/s", queriesPerSecond),
      ("ANN recall@\(comparison.depth)", exact ? 1.0 : comparison.annRecall(at: comparison.depth)),
      ("candidates/q", exact ? Double(gallery.rows) : comparison.meanCandidates),
    ]
  }
}
