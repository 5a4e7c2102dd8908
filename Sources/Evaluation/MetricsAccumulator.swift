/// Sums per-query scores; merged across workers, then turned into ``EvaluationMetrics``.
struct MetricsAccumulator {
  let maxRank: Int
  /// Per rank r (0-based), the (possibly fractional) number of queries whose first match is at r + 1.
  var firstMatchHistogram: [Double]
  var averagePrecision = 0.0
  var inverseNegativePenalty = 0.0
  var rPrecision = 0.0
  var averagePrecisionAtR = 0.0
  var valid = 0
  var skipped = 0

  init(maxRank: Int) {
    self.maxRank = maxRank
    firstMatchHistogram = Array(repeating: 0, count: maxRank)
  }

  /// Adds one query given its matches' ranks (ascending, 1-based); empty ranks skip it.
  ///
  /// - Parameters:
  ///   - ranks: the ranks.
  ///   - addsFirstMatch: record the first match for CMC (CUHK03 records its own sampled CMC).
  mutating func add(ranks: [Int], addsFirstMatch: Bool = true) {
    guard let first = ranks.first, let last = ranks.last else {
      skipped += 1
      return
    }
    valid += 1
    if addsFirstMatch && first <= maxRank { firstMatchHistogram[first - 1] += 1 }
    let relevant = Double(ranks.count)
    var precisionSumWithinR = 0.0
    var withinR = 0
    for (position, rank) in ranks.enumerated() where rank <= ranks.count {
      precisionSumWithinR += Double(position + 1) / Double(rank)
      withinR += 1
    }
    averagePrecision += Self.averagePrecision(ranks: ranks)
    inverseNegativePenalty += relevant / Double(last)
    rPrecision += Double(withinR) / relevant
    averagePrecisionAtR += precisionSumWithinR / relevant
  }

  /// One query's average precision from its matches' ranks (ascending, 1-based, not empty).
  static func averagePrecision(ranks: [Int]) -> Double {
    var precisionSum = 0.0
    for (position, rank) in ranks.enumerated() {
      precisionSum += Double(position + 1) / Double(rank)
    }
    return precisionSum / Double(ranks.count)
  }

  mutating func merge(_ other: MetricsAccumulator) {
    for rank in 0..<maxRank { firstMatchHistogram[rank] += other.firstMatchHistogram[rank] }
    averagePrecision += other.averagePrecision
    inverseNegativePenalty += other.inverseNegativePenalty
    rPrecision += other.rPrecision
    averagePrecisionAtR += other.averagePrecisionAtR
    valid += other.valid
    skipped += other.skipped
  }

  func metrics(evaluationProtocol: EvaluationProtocol) -> EvaluationMetrics {
    let count = Double(max(valid, 1))
    var cmc: [Double] = []
    var running = 0.0
    for rank in 0..<maxRank {
      running += firstMatchHistogram[rank]
      cmc.append(valid == 0 ? 0 : running / count)
    }
    return EvaluationMetrics(
      evaluationProtocol: evaluationProtocol, cmc: cmc,
      mAP: valid == 0 ? 0 : averagePrecision / count,
      mINP: valid == 0 ? 0 : inverseNegativePenalty / count,
      rPrecision: valid == 0 ? 0 : rPrecision / count,
      mapAtR: valid == 0 ? 0 : averagePrecisionAtR / count,
      validQueries: valid, skippedQueries: skipped)
  }
}
