import Evaluation
import TestSupport
import Testing
import VectorMath

@Suite struct EvaluatorTests {
  /// The worked example of shared/REFERENCES.md. Gallery (pid, camera):
  /// g0 (1,1), g1 (1,2), g2 (2,2), g3 (2,1), g4 (3,2), g5 (1,3).
  static let gallery = LabelSet(pids: [1, 1, 2, 2, 3, 1], cameras: [1, 2, 2, 1, 2, 3])
  /// q0 (1,1), q1 (2,1), q2 (4,2).
  static let queries = LabelSet(pids: [1, 2, 4], cameras: [1, 1, 2])
  /// q0: g0 g2 g1 g4 g5 g3; q1: g2 g0 g3 g1 g4 g5; q2: g0 … g5.
  static let rankings = [[0, 2, 1, 4, 5, 3], [2, 0, 3, 1, 4, 5], [0, 1, 2, 3, 4, 5]]

  /// The same rankings as a distance matrix (distance = position).
  static var distances: Matrix {
    var matrix = Matrix(rows: 3, columns: 6)
    for (query, ranking) in rankings.enumerated() {
      for (position, index) in ranking.enumerated() { matrix[query, index] = Float(position) }
    }
    return matrix
  }

  @Test("the worked example under Market-1501, from rankings and from distances")
  func workedExampleMarket() {
    let evaluator = Evaluator(evaluationProtocol: .market1501, maxRank: 5)
    for metrics in [
      evaluator.evaluate(rankings: Self.rankings, queries: Self.queries, gallery: Self.gallery),
      evaluator.evaluate(distances: Self.distances, queries: Self.queries, gallery: Self.gallery),
    ] {
      // q0: g0 is removed (same pid and camera); kept g2 g1 g4 g5 g3 → hits 0,1,0,1,0.
      //     CMC@1 = 0; AP = (1/2 + 2/4) / 2 = 0.5; INP = 2 / 4 = 0.5.
      // q1: g3 removed; kept g2 g0 g1 g4 g5 → hits 1,0,0,0,0: CMC@1 = 1, AP = 1, INP = 1.
      // q2: pid 4 has no gallery match → skipped.
      #expect(metrics.cmc == [0.5, 1, 1, 1, 1])
      #expect(abs(metrics.mAP - 0.75) < 1e-12)
      #expect(abs(metrics.mINP - 0.75) < 1e-12)
      #expect(metrics.validQueries == 2 && metrics.skippedQueries == 1)
    }
  }

  @Test("the worked example under the retrieval protocol")
  func workedExampleRetrieval() {
    let metrics = Evaluator(evaluationProtocol: .retrieval(excludeSelf: false), maxRank: 3)
      .evaluate(rankings: Self.rankings, queries: Self.queries, gallery: Self.gallery)
    // q0: relevant g0 g1 g5 (R = 3); rel = 1,0,1,0,1,0.
    //     P@1 = 1; R-precision = 2/3; MAP@R = (1/1 + 2/3) / 3 = 0.5556;
    //     mAP = (1/1 + 2/3 + 3/5) / 3 = 0.7556.
    // q1: relevant g2 g3 (R = 2); rel = 1,0,1,0,0,0.
    //     P@1 = 1; R-precision = 1/2; MAP@R = (1/1) / 2 = 0.5; mAP = (1 + 2/3) / 2 = 0.8333.
    // q2: R = 0 → dropped.
    #expect(metrics.precisionAt1 == 1)
    #expect(abs(metrics.rPrecision - (2.0 / 3 + 0.5) / 2) < 1e-12)  // 0.5833
    #expect(abs(metrics.mapAtR - ((1 + 2.0 / 3) / 3 + 0.5) / 2) < 1e-12)  // 0.5278
    // mAP = 0.7944
    #expect(abs(metrics.mAP - ((1 + 2.0 / 3 + 3.0 / 5) / 3 + (1 + 2.0 / 3) / 2) / 2) < 1e-12)
    #expect(abs(metrics.mAP - 0.7944) < 1e-4)
    #expect(metrics.validQueries == 2 && metrics.skippedQueries == 1)
  }

  @Test("distractors never match, junk is removed, and the camera filter can be turned off")
  func distractorsAndJunk() {
    // Gallery: g0 distractor (0,2), g1 junk (-1,2), g2 match (5,2), g3 match same camera (5,1).
    let gallery = LabelSet(pids: [0, -1, 5, 5], cameras: [2, 2, 2, 1])
    let queries = LabelSet(pids: [5, 0], cameras: [1, 1])
    let rankings = [[0, 1, 2, 3], [0, 1, 2, 3]]
    let market = Evaluator(evaluationProtocol: .market1501, maxRank: 3)
      .evaluate(rankings: rankings, queries: queries, gallery: gallery)
    // Query pid 5: junk and g3 removed → kept g0 g2 → first match at rank 2, AP 1/2.
    // Query pid 0 (a distractor) cannot be scored → skipped.
    #expect(market.cmc == [0, 1, 1])
    #expect(market.mAP == 0.5 && market.validQueries == 1 && market.skippedQueries == 1)
    let allCameras = Evaluator(evaluationProtocol: .market1501AllCameras, maxRank: 3)
      .evaluate(rankings: rankings, queries: queries, gallery: gallery)
    // Only junk removed → kept g0 g2 g3 → matches at ranks 2 and 3: AP (1/2 + 2/3) / 2.
    #expect(abs(allCameras.mAP - (0.5 + 2.0 / 3) / 2) < 1e-12)
    #expect(allCameras.mINP == 2.0 / 3)
  }

  @Test("a partial ranking puts unlisted items after the listed ones, in gallery order")
  func partialRankings() {
    // Gallery pids: g0 1, g1 2, g2 1, g3 3, g4 1 (all camera 2); query pid 1, camera 1.
    let gallery = LabelSet(pids: [1, 2, 1, 3, 1], cameras: [2, 2, 2, 2, 2])
    let queries = LabelSet(pids: [1], cameras: [1])
    let metrics = Evaluator(evaluationProtocol: .market1501, maxRank: 5)
      .evaluate(rankings: [[3, 2]], queries: queries, gallery: gallery)
    // Full order: g3 g2 | g0 g1 g4 → matches at ranks 2, 3, 5: AP = (1/2 + 2/3 + 3/5) / 3.
    #expect(abs(metrics.mAP - (0.5 + 2.0 / 3 + 0.6) / 3) < 1e-12)
    #expect(metrics.cmc == [0, 1, 1, 1, 1])
    #expect(abs(metrics.mINP - 3.0 / 5) < 1e-12)
  }

  static let protocols: [EvaluationProtocol] = [
    .market1501, .market1501AllCameras, .cuhk03(repeats: 7, seed: 42),
    .retrieval(excludeSelf: false),
    .retrieval(excludeSelf: true),
  ]

  @Test("agrees with the plain reference on random cases with many ties", arguments: protocols)
  func matchesReference(evaluationProtocol: EvaluationProtocol) {
    for seed in UInt64(1)...12 {
      var random = SeededRandom(seed: seed)
      let galleryCount = random.integer(in: 5...120)
      let queryCount: Int
      if case .retrieval(true) = evaluationProtocol {
        queryCount = galleryCount
      } else {
        queryCount = random.integer(in: 1...40)
      }
      let identities = random.integer(in: 1...12)
      func labels(_ count: Int) -> LabelSet {
        LabelSet(
          pids: (0..<count).map { _ in Int32(random.integer(in: -1...identities)) },
          cameras: (0..<count).map { _ in Int32(random.integer(in: 1...3)) })
      }
      let gallery = labels(galleryCount)
      let queries = labels(queryCount)
      // Small integer distances: lots of ties, which must resolve by gallery order.
      let rows = (0..<queryCount).map { _ in
        (0..<galleryCount).map { _ in Float(random.integer(in: 0...9)) }
      }
      let maxRank = 10
      let expected = ReferenceEvaluation.evaluate(
        distances: rows, queries: queries, gallery: gallery, evaluationProtocol: evaluationProtocol,
        maxRank: maxRank)
      var evaluator = Evaluator(evaluationProtocol: evaluationProtocol, maxRank: maxRank)
      for threads in [1, 2] {
        evaluator.threads = threads
        let found = evaluator.evaluate(
          distances: Matrix(rowArrays: rows), queries: queries, gallery: gallery)
        #expect(
          found.validQueries == expected.valid && found.skippedQueries == expected.skipped,
          "seed \(seed)")
        for (a, b) in zip(found.cmc, expected.cmc) {
          #expect(abs(a - b) < 1e-6, "CMC, seed \(seed)")
        }
        #expect(abs(found.mAP - expected.mAP) < 1e-6, "mAP, seed \(seed)")
        #expect(abs(found.mINP - expected.mINP) < 1e-6, "mINP, seed \(seed)")
        #expect(abs(found.rPrecision - expected.rPrecision) < 1e-6, "R-precision, seed \(seed)")
        #expect(abs(found.mapAtR - expected.mapAtR) < 1e-6, "MAP@R, seed \(seed)")
      }
    }
  }

  @Test(
    "scoring vectors equals scoring their brute-force distance matrix",
    arguments: [DistanceMetric.l2, .cosine])
  func vectorsMatchDistances(metric: DistanceMetric) {
    var queryVectors = Fixtures.clusteredMatrix(rows: 70, columns: 8, clusters: 6, seed: 1)
    var galleryVectors = Fixtures.clusteredMatrix(rows: 300, columns: 8, clusters: 6, seed: 2)
    if metric == .cosine {
      queryVectors.normalizeRows()
      galleryVectors.normalizeRows()
    }
    var random = SeededRandom(seed: 3)
    let queries = LabelSet(
      pids: (0..<70).map { _ in Int32(random.integer(in: 1...6)) },
      cameras: (0..<70).map { _ in Int32(random.integer(in: 1...2)) })
    let gallery = LabelSet(
      pids: (0..<300).map { _ in Int32(random.integer(in: 0...6)) },
      cameras: (0..<300).map { _ in Int32(random.integer(in: 1...2)) })
    var distances = Matrix(rows: 70, columns: 300)
    for query in 0..<70 {
      for item in 0..<300 {
        let pairs = zip(queryVectors.row(query), galleryVectors.row(item))
        distances[query, item] =
          metric == .l2
          ? pairs.map { ($0 - $1) * ($0 - $1) }.reduce(0, +)
          : 1 - pairs.map { $0 * $1 }.reduce(0, +)
      }
    }
    var evaluator = Evaluator(evaluationProtocol: .market1501, maxRank: 20)
    evaluator.queryTile = 16
    let fromVectors = evaluator.evaluate(
      queryVectors: queryVectors, galleryVectors: galleryVectors, metric: metric, queries: queries,
      gallery: gallery)
    let fromDistances = evaluator.evaluate(distances: distances, queries: queries, gallery: gallery)
    #expect(fromVectors.validQueries == fromDistances.validQueries)
    #expect(abs(fromVectors.mAP - fromDistances.mAP) < 1e-6)
    for (a, b) in zip(fromVectors.cmc, fromDistances.cmc) { #expect(abs(a - b) < 1e-6) }
  }

  @Test("ANN recall is the overlap of the top-k lists")
  func annRecall() {
    // Query 0: 2 of 4 found; query 1: all 4 (order does not matter); query 2: none.
    let recall = ANNRecall.recall(
      approximate: [[1, 2, 9, 8], [4, 3, 2, 1], [7, 7, 7, 7]],
      exact: [[1, 2, 3, 4], [1, 2, 3, 4], [1, 2, 3, 4]], k: 4)
    #expect(abs(recall - (0.5 + 1 + 0) / 3) < 1e-12)
    #expect(ANNRecall.recall(approximate: [[1, 5]], exact: [[1, 2, 3]], k: 2) == 0.5)
  }

  @Test("runs average rank by rank; the standard deviation is the sample one")
  func meanOverRuns() {
    func run(_ cmc: [Double], _ mAP: Double) -> EvaluationMetrics {
      EvaluationMetrics(
        evaluationProtocol: .market1501, cmc: cmc, mAP: mAP, mINP: mAP / 2, rPrecision: 0,
        mapAtR: 0, validQueries: 10, skippedQueries: 1)
    }
    let runs = [run([0.5, 1.0], 0.4), run([0.7, 0.9], 0.6), run([0.6, 0.8], 0.8)]
    let mean = EvaluationMetrics.mean(runs)
    // CMC@1 (0.5 + 0.7 + 0.6) / 3 = 0.6, CMC@2 (1.0 + 0.9 + 0.8) / 3 = 0.9; mAP 0.6; mINP 0.3.
    #expect(abs(mean.cmc[0] - 0.6) < 1e-12 && abs(mean.cmc[1] - 0.9) < 1e-12)
    #expect(abs(mean.mAP - 0.6) < 1e-12 && abs(mean.mINP - 0.3) < 1e-12)
    #expect(mean.validQueries == 10 && mean.skippedQueries == 1)
    // mAP deviations −0.2, 0, 0.2: sample variance (0.04 + 0.04) / 2 = 0.04, sd 0.2.
    #expect(abs(EvaluationMetrics.standardDeviation(runs, of: \.mAP) - 0.2) < 1e-12)
    #expect(EvaluationMetrics.standardDeviation([runs[0]], of: \.mAP) == 0)
  }
}
