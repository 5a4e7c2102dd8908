import Benchmark
import Evaluation
import TripIndex
import VectorMath

/// Re-ID metrics on a Market-1501-sized problem (3,368 queries × 15,913 gallery, 256-d, 751
/// identities, 6 cameras, distractors and junk): scoring from vectors (BLAS distance tiles, no
/// sorting) and from explicit top-50 rankings (what an ANN index returns). The numpy comparison
/// is scripts/compare_metrics_numpy.py.
let benchmarks: @Sendable () -> Void = {
  Benchmark.defaultConfiguration = .init(
    metrics: [.wallClock, .throughput, .peakMemoryResident], maxDuration: .seconds(10),
    maxIterations: 10)

  Benchmark("Market-1501 metrics from vectors: 3,368 x 15,913 x 256, CMC@50, mAP, mINP") {
    benchmark in
    let problem = MarketSizedProblem.shared
    let evaluator = Evaluator(evaluationProtocol: .market1501, maxRank: 50)
    benchmark.startMeasurement()
    blackHole(
      evaluator.evaluate(
        queryVectors: problem.queries, galleryVectors: problem.gallery, metric: .l2,
        queries: problem.queryLabels, gallery: problem.galleryLabels))
    benchmark.stopMeasurement()
  }

  Benchmark("Market-1501 metrics from top-50 rankings: 3,368 queries x 15,913 gallery") {
    benchmark in
    let problem = MarketSizedProblem.shared
    let evaluator = Evaluator(evaluationProtocol: .market1501, maxRank: 50)
    let rankings = problem.topRankings
    benchmark.startMeasurement()
    blackHole(
      evaluator.evaluate(
        rankings: rankings, queries: problem.queryLabels, gallery: problem.galleryLabels))
    benchmark.stopMeasurement()
  }
}

/// Seeded synthetic features with Market-1501's label structure, made once per process.
final class MarketSizedProblem: @unchecked Sendable {
  static let shared = MarketSizedProblem()
  let queries: Matrix
  let gallery: Matrix
  let queryLabels: LabelSet
  let galleryLabels: LabelSet
  /// Per query, 50 gallery indices (a fixed pseudo-random ranking).
  let topRankings: [[Int]]

  init() {
    let dimension = 256
    let identities = 751
    var random = SeededRandom(seed: 11)
    let centres = (0..<(identities * dimension)).map { _ in Float(random.normal()) }
    func draw(_ count: Int, distractorShare: Double, junkShare: Double) -> (Matrix, LabelSet) {
      var values = [Float]()
      values.reserveCapacity(count * dimension)
      var pids = [Int32]()
      var cameras = [Int32]()
      for _ in 0..<count {
        let roll = random.uniform()
        let identity = Int(random.next() % UInt64(identities))
        let pid: Int32 =
          roll < junkShare ? -1 : roll < junkShare + distractorShare ? 0 : Int32(identity + 1)
        pids.append(pid)
        cameras.append(Int32(random.next() % 6) + 1)
        for column in 0..<dimension {
          let centre = pid > 0 ? centres[identity * dimension + column] : 0
          values.append(centre + Float(random.normal()) * 0.8)
        }
      }
      return (
        Matrix(rows: count, columns: dimension, values: values),
        LabelSet(pids: pids, cameras: cameras)
      )
    }
    (queries, queryLabels) = draw(3368, distractorShare: 0, junkShare: 0)
    (gallery, galleryLabels) = draw(15913, distractorShare: 0.2, junkShare: 0.02)
    topRankings = (0..<3368).map { query in
      (0..<50).map { position in (query * 7919 + position * 104_729) % 15913 }
    }
  }
}
