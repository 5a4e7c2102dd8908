import VectorMath

/// Scores queries one distance row at a time into an accumulator; one per worker thread.
struct RowScorer {
  private var matchRanks: MatchRanks
  private(set) var accumulator: MetricsAccumulator
  private var ranks: [Int] = []
  private let queries: LabelSet
  private let gallery: LabelSet
  private let evaluationProtocol: EvaluationProtocol
  /// CUHK03: each gallery item's identity as a dense group number, and the group count.
  private let groupOfItem: [Int]
  private let groupCount: Int
  private var groupSizes: [Int] = []
  private var groupStarts: [Int] = []
  private var groupKeys: [(distance: Float, index: Int)] = []

  init(queries: LabelSet, gallery: LabelSet, evaluationProtocol: EvaluationProtocol, maxRank: Int) {
    self.queries = queries
    self.gallery = gallery
    self.evaluationProtocol = evaluationProtocol
    matchRanks = MatchRanks(gallery: gallery, evaluationProtocol: evaluationProtocol)
    accumulator = MetricsAccumulator(maxRank: maxRank)
    if case .cuhk03 = evaluationProtocol {
      var groups: [Int32: Int] = [:]
      groupOfItem = gallery.pids.map { pid in
        if let group = groups[pid] { return group }
        groups[pid] = groups.count
        return groups.count - 1
      }
      groupCount = groups.count
    } else {
      groupOfItem = []
      groupCount = 0
    }
  }

  /// Scores query `query` from its distances to every gallery item.
  mutating func score(query: Int, distances: UnsafeBufferPointer<Float>) {
    let pid = queries.pids[query]
    let camera = queries.cameras[query]
    matchRanks.ranks(
      distances: distances, queryPID: pid, queryCamera: camera, queryIndex: query, into: &ranks)
    guard case .cuhk03(let repeats, let seed) = evaluationProtocol, !ranks.isEmpty else {
      accumulator.add(ranks: ranks)
      return
    }
    accumulator.add(ranks: ranks, addsFirstMatch: false)
    sampleSingleShotCMC(
      query: query, distances: distances, repeats: repeats, seed: seed)
  }

  /// CUHK03 single-gallery-shot CMC: per repeat, one random kept item per identity; the query's
  /// rank is 1 + the sampled items of other identities that come before its sampled match.
  private mutating func sampleSingleShotCMC(
    query: Int, distances: UnsafeBufferPointer<Float>, repeats: Int, seed: UInt64
  ) {
    let pid = queries.pids[query]
    let camera = queries.cameras[query]
    groupSizes.removeAll(keepingCapacity: true)
    groupSizes.append(contentsOf: repeatElement(0, count: groupCount))
    for index in 0..<distances.count where gallery.pids[index] != pid {
      if !matchRanks.isRemoved(index, queryPID: pid, queryCamera: camera, queryIndex: query) {
        groupSizes[groupOfItem[index]] += 1
      }
    }
    groupStarts.removeAll(keepingCapacity: true)
    var total = 0
    for size in groupSizes {
      groupStarts.append(total)
      total += size
    }
    groupKeys.removeAll(keepingCapacity: true)
    groupKeys.append(contentsOf: repeatElement((distance: Float(0), index: 0), count: total))
    var filled = groupStarts
    for index in 0..<distances.count where gallery.pids[index] != pid {
      if !matchRanks.isRemoved(index, queryPID: pid, queryCamera: camera, queryIndex: query) {
        let group = groupOfItem[index]
        groupKeys[filled[group]] = (distances[index], index)
        filled[group] += 1
      }
    }
    let matches = matchRanks.sortedMatches
    var random = SeededRandom(seed: seed &+ UInt64(query) &* 0x9E37_79B9_7F4A_7C15)
    let weight = 1 / Double(repeats)
    for _ in 0..<repeats {
      let chosen = matches[random.integer(in: 0...(matches.count - 1))]
      var ahead = 0
      for group in 0..<groupCount where groupSizes[group] > 0 {
        let item = groupKeys[groupStarts[group] + random.integer(in: 0...(groupSizes[group] - 1))]
        if item.distance < chosen.distance
          || (item.distance == chosen.distance && item.index < chosen.index)
        {
          ahead += 1
        }
      }
      if ahead < accumulator.maxRank { accumulator.firstMatchHistogram[ahead] += weight }
    }
  }
}
