/// The scores of one ranking under one protocol, averaged over the queries that could be scored.
public struct EvaluationMetrics: Sendable, Equatable {
  /// The protocol used.
  public var evaluationProtocol: EvaluationProtocol
  /// CMC: `cmc[r]` is the fraction of valid queries with a true match within the first `r + 1`
  /// items. Under the retrieval protocol this is recall@k as metric-learning papers use it (hit rate).
  public var cmc: [Double]
  /// Mean average precision over all true matches of each query (pytorch-metric-learning's `mean_average_precision` at full depth).
  public var mAP: Double
  /// Mean inverse negative penalty (Ye et al. 2021): matches / rank of the last match.
  public var mINP: Double
  /// R-precision: the fraction of the first R items that match, R = the query's number of matches.
  public var rPrecision: Double
  /// MAP@R (Musgrave et al. 2020): average precision counted within the first R items, divided by R.
  public var mapAtR: Double
  /// Queries scored.
  public var validQueries: Int
  /// Queries skipped because no true match remained (or, under re-ID protocols, pid ≤ 0).
  public var skippedQueries: Int
  /// Each query's outcome, in query order, when the evaluator was asked to list them
  /// (``Evaluator/listDepth``); empty otherwise, and after averaging runs.
  public var queryOutcomes: [QueryOutcome] = []

  /// Creates metrics from their values.
  ///
  /// - Parameters:
  ///   - evaluationProtocol: the protocol.
  ///   - cmc: the CMC curve.
  ///   - mAP: mean average precision.
  ///   - mINP: mean inverse negative penalty.
  ///   - rPrecision: R-precision.
  ///   - mapAtR: MAP@R.
  ///   - validQueries: queries scored.
  ///   - skippedQueries: queries skipped.
  public init(
    evaluationProtocol: EvaluationProtocol, cmc: [Double], mAP: Double, mINP: Double,
    rPrecision: Double, mapAtR: Double, validQueries: Int, skippedQueries: Int
  ) {
    self.evaluationProtocol = evaluationProtocol
    self.cmc = cmc
    self.mAP = mAP
    self.mINP = mINP
    self.rPrecision = rPrecision
    self.mapAtR = mapAtR
    self.validQueries = validQueries
    self.skippedQueries = skippedQueries
  }

  /// The CMC value (or recall) at rank `k`, or `nil` beyond the computed ranks.
  ///
  /// - Parameter k: a 1-based rank.
  /// - Returns: `cmc[k - 1]`.
  public func cmc(at k: Int) -> Double? {
    k >= 1 && k <= cmc.count ? cmc[k - 1] : nil
  }

  /// Precision@1: the fraction of queries whose first item matches (equals CMC at rank 1).
  public var precisionAt1: Double { cmc.first ?? 0 }
}

extension EvaluationMetrics {
  /// The mean of several runs of the same protocol (say one per training seed): every rate and
  /// every CMC rank averaged; query counts are the first run's (the runs score the same queries).
  ///
  /// - Parameter runs: at least one run, all with CMC curves of the same length.
  /// - Returns: the averaged metrics.
  public static func mean(_ runs: [EvaluationMetrics]) -> EvaluationMetrics {
    precondition(!runs.isEmpty, "nothing to average")
    var result = runs[0]
    guard runs.count > 1 else { return result }
    result.queryOutcomes = []
    let count = Double(runs.count)
    func average(_ value: (EvaluationMetrics) -> Double) -> Double {
      runs.reduce(0) { $0 + value($1) } / count
    }
    result.cmc = result.cmc.indices.map { rank in average { $0.cmc[rank] } }
    result.mAP = average(\.mAP)
    result.mINP = average(\.mINP)
    result.rPrecision = average(\.rPrecision)
    result.mapAtR = average(\.mapAtR)
    return result
  }

  /// The sample standard deviation of one metric over runs (0 for a single run).
  ///
  /// - Parameters:
  ///   - runs: the runs.
  ///   - value: the metric.
  /// - Returns: the standard deviation.
  public static func standardDeviation(
    _ runs: [EvaluationMetrics], of value: (EvaluationMetrics) -> Double
  ) -> Double {
    guard runs.count > 1 else { return 0 }
    let values = runs.map(value)
    let mean = values.reduce(0, +) / Double(values.count)
    let squares = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
    return (squares / Double(values.count - 1)).squareRoot()
  }
}
