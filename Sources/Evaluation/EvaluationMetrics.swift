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
