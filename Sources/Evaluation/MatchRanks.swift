/// Finds, for one query, the ranks of its true matches in the gallery ranked by distance —
/// without sorting the gallery.
///
/// Items are ordered by (distance, gallery index), so ties go to the earlier gallery item. Removed
/// items (same pid and camera, junk, the query itself) take no rank. The matches are sorted
/// among themselves; every other kept item is compared with the farthest match and, only when it
/// is closer, placed among the matches by binary search. The cost is one pass over the gallery.
struct MatchRanks {
  /// The gallery's labels.
  let gallery: LabelSet
  /// The protocol.
  let evaluationProtocol: EvaluationProtocol
  private var matches: [(distance: Float, index: Int)] = []
  private var closerCounts: [Int] = []

  init(gallery: LabelSet, evaluationProtocol: EvaluationProtocol) {
    self.gallery = gallery
    self.evaluationProtocol = evaluationProtocol
  }

  /// Whether the query can be scored at all (re-ID queries need a real identity).
  func isScorable(queryPID: Int32) -> Bool {
    !evaluationProtocol.isReID || queryPID > 0
  }

  /// Whether gallery item `index` is removed from the query's ranking.
  @inline(__always)
  func isRemoved(_ index: Int, queryPID: Int32, queryCamera: Int32, queryIndex: Int) -> Bool {
    switch evaluationProtocol {
    case .market1501, .cuhk03:
      let pid = gallery.pids[index]
      return pid == -1 || (pid == queryPID && gallery.cameras[index] == queryCamera)
    case .market1501AllCameras:
      return gallery.pids[index] == -1
    case .retrieval(let excludeSelf):
      return excludeSelf && index == queryIndex
    }
  }

  /// What gallery item `index` is to the query, or `nil` for the query itself when the protocol
  /// excludes it.
  func outcome(of index: Int, queryPID: Int32, queryCamera: Int32, queryIndex: Int)
    -> QueryOutcome.Outcome?
  {
    let pid = gallery.pids[index]
    switch evaluationProtocol {
    case .market1501, .cuhk03:
      if pid == -1 { return .junk }
      if pid == queryPID && gallery.cameras[index] == queryCamera { return .sameCamera }
    case .market1501AllCameras:
      if pid == -1 { return .junk }
    case .retrieval(let excludeSelf):
      if excludeSelf && index == queryIndex { return nil }
    }
    return pid == queryPID && isScorable(queryPID: queryPID) ? .match : .mismatch
  }

  /// The 1-based ranks of the query's matches among kept items, ascending; empty when there is no
  /// match (the query is then skipped).
  ///
  /// - Parameters:
  ///   - distances: the query's distance to every gallery item.
  ///   - queryPID: the query's identity.
  ///   - queryCamera: its camera.
  ///   - queryIndex: its index (for self-exclusion).
  ///   - ranks: receives the ranks.
  mutating func ranks(
    distances: UnsafeBufferPointer<Float>, queryPID: Int32, queryCamera: Int32, queryIndex: Int,
    into ranks: inout [Int]
  ) {
    ranks.removeAll(keepingCapacity: true)
    matches.removeAll(keepingCapacity: true)
    guard isScorable(queryPID: queryPID) else { return }
    let pids = gallery.pids
    for index in 0..<distances.count where pids[index] == queryPID {
      if !isRemoved(index, queryPID: queryPID, queryCamera: queryCamera, queryIndex: queryIndex) {
        matches.append((distances[index], index))
      }
    }
    guard !matches.isEmpty else { return }
    matches.sort {
      $0.distance < $1.distance || ($0.distance == $1.distance && $0.index < $1.index)
    }
    closerCounts.removeAll(keepingCapacity: true)
    closerCounts.append(contentsOf: repeatElement(0, count: matches.count + 1))
    let last = matches[matches.count - 1]
    for index in 0..<distances.count {
      let distance = distances[index]
      // Most items are farther than the last match and cost this one comparison.
      if distance > last.distance || (distance == last.distance && index > last.index) { continue }
      if pids[index] == queryPID { continue }
      if isRemoved(index, queryPID: queryPID, queryCamera: queryCamera, queryIndex: queryIndex) {
        continue
      }
      // The number of matches ahead of this item.
      var low = 0
      var high = matches.count
      while low < high {
        let middle = (low + high) / 2
        let match = matches[middle]
        if match.distance < distance || (match.distance == distance && match.index < index) {
          low = middle + 1
        } else {
          high = middle
        }
      }
      closerCounts[low] += 1
    }
    var closer = 0
    for position in 0..<matches.count {
      closer += closerCounts[position]
      ranks.append(position + 1 + closer)
    }
  }

  /// The matches found by the last ``ranks(distances:queryPID:queryCamera:queryIndex:into:)``,
  /// closest first.
  var sortedMatches: [(distance: Float, index: Int)] { matches }
}
