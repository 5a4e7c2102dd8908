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
  /// How many kept items each ``QueryOutcome`` lists (0: outcomes are not recorded).
  let listDepth: Int
  /// The outcomes of the queries scored, in order (with a list depth).
  private(set) var outcomes: [QueryOutcome] = []

  init(
    queries: LabelSet, gallery: LabelSet, evaluationProtocol: EvaluationProtocol, maxRank: Int,
    listDepth: Int = 0
  ) {
    self.listDepth = listDepth
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

  /// Scores query `query` from its distances to every gallery item; with a list depth, also
  /// records its ``QueryOutcome``.
  ///
  /// - Parameters:
  ///   - query: the query's index.
  ///   - distances: its distance to every gallery item (+∞: not ranked by an index, listed
  ///     after the rest).
  ///   - shownDistance: the distance a ranked list shows for an item given its value in
  ///     `distances` (rankings are scored from positions); `nil` shows `distances` as they are.
  mutating func score(
    query: Int, distances: UnsafeBufferPointer<Float>, shownDistance: ((Float) -> Float)? = nil
  ) {
    let pid = queries.pids[query]
    let camera = queries.cameras[query]
    matchRanks.ranks(
      distances: distances, queryPID: pid, queryCamera: camera, queryIndex: query, into: &ranks)
    if listDepth > 0 {
      outcomes.append(
        rankedList(query: query, distances: distances, shownDistance: shownDistance ?? { $0 }))
    }
    guard case .cuhk03(let repeats, let seed) = evaluationProtocol, !ranks.isEmpty else {
      accumulator.add(ranks: ranks)
      return
    }
    accumulator.add(ranks: ranks, addsFirstMatch: false)
    sampleSingleShotCMC(
      query: query, distances: distances, repeats: repeats, seed: seed)
  }

  /// The query's outcome: its AP and first match from the ranks just computed, and the top
  /// `listDepth` kept items with the removed items ahead of the last of them.
  ///
  /// - Complexity: O(gallery · log listDepth).
  private func rankedList(
    query: Int, distances: UnsafeBufferPointer<Float>, shownDistance: (Float) -> Float
  ) -> QueryOutcome {
    let pid = queries.pids[query]
    let camera = queries.cameras[query]
    func outcome(_ index: Int) -> QueryOutcome.Outcome? {
      matchRanks.outcome(of: index, queryPID: pid, queryCamera: camera, queryIndex: query)
    }
    var kept = TopK(k: listDepth)
    var removed = TopK(k: listDepth)
    for index in 0..<distances.count {
      let distance = distances[index]
      guard distance.isFinite, distance <= kept.threshold, let itemOutcome = outcome(index)
      else { continue }
      if itemOutcome == .junk || itemOutcome == .sameCamera {
        removed.insert(id: UInt64(index), distance: distance)
      } else {
        kept.insert(id: UInt64(index), distance: distance)
      }
    }
    let keptItems = kept.sorted()
    // Removed items are shown when they come before the last listed item (all of them when
    // fewer kept items than the depth exist).
    let last = keptItems.count == listDepth ? keptItems.last : nil
    let ahead = removed.sorted().filter { neighbor in last.map { neighbor < $0 } ?? true }
    func item(_ neighbor: Neighbor, rank: Int?) -> QueryOutcome.RankedItem {
      let index = Int(neighbor.id)
      return QueryOutcome.RankedItem(
        galleryIndex: index, distance: shownDistance(neighbor.distance), rank: rank,
        outcome: outcome(index) ?? .mismatch)
    }
    return QueryOutcome(
      queryIndex: query,
      averagePrecision: ranks.isEmpty ? nil : MetricsAccumulator.averagePrecision(ranks: ranks),
      firstMatchRank: ranks.first,
      top: keptItems.enumerated().map { item($1, rank: $0 + 1) },
      removed: ahead.map { item($0, rank: nil) })
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
