import VectorMath

/// Scores rankings of a gallery for a set of queries under one ``EvaluationProtocol``.
///
/// Input can be a distance matrix, explicit (possibly partial) rankings, or the vectors
/// themselves (distances are then computed in tiles with BLAS, never all at once). Ties rank by
/// gallery order. Queries are scored in parallel; results do not depend on the thread count.
public struct Evaluator: Sendable {
  /// The protocol.
  public var evaluationProtocol: EvaluationProtocol
  /// The longest CMC curve to compute.
  public var maxRank: Int
  /// Worker threads.
  public var threads = Parallel.processorCount
  /// Queries per distance tile when scoring from vectors.
  public var queryTile = 256
  /// How many kept items of each query's ranking to record in the metrics'
  /// ``EvaluationMetrics/queryOutcomes`` (0: none are recorded).
  public var listDepth = 0

  /// Creates an evaluator.
  ///
  /// - Parameters:
  ///   - evaluationProtocol: the protocol.
  ///   - maxRank: the CMC curve's length.
  public init(evaluationProtocol: EvaluationProtocol, maxRank: Int = 50) {
    precondition(maxRank > 0, "maxRank must be positive")
    self.evaluationProtocol = evaluationProtocol
    self.maxRank = maxRank
  }

  /// Scores a query × gallery distance matrix.
  ///
  /// - Parameters:
  ///   - distances: row i holds query i's distance to every gallery item.
  ///   - queries: the queries' labels.
  ///   - gallery: the gallery's labels.
  /// - Returns: the averaged metrics.
  /// - Complexity: O(queries · gallery) — no sorting of gallery rows.
  public func evaluate(distances: Matrix, queries: LabelSet, gallery: LabelSet) -> EvaluationMetrics
  {
    checkShapes(queryCount: distances.rows, galleryCount: distances.columns, queries, gallery)
    return distances.values.withUnsafeBufferPointer { values in
      scoreInParallel(queries: queries, gallery: gallery) { scorer, range in
        for query in range {
          scorer.score(
            query: query,
            distances: UnsafeBufferPointer(
              rebasing: values[(query * gallery.count)..<((query + 1) * gallery.count)]))
        }
      }
    }
  }

  /// Scores rankings: per query, gallery indices best first. A partial ranking (say an index's
  /// top-k) places every unlisted gallery item after the listed ones, in gallery order.
  ///
  /// - Parameters:
  ///   - rankings: one list per query; indices must be distinct and within the gallery.
  ///   - distances: each listed item's distance, parallel to `rankings`: what recorded
  ///     outcomes show (only listed items are shown); needed when ``listDepth`` is positive.
  ///   - queries: the queries' labels.
  ///   - gallery: the gallery's labels.
  /// - Returns: the averaged metrics.
  public func evaluate(
    rankings: [[Int]], distances: [[Float]]? = nil, queries: LabelSet, gallery: LabelSet
  ) -> EvaluationMetrics {
    checkShapes(queryCount: rankings.count, galleryCount: gallery.count, queries, gallery)
    precondition(listDepth == 0 || distances != nil, "listing outcomes needs the distances")
    return scoreInParallel(queries: queries, gallery: gallery) { scorer, range in
      // A ranking becomes pseudo-distances: its position for listed items, +∞ for the rest.
      var pseudo = [Float](repeating: .infinity, count: gallery.count)
      for query in range {
        for (position, index) in rankings[query].enumerated() {
          precondition(
            index >= 0 && index < gallery.count, "ranking index \(index) outside the gallery")
          pseudo[index] = Float(position)
        }
        let shown = distances.map { all in
          let listed = all[query]
          return { (position: Float) in listed[Int(position)] }
        }
        pseudo.withUnsafeBufferPointer {
          scorer.score(query: query, distances: $0, shownDistance: shown)
        }
        for index in rankings[query] { pseudo[index] = .infinity }
      }
    }
  }

  /// Scores exact rankings of vectors: query × gallery distances are computed a tile of queries
  /// at a time with BLAS (squared L2, or 1 − cos for unit vectors).
  ///
  /// - Parameters:
  ///   - queryVectors: one query per row.
  ///   - galleryVectors: one gallery item per row, same columns.
  ///   - metric: the distance.
  ///   - queries: the queries' labels.
  ///   - gallery: the gallery's labels.
  ///   - reranker: re-ranks each query's distances before they are scored (built from the same
  ///     vectors), or `nil`.
  /// - Returns: the averaged metrics.
  /// - Complexity: O(queries · gallery · dimension), in memory O(tile · gallery).
  public func evaluate(
    queryVectors: Matrix, galleryVectors: Matrix, metric: DistanceMetric, queries: LabelSet,
    gallery: LabelSet, reranker: KReciprocalReranker? = nil
  ) -> EvaluationMetrics {
    checkShapes(queryCount: queryVectors.rows, galleryCount: galleryVectors.rows, queries, gallery)
    precondition(
      queryVectors.columns == galleryVectors.columns, "query and gallery dimensions differ")
    let tiles = DistanceTiles(gallery: galleryVectors, metric: metric)
    let tileSize = queryTile
    if let reranker {
      precondition(
        reranker.queryCount == queries.count && reranker.galleryCount == gallery.count
          && reranker.metric == metric, "the re-ranker was built for other vectors")
    }
    return scoreInParallel(queries: queries, gallery: gallery) { scorer, range in
      var tile = [Float]()
      var scratch = reranker.map { KReciprocalReranker.Scratch(galleryCount: $0.galleryCount) }
      var start = range.lowerBound
      while start < range.upperBound {
        let end = min(start + tileSize, range.upperBound)
        tiles.distances(from: queryVectors, rows: start..<end, into: &tile)
        if let reranker, var working = scratch {
          tile.withUnsafeMutableBufferPointer { values in
            for query in start..<end {
              let offset = (query - start) * gallery.count
              reranker.rerank(
                query: query,
                distances: UnsafeMutableBufferPointer(
                  rebasing: values[offset..<(offset + gallery.count)]),
                scratch: &working)
            }
          }
          scratch = working
        }
        tile.withUnsafeBufferPointer { values in
          for query in start..<end {
            let offset = (query - start) * gallery.count
            scorer.score(
              query: query,
              distances: UnsafeBufferPointer(rebasing: values[offset..<(offset + gallery.count)]))
          }
        }
        start = end
      }
    }
  }

  private func checkShapes(
    queryCount: Int, galleryCount: Int, _ queries: LabelSet, _ gallery: LabelSet
  ) {
    precondition(
      queryCount == queries.count, "\(queryCount) query rows for \(queries.count) query labels")
    precondition(
      galleryCount == gallery.count,
      "\(galleryCount) gallery columns for \(gallery.count) gallery labels")
    if case .retrieval(true) = evaluationProtocol {
      precondition(
        queries.count == gallery.count, "excluding the query itself needs queries = reference set")
    }
  }

  private func scoreInParallel(
    queries: LabelSet, gallery: LabelSet, _ work: (inout RowScorer, Range<Int>) -> Void
  ) -> EvaluationMetrics {
    let workers = max(1, min(threads, queries.count / 16))
    let previousThreads = BLAS.shareThreads(threads, among: workers)
    defer { BLAS.setThreadCount(previousThreads) }
    var partials = [(MetricsAccumulator, [QueryOutcome])?](repeating: nil, count: workers)
    // Ranks past the gallery's size add nothing: the curve stops there (a huge maxRank must not
    // allocate in proportion to itself).
    let maxRank = min(maxRank, max(1, gallery.count))
    partials.withUnsafeMutableBufferPointer { partials in
      let partials = partials
      Parallel.forEachChunk(of: queries.count, count: workers) { worker, range in
        var scorer = RowScorer(
          queries: queries, gallery: gallery, evaluationProtocol: evaluationProtocol,
          maxRank: maxRank, listDepth: listDepth)
        work(&scorer, range)
        partials[worker] = (scorer.accumulator, scorer.outcomes)
      }
    }
    var total = MetricsAccumulator(maxRank: maxRank)
    var outcomes: [QueryOutcome] = []
    for case let (accumulator, workerOutcomes)? in partials {
      total.merge(accumulator)
      outcomes += workerOutcomes
    }
    var metrics = total.metrics(evaluationProtocol: evaluationProtocol)
    metrics.queryOutcomes = outcomes
    return metrics
  }
}
