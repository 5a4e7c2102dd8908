import Evaluation
import TestSupport
import Testing
import VectorMath

@Suite struct QueryOutcomeTests {
  /// The worked example of EvaluatorTests plus a junk item: gallery (pid, camera, distance to
  /// q0): g0 (1,1,0), g1 (1,2,2), g2 (2,2,1), g3 (2,1,5), g4 (3,2,3), g5 (1,3,4), g6 (-1,1,0.5).
  private let gallery = LabelSet(pids: [1, 1, 2, 2, 3, 1, -1], cameras: [1, 2, 2, 1, 2, 3, 1])
  private let row: [Float] = [0, 2, 1, 5, 3, 4, 0.5]

  @Test("the worked example: kept items ranked 1…k with outcomes, removed ones apart, AP 0.5")
  func workedExample() throws {
    var evaluator = Evaluator(evaluationProtocol: .market1501, maxRank: 5)
    evaluator.listDepth = 3
    let metrics = evaluator.evaluate(
      distances: Matrix(rowArrays: [row]), queries: LabelSet(pids: [1], cameras: [1]),
      gallery: gallery)
    let outcome = try #require(metrics.queryOutcomes.first)
    #expect(metrics.queryOutcomes.count == 1)
    // Kept: g2 g1 g4 g5 g3 → mismatch, match, mismatch, match, mismatch: AP (1/2 + 2/4) / 2.
    #expect(outcome.averagePrecision == 0.5 && outcome.firstMatchRank == 2 && outcome.isValid)
    #expect(outcome.top.map(\.galleryIndex) == [2, 1, 4])
    #expect(outcome.top.map(\.rank) == [1, 2, 3])
    #expect(outcome.top.map(\.outcome) == [.mismatch, .match, .mismatch])
    #expect(outcome.top.map(\.distance) == [1, 2, 3])
    // Removed ahead of g4 (distance 3): g0 (same pid and camera) and g6 (junk), no rank.
    #expect(outcome.removed.map(\.galleryIndex) == [0, 6])
    #expect(outcome.removed.map(\.outcome) == [.sameCamera, .junk])
    #expect(outcome.removed.allSatisfy { $0.rank == nil })
  }

  @Test("a query without a true match is skipped: no AP, no first match, its list still shown")
  func skipped() throws {
    var evaluator = Evaluator(evaluationProtocol: .market1501, maxRank: 5)
    evaluator.listDepth = 2
    let metrics = evaluator.evaluate(
      distances: Matrix(rowArrays: [row, row]),
      queries: LabelSet(pids: [4, 0], cameras: [1, 2]), gallery: gallery)
    for outcome in metrics.queryOutcomes {
      #expect(outcome.averagePrecision == nil && outcome.firstMatchRank == nil && !outcome.isValid)
      #expect(outcome.top.map(\.galleryIndex) == [0, 2])
      // A distractor query (pid 0) matches nothing, whatever the gallery holds.
      #expect(outcome.top.allSatisfy { $0.outcome == .mismatch })
    }
  }

  @Test("a ranking's outcomes show the distances given for it, and only its listed items")
  func rankings() throws {
    var evaluator = Evaluator(evaluationProtocol: .market1501, maxRank: 5)
    evaluator.listDepth = 4
    let metrics = evaluator.evaluate(
      rankings: [[4, 1, 6]], distances: [[0.25, 0.5, 0.75]],
      queries: LabelSet(pids: [1], cameras: [1]), gallery: gallery)
    let outcome = try #require(metrics.queryOutcomes.first)
    #expect(outcome.top.map(\.galleryIndex) == [4, 1])
    #expect(outcome.top.map(\.distance) == [0.25, 0.5])
    #expect(outcome.removed.map(\.galleryIndex) == [6])
    #expect(outcome.removed.map(\.distance) == [0.75])
    // AP over the full ranking: g4 g1, then g2 g3 g5 in gallery order → matches at 2 and 5.
    #expect(abs((outcome.averagePrecision ?? 0) - (1.0 / 2 + 2.0 / 5) / 2) < 1e-12)
  }

  @Test("the retrieval protocol never lists the query itself")
  func retrievalExcludesSelf() throws {
    var evaluator = Evaluator(evaluationProtocol: .retrieval(excludeSelf: true), maxRank: 3)
    evaluator.listDepth = 3
    let labels = LabelSet(pids: [1, 1, 2], cameras: [0, 0, 0])
    let metrics = evaluator.evaluate(
      distances: Matrix(rowArrays: [[0, 1, 2], [1, 0, 3], [2, 3, 0]]), queries: labels,
      gallery: labels)
    #expect(
      metrics.queryOutcomes.map { $0.top.map(\.galleryIndex) } == [[1, 2], [0, 2], [0, 1]])
    #expect(metrics.queryOutcomes.map(\.firstMatchRank) == [1, 1, nil])
    #expect(metrics.queryOutcomes.allSatisfy { $0.removed.isEmpty })
  }

  static let protocols: [EvaluationProtocol] = [
    .market1501, .market1501AllCameras, .cuhk03(repeats: 3, seed: 1),
    .retrieval(excludeSelf: false), .retrieval(excludeSelf: true),
  ]

  @Test(
    "outcomes agree with a full sort of each row, AP with the plain reference, on any thread count",
    arguments: protocols)
  func matchesFullSort(evaluationProtocol: EvaluationProtocol) {
    for seed in UInt64(1)...8 {
      var random = SeededRandom(seed: seed)
      let galleryCount = random.integer(in: 5...90)
      let queryCount: Int
      if case .retrieval(true) = evaluationProtocol {
        queryCount = galleryCount
      } else {
        queryCount = random.integer(in: 17...40)
      }
      func labels(_ count: Int) -> LabelSet {
        LabelSet(
          pids: (0..<count).map { _ in Int32(random.integer(in: -1...6)) },
          cameras: (0..<count).map { _ in Int32(random.integer(in: 1...3)) })
      }
      let gallery = labels(galleryCount)
      let queries = labels(queryCount)
      let rows = (0..<queryCount).map { _ in
        (0..<galleryCount).map { _ in Float(random.integer(in: 0...9)) }
      }
      let depth = random.integer(in: 1...6)
      var evaluator = Evaluator(evaluationProtocol: evaluationProtocol, maxRank: 10)
      evaluator.listDepth = depth
      evaluator.threads = 1
      let single = evaluator.evaluate(
        distances: Matrix(rowArrays: rows), queries: queries, gallery: gallery)
      evaluator.threads = 2
      let parallel = evaluator.evaluate(
        distances: Matrix(rowArrays: rows), queries: queries, gallery: gallery)
      #expect(single.queryOutcomes == parallel.queryOutcomes, "seed \(seed)")
      #expect(single.queryOutcomes.map(\.queryIndex) == Array(0..<queryCount))
      for query in 0..<queryCount {
        let outcome = single.queryOutcomes[query]
        let expected = Self.fullSort(
          rows[query], query: query, queries: queries, gallery: gallery,
          evaluationProtocol: evaluationProtocol, depth: depth)
        #expect(outcome.top.map(\.galleryIndex) == expected.top, "seed \(seed) query \(query)")
        #expect(outcome.removed.map(\.galleryIndex) == expected.removed, "seed \(seed)")
        let reference = Self.referenceForOneQuery(
          rows[query], query: query, queries: queries, gallery: gallery,
          evaluationProtocol: evaluationProtocol)
        if reference.valid == 1 {
          #expect(abs((outcome.averagePrecision ?? -1) - reference.mAP) < 1e-12, "seed \(seed)")
        } else {
          #expect(outcome.averagePrecision == nil && outcome.firstMatchRank == nil)
        }
        if let first = outcome.firstMatchRank, first <= depth {
          #expect(outcome.top[first - 1].outcome == .match)
          #expect(outcome.top.prefix(first - 1).allSatisfy { $0.outcome != .match })
        }
      }
      // The mean of the listed APs is the mAP.
      let aps = single.queryOutcomes.compactMap(\.averagePrecision)
      #expect(aps.count == single.validQueries)
      if !aps.isEmpty {
        #expect(abs(aps.reduce(0, +) / Double(aps.count) - single.mAP) < 1e-9, "seed \(seed)")
      }
    }
  }

  /// The plain reference on one query alone. Self-exclusion compares gallery indices with
  /// the query's index, which a one-query call would not keep: the query's own item is taken
  /// out of the gallery instead.
  private static func referenceForOneQuery(
    _ row: [Float], query: Int, queries: LabelSet, gallery: LabelSet,
    evaluationProtocol: EvaluationProtocol
  ) -> ReferenceEvaluation.Scores {
    var row = row
    var gallery = gallery
    var evaluationProtocol = evaluationProtocol
    if case .retrieval(true) = evaluationProtocol {
      row.remove(at: query)
      gallery.pids.remove(at: query)
      gallery.cameras.remove(at: query)
      evaluationProtocol = .retrieval(excludeSelf: false)
    }
    return ReferenceEvaluation.evaluate(
      distances: [row],
      queries: LabelSet(pids: [queries.pids[query]], cameras: [queries.cameras[query]]),
      gallery: gallery, evaluationProtocol: evaluationProtocol, maxRank: 10)
  }

  /// A plain top list: the row fully sorted by (distance, index), removed items set apart.
  private static func fullSort(
    _ row: [Float], query: Int, queries: LabelSet, gallery: LabelSet,
    evaluationProtocol: EvaluationProtocol, depth: Int
  ) -> (top: [Int], removed: [Int]) {
    let order = row.indices.sorted { row[$0] < row[$1] || (row[$0] == row[$1] && $0 < $1) }
    var top: [Int] = []
    var removed: [Int] = []
    for index in order where top.count < depth {
      let pid = gallery.pids[index]
      let sameCamera =
        pid == queries.pids[query] && gallery.cameras[index] == queries.cameras[query]
      switch evaluationProtocol {
      case .market1501, .cuhk03:
        if pid == -1 || sameCamera {
          removed.append(index)
          continue
        }
      case .market1501AllCameras:
        if pid == -1 {
          removed.append(index)
          continue
        }
      case .retrieval(let excludeSelf):
        if excludeSelf && index == query { continue }
      }
      top.append(index)
    }
    if top.count < depth {
      // Fewer kept items than the depth: every removed item is shown.
      removed = order.filter { index in
        let pid = gallery.pids[index]
        switch evaluationProtocol {
        case .market1501, .cuhk03:
          return pid == -1
            || (pid == queries.pids[query] && gallery.cameras[index] == queries.cameras[query])
        case .market1501AllCameras: return pid == -1
        case .retrieval: return false
        }
      }
    }
    return (top, Array(removed.prefix(depth)))
  }
}
