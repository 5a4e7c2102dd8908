import CKernels
import RealModule
import VectorMath

/// A linear classification head over embeddings, trained with softmax cross-entropy: the
/// classification-surrogate baseline, or the classification term of the joint recipe. The head
/// is dropped at embedding time.
public struct SoftmaxHead<T: TrainingScalar>: Sendable {
  /// Embedding dimension.
  public let inputs: Int
  /// Number of classes.
  public let classes: Int
  /// Weights (`classes × inputs`, row-major: one contiguous weight vector per class), then biases.
  public var parameters: [T]
  /// Gradients, same layout.
  public var gradients: [T]

  /// A head with He-initialised weights and zero biases.
  ///
  /// - Parameters:
  ///   - inputs: embedding dimension.
  ///   - classes: identities to classify.
  ///   - seed: the initialisation seed.
  public init(inputs: Int, classes: Int, seed: UInt64) {
    self.inputs = inputs
    self.classes = classes
    var random = SeededRandom(seed: seed)
    let deviation = (1 / Double(inputs)).squareRoot()
    // Drawn input by input (the order the head had when it was stored input-major), so a seed
    // gives the same head as before.
    var weights = [T](repeating: 0, count: inputs * classes + classes)
    for input in 0..<inputs {
      for column in 0..<classes {
        weights[column * inputs + input] = T(random.normal() * deviation)
      }
    }
    parameters = weights
    gradients = Array(repeating: 0, count: parameters.count)
  }

  /// The parameter ranges one class owns: its weight vector and its bias.
  ///
  /// - Parameter column: the class.
  /// - Returns: the two ranges in ``parameters``.
  public func parameterRanges(of column: Int) -> [Range<Int>] {
    let bias = inputs * classes + column
    return [(column * inputs)..<((column + 1) * inputs), bias..<(bias + 1)]
  }

  /// Cross-entropy of the head's softmax against `labels` (smoothed: the target puts
  /// `1 − smoothing + smoothing / n` on the label and `smoothing / n` on every other of the `n`
  /// scored classes), averaged over rows and multiplied by `weight`; adds the head's gradients (of
  /// the weighted loss) to ``gradients`` (only the scored classes' entries change).
  ///
  /// - Parameters:
  ///   - embeddings: one embedding per row.
  ///   - labels: each row's class in `0..<classes`.
  ///   - smoothing: ε in `0..<1` (0: plain cross-entropy).
  ///   - weight: the factor on the loss and on every gradient (for a joint loss).
  ///   - candidates: the classes this step scores (a sampled softmax), or `nil` for all of them.
  ///     Every label must be among them.
  /// - Returns: the weighted loss, its ∂/∂embeddings, and the fraction of rows classified wrongly
  ///   (among the scored classes).
  @_specialize(exported:true,where T == Float)
  public mutating func loss(
    embeddings: Tensor<T>, labels: [Int], smoothing: T = 0, weight: T = 1,
    candidates: SoftmaxCandidates? = nil
  ) -> LossResult<T> {
    let rows = embeddings.rows
    let weightCount = inputs * classes
    let inputs = self.inputs
    // The scored classes' weight rows: all of them in place, or the candidates' gathered (with the
    // drawn classes' logit offset folded into their biases).
    let scored = candidates?.classes.count ?? classes
    var scoredWeights: [T]
    var biases: [T]
    var scoredLabels = labels
    if let candidates {
      scoredWeights = [T](repeating: 0, count: inputs * scored)
      biases = [T](repeating: 0, count: scored)
      var positions = [Int](repeating: -1, count: classes)
      for (position, column) in candidates.classes.enumerated() {
        precondition(column >= 0 && column < classes, "candidate \(column) outside 0..<\(classes)")
        positions[column] = position
        scoredWeights.withUnsafeMutableBufferPointer { target in
          parameters.withUnsafeBufferPointer { source in
            guard let to = target.baseAddress, let from = source.baseAddress else { return }
            (to + position * inputs).update(from: from + column * inputs, count: inputs)
          }
        }
        biases[position] =
          parameters[weightCount + column]
          + (candidates.isSampled[position] ? T(candidates.sampledLogitOffset) : 0)
      }
      scoredLabels = labels.map { label in
        precondition(
          label >= 0 && label < classes && positions[label] >= 0,
          "label \(label) is not among the scored classes")
        return positions[label]
      }
    } else {
      scoredWeights = parameters
      biases = Array(parameters[weightCount...])
    }
    // Logits Z = E Wᵀ + b.
    var logits = [T](repeating: 0, count: rows * scored)
    multiply(
      embeddings.values, scoredWeights, into: &logits, m: rows, n: scored, k: inputs,
      transposeB: true)
    var total: T = 0
    var wrong = 0
    let share = weight / T(rows)
    let other = smoothing / T(scored)
    let onLabel = 1 - smoothing + other
    for label in scoredLabels {
      precondition(label >= 0 && label < scored, "label \(label) outside 0..<\(scored)")
    }
    if T.self == Float.self {
      // Training's path: one C pass per row, exponentials in eight lanes.
      (total, wrong) = Self.floatCrossEntropy(
        logits: &logits, biases: biases, labels: scoredLabels, classes: scored,
        smoothing: Float(smoothing), share: Float(share))
    } else {
      for row in 0..<rows {
        let base = row * scored
        let label = scoredLabels[row]
        var largest = -T.infinity
        var predicted = 0
        for column in 0..<scored {
          let logit = logits[base + column] + biases[column]
          logits[base + column] = logit
          if logit > largest {
            largest = logit
            predicted = column
          }
        }
        if predicted != label { wrong += 1 }
        // −Σ_c q_c log p_c = log Σ_c e^(z_c − max) − Σ_c q_c (z_c − max), since Σ_c q_c = 1; one
        // exponential per logit, kept for the gradient p_c − q_c.
        var sum: T = 0
        var targetShift: T = 0
        for column in 0..<scored {
          let shifted = logits[base + column] - largest
          targetShift += (column == label ? onLabel : other) * shifted
          let exponential = T.exp(shifted)
          logits[base + column] = exponential
          sum += exponential
        }
        total += T.log(sum) - targetShift
        for column in 0..<scored {
          let target = column == label ? onLabel : other
          logits[base + column] = (logits[base + column] / sum - target) * share
        }
      }
    }
    let logitGradient = logits
    // ∂E = ∂Z W, ∂W += ∂Zᵀ E, ∂b += Σ rows ∂Z (on the scored classes).
    var embeddingGradient = Tensor<T>(rows: rows, columns: inputs)
    multiply(
      logitGradient, scoredWeights, into: &embeddingGradient.values, m: rows, n: inputs, k: scored)
    var biasGradients = [T](repeating: 0, count: scored)
    for row in 0..<rows {
      for column in 0..<scored { biasGradients[column] += logitGradient[row * scored + column] }
    }
    if let candidates {
      var scoredGradients = [T](repeating: 0, count: inputs * scored)
      multiply(
        logitGradient, embeddings.values, into: &scoredGradients, m: scored, n: inputs, k: rows,
        transposeA: true)
      gradients.withUnsafeMutableBufferPointer { gradients in
        scoredGradients.withUnsafeBufferPointer { scoredGradients in
          guard let to = gradients.baseAddress, let from = scoredGradients.baseAddress else {
            return
          }
          for (position, column) in candidates.classes.enumerated() {
            for input in 0..<inputs {
              to[column * inputs + input] += from[position * inputs + input]
            }
            to[weightCount + column] += biasGradients[position]
          }
        }
      }
    } else {
      multiply(
        logitGradient, embeddings.values, into: &gradients, m: classes, n: inputs, k: rows,
        transposeA: true, accumulate: true)
      for column in 0..<classes { gradients[weightCount + column] += biasGradients[column] }
    }
    return LossResult(
      value: total * share, gradient: embeddingGradient,
      activeFraction: Double(wrong) / Double(rows))
  }

  /// ``loss(embeddings:labels:smoothing:weight:candidates:)``'s per-row work for `Float` through
  /// `tripindex_softmax_cross_entropy`: the summed loss and the rows classified wrongly; the
  /// logits become the gradient of the weighted loss.
  private static func floatCrossEntropy(
    logits: inout [T], biases: [T], labels: [Int], classes: Int,
    smoothing: Float, share: Float
  ) -> (T, Int) {
    let wideLabels = labels.map { Int64($0) }
    var wrong = 0
    let total = logits.withUnsafeMutableBytes { logits in
      biases.withUnsafeBytes { biases in
        wideLabels.withUnsafeBufferPointer { labels -> Float in
          guard let logitBase = logits.baseAddress, let biasBase = biases.baseAddress
          else { return 0 }
          return tripindex_softmax_cross_entropy(
            logitBase.assumingMemoryBound(to: Float.self),
            biasBase.assumingMemoryBound(to: Float.self),
            labels.baseAddress, labels.count, classes, smoothing, share, &wrong)
        }
      }
    }
    return (T(total), wrong)
  }

  /// Clears the gradients.
  @_specialize(exported:true,where T == Float)
  public mutating func zeroGradients() {
    for index in gradients.indices { gradients[index] = 0 }
  }
}

/// The classes one step of a sampled softmax scores: every class the batch carries, plus others
/// drawn uniformly without replacement, whose logits are raised by the log of the inverse
/// probability of drawing them (the "logQ" correction), so that their exponentials estimate the
/// sum over all the classes left out.
public struct SoftmaxCandidates: Sendable, Equatable {
  /// The scored classes, ascending.
  public let classes: [Int]
  /// Per scored class, whether it was drawn (rather than carried by the batch).
  public let isSampled: [Bool]
  /// Added to a drawn class's logit: log(classes not in the batch / classes drawn).
  public let sampledLogitOffset: Double

  /// Candidates from explicit parts (for tests and reproducible steps).
  ///
  /// - Parameters:
  ///   - batchClasses: the classes the batch carries.
  ///   - sampledClasses: the drawn others (none of `batchClasses`).
  ///   - sampledLogitOffset: the drawn classes' logit offset.
  public init(batchClasses: Set<Int>, sampledClasses: Set<Int>, sampledLogitOffset: Double) {
    precondition(batchClasses.isDisjoint(with: sampledClasses), "a drawn class is in the batch")
    let classes = batchClasses.union(sampledClasses).sorted()
    self.init(
      classes: classes, isSampled: classes.map { sampledClasses.contains($0) },
      sampledLogitOffset: sampledLogitOffset)
  }

  private init(classes: [Int], isSampled: [Bool], sampledLogitOffset: Double) {
    self.classes = classes
    self.isSampled = isSampled
    self.sampledLogitOffset = sampledLogitOffset
  }

  /// Draws candidates for a batch: its classes, and `count − batch classes` others (if any are
  /// left) uniformly without replacement from the rest of `0..<totalClasses`.
  ///
  /// - Parameters:
  ///   - labels: the batch rows' classes.
  ///   - totalClasses: the head's class count.
  ///   - count: how many classes to score (at least the batch's own are always scored).
  ///   - random: the generator (a stream of its own, so sampling does not shift the batches).
  /// - Returns: the candidates, or `nil` when `count` covers every class (score them all).
  public static func draw(
    labels: [Int], totalClasses: Int, count: Int, using random: inout SeededRandom
  ) -> SoftmaxCandidates? {
    guard count < totalClasses else { return nil }
    var inBatch = [Bool](repeating: false, count: totalClasses)
    for label in labels { inBatch[label] = true }
    let outside = (0..<totalClasses).filter { !inBatch[$0] }
    let batchClasses = totalClasses - outside.count
    let drawn = min(max(0, count - batchClasses), outside.count)
    // Floyd's algorithm over the indices of the classes outside the batch.
    var picked = [Bool](repeating: false, count: outside.count)
    for upper in (outside.count - drawn)..<outside.count {
      let index = Int(random.next() % UInt64(upper + 1))
      picked[picked[index] ? upper : index] = true
    }
    var classes: [Int] = []
    var isSampled: [Bool] = []
    var next = 0
    for column in 0..<totalClasses {
      if inBatch[column] {
        classes.append(column)
        isSampled.append(false)
      } else {
        if picked[next] {
          classes.append(column)
          isSampled.append(true)
        }
        next += 1
      }
    }
    return SoftmaxCandidates(
      classes: classes, isSampled: isSampled,
      sampledLogitOffset: drawn > 0 ? Double.log(Double(outside.count) / Double(drawn)) : 0)
  }
}
