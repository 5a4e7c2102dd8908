import Evaluation
import VectorMath

/// A deliberately plain evaluation, written from the published protocols (torchreid's
/// `eval_market1501` / `eval_cuhk03`, pytorch-metric-learning's AccuracyCalculator): sort each
/// gallery row completely (stable, by gallery index on ties), drop removed items, walk the list.
/// The fast ``Evaluator`` must agree with it.
enum ReferenceEvaluation {
  struct Scores {
    var cmc: [Double]
    var mAP: Double
    var mINP: Double
    var rPrecision: Double
    var mapAtR: Double
    var valid: Int
    var skipped: Int
  }

  static func evaluate(
    distances: [[Float]], queries: LabelSet, gallery: LabelSet,
    evaluationProtocol: EvaluationProtocol, maxRank: Int
  ) -> Scores {
    var cmcSum = [Double](repeating: 0, count: maxRank)
    var apSum = 0.0
    var inpSum = 0.0
    var rPrecisionSum = 0.0
    var mapAtRSum = 0.0
    var valid = 0
    var skipped = 0
    for query in 0..<queries.count {
      let pid = queries.pids[query]
      let camera = queries.cameras[query]
      let order = (0..<gallery.count).sorted { a, b in
        distances[query][a] < distances[query][b]
          || (distances[query][a] == distances[query][b] && a < b)
      }
      var kept: [Int] = []
      for index in order {
        let galleryPID = gallery.pids[index]
        switch evaluationProtocol {
        case .market1501, .cuhk03:
          if galleryPID == -1 || (galleryPID == pid && gallery.cameras[index] == camera) {
            continue
          }
        case .market1501AllCameras:
          if galleryPID == -1 { continue }
        case .retrieval(let excludeSelf):
          if excludeSelf && index == query { continue }
        }
        kept.append(index)
      }
      let hits = kept.map { gallery.pids[$0] == pid ? 1 : 0 }
      let relevant = hits.reduce(0, +)
      if (evaluationProtocol.isReID && pid <= 0) || relevant == 0 {
        skipped += 1
        continue
      }
      valid += 1
      // CMC
      if case .cuhk03(let repeats, let seed) = evaluationProtocol {
        cmcSum = zip(
          cmcSum,
          singleShotCMC(
            kept: kept, distances: distances[query], query: query, pid: pid, gallery: gallery,
            repeats: repeats, seed: seed, maxRank: maxRank)
        ).map(+)
      } else {
        let first = hits.firstIndex(of: 1)!
        for rank in min(first, maxRank)..<maxRank { cmcSum[rank] += 1 }
      }
      // AP, INP, R-precision, MAP@R
      var found = 0
      var ap = 0.0
      var apWithinR = 0.0
      var lastRank = 0
      for (position, hit) in hits.enumerated() where hit == 1 {
        found += 1
        let precision = Double(found) / Double(position + 1)
        ap += precision
        if position < relevant { apWithinR += precision }
        lastRank = position + 1
      }
      apSum += ap / Double(relevant)
      inpSum += Double(relevant) / Double(lastRank)
      rPrecisionSum += Double(hits.prefix(relevant).reduce(0, +)) / Double(relevant)
      mapAtRSum += apWithinR / Double(relevant)
    }
    let count = Double(max(valid, 1))
    return Scores(
      cmc: cmcSum.map { $0 / count }, mAP: apSum / count, mINP: inpSum / count,
      rPrecision: rPrecisionSum / count, mapAtR: mapAtRSum / count, valid: valid, skipped: skipped)
  }

  /// torchreid's eval_cuhk03 sampling, with tripindex's seeded draws: identities in order of first
  /// appearance in the gallery, items of an identity in gallery order; per repeat the query's own
  /// identity is drawn first, then every other identity in turn.
  static func singleShotCMC(
    kept: [Int], distances: [Float], query: Int, pid: Int32, gallery: LabelSet, repeats: Int,
    seed: UInt64, maxRank: Int
  ) -> [Double] {
    var identities: [Int32] = []
    for galleryPID in gallery.pids where !identities.contains(galleryPID) {
      identities.append(galleryPID)
    }
    let keptSet = Set(kept)
    func items(of identity: Int32) -> [Int] {
      (0..<gallery.count).filter { gallery.pids[$0] == identity && keptSet.contains($0) }
    }
    let ownItems = kept.filter { gallery.pids[$0] == pid }  // sorted by (distance, index)
    var random = SeededRandom(seed: seed &+ UInt64(query) &* 0x9E37_79B9_7F4A_7C15)
    var cmc = [Double](repeating: 0, count: maxRank)
    for _ in 0..<repeats {
      let chosen = ownItems[random.integer(in: 0...(ownItems.count - 1))]
      var sampled = [chosen]
      for identity in identities where identity != pid {
        let candidates = items(of: identity)
        if candidates.isEmpty { continue }
        sampled.append(candidates[random.integer(in: 0...(candidates.count - 1))])
      }
      sampled.sort { distances[$0] < distances[$1] || (distances[$0] == distances[$1] && $0 < $1) }
      let first = sampled.firstIndex(of: chosen)!
      for rank in min(first, maxRank)..<maxRank { cmc[rank] += 1 / Double(repeats) }
    }
    return cmc
  }
}
