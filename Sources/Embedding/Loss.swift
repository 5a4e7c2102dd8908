import RealModule

/// The training objectives on offer.
public enum LossKind: String, Sendable, CaseIterable {
  /// Per anchor, the farthest positive and the nearest negative of the P×K batch (Hermans et al. 2017).
  case batchHard = "batch-hard"
  /// Every valid triplet of the batch, averaged over those with a positive loss (Hermans et al. 2017).
  case batchAll = "batch-all"
  /// Per anchor–positive pair, the nearest negative farther than the positive (FaceNet; when none
  /// is, the farthest negative, as TensorFlow's semi-hard loss does).
  case semiHard = "semi-hard"
  /// Every valid triplet of the batch, averaged over all of them (no mining).
  case triplet
  /// Contrastive loss over every pair of the batch: y·d² + (1 − y)·max(0, m − d)².
  case contrastive
  /// Multiple-negatives ranking (Henderson et al. 2017, SBERT): one anchor–positive pair per
  /// identity, cross-entropy over scaled cosine similarities with the other pairs' positives as negatives.
  case multipleNegatives = "mnr"
  /// Ladder loss (Zhou et al. 2020) over graded relevance: same pid, then same group, then the rest.
  case ladder
  /// Softmax cross-entropy on a linear classification head: the surrogate baseline.
  case softmax

  /// Whether the loss needs at least two samples of an identity in a batch.
  public var needsPositives: Bool { self != .softmax }
}

/// The margin of a triplet-style loss.
public enum Margin: Sendable, Equatable, CustomStringConvertible {
  /// max(0, x + m).
  case hinge(Double)
  /// softplus(x) = log(1 + eˣ) (Hermans et al.'s soft margin).
  case soft

  /// `0.3` or `soft`.
  public var description: String {
    switch self {
    case .hinge(let margin): return String(margin)
    case .soft: return "soft"
    }
  }
}

/// A loss and its settings.
public struct LossConfiguration: Sendable, Equatable {
  /// Which loss.
  public var kind: LossKind
  /// Its margin (triplet-style losses, contrastive and ladder use the hinge value).
  public var margin: Margin
  /// The distance between embeddings.
  public var distance: EmbeddingDistance
  /// Multiple-negatives ranking: the similarity scale s.
  public var similarityScale: Double = 20
  /// The weight of a softmax cross-entropy head added to a metric loss (the joint recipe of
  /// Luo et al.'s strong re-ID baseline); 0 for the metric loss alone. Ignored by `softmax`,
  /// which is the head alone.
  public var softmaxWeight: Double = 0
  /// Label smoothing ε of the softmax head (the surrogate's, or the joint recipe's).
  public var labelSmoothing: Double = 0
  /// Classes the softmax head scores per batch: the batch's own plus others drawn uniformly (a
  /// sampled softmax, see ``SoftmaxCandidates``); 0 scores every class.
  public var softmaxClasses: Int = 0
  /// A BNNeck between the embedding and the softmax head (see ``BatchNormNeck``), and where
  /// retrieval takes the embedding; `nil` for none.
  public var neck: NeckPosition?

  /// Whether training needs a softmax head: the surrogate, or a metric loss with a head beside it.
  public var usesSoftmaxHead: Bool { kind == .softmax || softmaxWeight > 0 }

  /// Creates a configuration.
  ///
  /// - Parameters:
  ///   - kind: the loss.
  ///   - margin: the margin.
  ///   - distance: the distance.
  public init(kind: LossKind, margin: Margin, distance: EmbeddingDistance) {
    self.kind = kind
    self.margin = margin
    self.distance = distance
  }

  /// The hinge margin value (the soft margin counts as 0 where a number is needed).
  var marginValue: Double {
    if case .hinge(let value) = margin { return value }
    return 0
  }
}

/// The value of a loss on a batch and its gradient with respect to the embeddings.
public struct LossResult<T: TrainingScalar>: Sendable {
  /// The loss.
  public var value: T
  /// ∂loss/∂embeddings.
  public var gradient: Tensor<T>
  /// The fraction of terms (triplets, pairs, anchors) with a non-zero loss.
  public var activeFraction: Double
}

/// The metric-learning losses (everything but the softmax surrogate, which needs a head: see
/// ``SoftmaxHead``).
public enum MetricLoss {
  /// Computes a loss on a batch.
  ///
  /// - Parameters:
  ///   - configuration: the loss.
  ///   - embeddings: one embedding per row.
  ///   - labels: each row's identity.
  ///   - groups: each row's coarser group (ladder loss only; `nil`: two levels).
  /// - Returns: the loss, its gradient and the active fraction.
  @_specialize(exported:true,where T == Float)
  public static func compute<T: TrainingScalar>(
    _ configuration: LossConfiguration, embeddings: Tensor<T>, labels: [Int], groups: [Int]? = nil
  ) -> LossResult<T> {
    precondition(labels.count == embeddings.rows, "one label per row")
    precondition(configuration.kind != .softmax, "the softmax loss needs a SoftmaxHead")
    if configuration.kind == .multipleNegatives {
      return multipleNegativesRanking(configuration, embeddings: embeddings, labels: labels)
    }
    let distances = PairwiseDistances(embeddings, kind: configuration.distance)
    let count = embeddings.rows
    var coefficients = [T](repeating: 0, count: count * count)
    let value: T
    let active: Double
    switch configuration.kind {
    case .batchHard, .batchAll, .semiHard, .triplet:
      (value, active) = tripletLoss(
        configuration, distances: distances, labels: labels, into: &coefficients)
    case .contrastive:
      (value, active) = contrastiveLoss(
        configuration, distances: distances, labels: labels, into: &coefficients)
    case .ladder:
      (value, active) = ladderLoss(
        configuration, distances: distances, labels: labels, groups: groups, into: &coefficients)
    case .multipleNegatives, .softmax:
      preconditionFailure("handled above")
    }
    return LossResult(
      value: value, gradient: distances.embeddingGradient(coefficients), activeFraction: active)
  }

  /// The margin function f(x) and f'(x): x = d(a,p) − d(a,n).
  @inline(__always)
  static func marginFunction<T: TrainingScalar>(_ x: T, margin: Margin) -> (value: T, slope: T) {
    switch margin {
    case .hinge(let m):
      let shifted = x + T(m)
      return shifted > 0 ? (shifted, 1) : (0, 0)
    case .soft:
      // softplus(x) = max(x, 0) + log(1 + e^(−|x|)), computed without overflow.
      let value = Swift.max(x, 0) + T.log(onePlus: T.exp(-abs(x)))
      let slope = 1 / (1 + T.exp(-x))
      return (value, slope)
    }
  }

  /// Batch-hard, batch-all, semi-hard and plain triplet losses.
  static func tripletLoss<T: TrainingScalar>(
    _ configuration: LossConfiguration, distances: PairwiseDistances<T>, labels: [Int],
    into coefficients: inout [T]
  ) -> (T, Double) {
    let count = labels.count
    var terms: [(anchor: Int, positive: Int, negative: Int, value: T, slope: T)] = []
    func consider(_ a: Int, _ p: Int, _ n: Int) {
      let (value, slope) = marginFunction(
        distances[a, p] - distances[a, n], margin: configuration.margin)
      terms.append((a, p, n, value, slope))
    }
    switch configuration.kind {
    case .batchHard:
      for anchor in 0..<count {
        var hardestPositive = -1
        var hardestNegative = -1
        for other in 0..<count where other != anchor {
          if labels[other] == labels[anchor] {
            if hardestPositive < 0 || distances[anchor, other] > distances[anchor, hardestPositive]
            {
              hardestPositive = other
            }
          } else if hardestNegative < 0
            || distances[anchor, other] < distances[anchor, hardestNegative]
          {
            hardestNegative = other
          }
        }
        if hardestPositive >= 0 && hardestNegative >= 0 {
          consider(anchor, hardestPositive, hardestNegative)
        }
      }
    case .semiHard:
      for anchor in 0..<count {
        for positive in 0..<count where positive != anchor && labels[positive] == labels[anchor] {
          let positiveDistance = distances[anchor, positive]
          var semiHard = -1
          var farthest = -1
          for negative in 0..<count where labels[negative] != labels[anchor] {
            let distance = distances[anchor, negative]
            if distance > positiveDistance
              && (semiHard < 0 || distance < distances[anchor, semiHard])
            {
              semiHard = negative
            }
            if farthest < 0 || distance > distances[anchor, farthest] { farthest = negative }
          }
          let chosen = semiHard >= 0 ? semiHard : farthest
          if chosen >= 0 { consider(anchor, positive, chosen) }
        }
      }
    case .batchAll, .triplet:
      for anchor in 0..<count {
        for positive in 0..<count where positive != anchor && labels[positive] == labels[anchor] {
          for negative in 0..<count where labels[negative] != labels[anchor] {
            consider(anchor, positive, negative)
          }
        }
      }
    default:
      preconditionFailure("not a triplet loss")
    }
    let activeTerms = terms.filter { $0.value > 0 }
    let averaged = configuration.kind == .batchAll ? activeTerms : terms
    guard !averaged.isEmpty else { return (0, 0) }
    let scale = 1 / T(averaged.count)
    var total: T = 0
    for term in averaged {
      total += term.value
      coefficients[term.anchor * count + term.positive] += term.slope * scale
      coefficients[term.anchor * count + term.negative] -= term.slope * scale
    }
    return (total * scale, Double(activeTerms.count) / Double(terms.count))
  }

  /// Contrastive loss, averaged over all pairs.
  static func contrastiveLoss<T: TrainingScalar>(
    _ configuration: LossConfiguration, distances: PairwiseDistances<T>, labels: [Int],
    into coefficients: inout [T]
  ) -> (T, Double) {
    let count = labels.count
    let margin = T(configuration.marginValue)
    let pairs = count * (count - 1) / 2
    guard pairs > 0 else { return (0, 0) }
    let scale = 1 / T(pairs)
    var total: T = 0
    var active = 0
    for i in 0..<count {
      for j in (i + 1)..<count {
        let distance = distances[i, j]
        if labels[i] == labels[j] {
          total += distance * distance
          coefficients[i * count + j] += 2 * distance * scale
          if distance > 0 { active += 1 }
        } else if distance < margin {
          let gap = margin - distance
          total += gap * gap
          coefficients[i * count + j] -= 2 * gap * scale
          active += 1
        }
      }
    }
    return (total * scale, Double(active) / Double(pairs))
  }

  /// Ladder loss with batch-hard mining at every level: relevance level 0 = same pid, 1 = same
  /// group (when groups are given), 2 = the rest. For each threshold l, items of level ≤ l must be
  /// closer to the anchor than items of level > l by α_l = m / 2^l; the levels are weighted
  /// β_l = 1 / 2^l. With two levels this is the batch-hard triplet loss.
  static func ladderLoss<T: TrainingScalar>(
    _ configuration: LossConfiguration, distances: PairwiseDistances<T>, labels: [Int],
    groups: [Int]?,
    into coefficients: inout [T]
  ) -> (T, Double) {
    let count = labels.count
    func level(_ a: Int, _ b: Int) -> Int {
      if labels[a] == labels[b] { return 0 }
      if let groups, groups[a] == groups[b] { return 1 }
      return groups == nil ? 1 : 2
    }
    let thresholds = groups == nil ? 1 : 2
    var total: T = 0
    var active = 0
    var terms = 0
    for threshold in 0..<thresholds {
      let weight = 1 / T(1 << threshold)
      let levelConfiguration = LossConfiguration(
        kind: .batchHard,
        margin: configuration.margin == .soft
          ? .soft : .hinge(configuration.marginValue / Double(1 << threshold)),
        distance: configuration.distance)
      var levelTerms: [(Int, Int, Int, T, T)] = []
      for anchor in 0..<count {
        var farthestClose = -1
        var nearestFar = -1
        for other in 0..<count where other != anchor {
          if level(anchor, other) <= threshold {
            if farthestClose < 0 || distances[anchor, other] > distances[anchor, farthestClose] {
              farthestClose = other
            }
          } else if nearestFar < 0 || distances[anchor, other] < distances[anchor, nearestFar] {
            nearestFar = other
          }
        }
        guard farthestClose >= 0 && nearestFar >= 0 else { continue }
        let (value, slope) = marginFunction(
          distances[anchor, farthestClose] - distances[anchor, nearestFar],
          margin: levelConfiguration.margin)
        levelTerms.append((anchor, farthestClose, nearestFar, value, slope))
      }
      guard !levelTerms.isEmpty else { continue }
      let scale = weight / T(levelTerms.count)
      for (anchor, close, far, value, slope) in levelTerms {
        total += value * scale
        coefficients[anchor * count + close] += slope * scale
        coefficients[anchor * count + far] -= slope * scale
        if value > 0 { active += 1 }
      }
      terms += levelTerms.count
    }
    return (total, terms == 0 ? 0 : Double(active) / Double(terms))
  }

  /// Multiple-negatives ranking: the first two rows of each identity form an (anchor, positive)
  /// pair; scores S_ij = s · cos(anchor_i, positive_j); cross-entropy with target j = i.
  static func multipleNegativesRanking<T: TrainingScalar>(
    _ configuration: LossConfiguration, embeddings: Tensor<T>, labels: [Int]
  ) -> LossResult<T> {
    var firstOf: [Int: Int] = [:]
    var pairs: [(anchor: Int, positive: Int)] = []
    for (row, label) in labels.enumerated() {
      if let first = firstOf[label] {
        if first >= 0 {
          pairs.append((first, row))
          firstOf[label] = -1
        }
      } else {
        firstOf[label] = row
      }
    }
    let count = embeddings.rows
    let distances = PairwiseDistances(embeddings, kind: .cosine)
    var coefficients = [T](repeating: 0, count: count * count)
    guard pairs.count > 1 else {
      return LossResult(
        value: 0, gradient: Tensor(rows: count, columns: embeddings.columns), activeFraction: 0)
    }
    let scale = T(configuration.similarityScale)
    let share = 1 / T(pairs.count)
    var total: T = 0
    var correct = 0
    for (i, pair) in pairs.enumerated() {
      let scores = pairs.map { scale * (1 - distances[pair.anchor, $0.positive]) }
      let largest = scores.max() ?? 0
      let exponentials = scores.map { T.exp($0 - largest) }
      let sum = exponentials.reduce(0, +)
      total += -(scores[i] - largest - T.log(sum))
      if scores.firstIndex(of: largest) == i { correct += 1 }
      for (j, other) in pairs.enumerated() {
        // ∂loss/∂score_ij = softmax_ij − δ_ij; score = s (1 − d) → ∂loss/∂d_ij = −s (softmax_ij − δ_ij).
        let softmax = exponentials[j] / sum
        coefficients[pair.anchor * count + other.positive] -=
          scale * (softmax - (i == j ? 1 : 0)) * share
      }
    }
    return LossResult(
      value: total * share, gradient: distances.embeddingGradient(coefficients),
      activeFraction: 1 - Double(correct) / Double(pairs.count))
  }
}
