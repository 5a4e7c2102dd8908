import CKernels
import RealModule
import VectorMath

/// A linear classification head over embeddings, trained with softmax cross-entropy: the
/// classification-surrogate baseline. The head is dropped at embedding time.
public struct SoftmaxHead<T: TrainingScalar>: Sendable {
  /// Embedding dimension.
  public let inputs: Int
  /// Number of classes.
  public let classes: Int
  /// Weights (`inputs × classes`, row-major), then biases.
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
    parameters =
      (0..<(inputs * classes)).map { _ in T(random.normal() * deviation) }
      + Array(repeating: 0, count: classes)
    gradients = Array(repeating: 0, count: parameters.count)
  }

  /// Cross-entropy of the head's softmax against `labels` (smoothed: the target puts
  /// `1 − smoothing + smoothing / classes` on the label and `smoothing / classes` on every other
  /// class), averaged over rows and multiplied by `weight`; adds the head's gradients (of the
  /// weighted loss) to ``gradients``.
  ///
  /// - Parameters:
  ///   - embeddings: one embedding per row.
  ///   - labels: each row's class in `0..<classes`.
  ///   - smoothing: ε in `0..<1` (0: plain cross-entropy).
  ///   - weight: the factor on the loss and on every gradient (for a joint loss).
  /// - Returns: the weighted loss, its ∂/∂embeddings, and the fraction of rows classified wrongly.
  @_specialize(exported:true,where T == Float)
  public mutating func loss(
    embeddings: Tensor<T>, labels: [Int], smoothing: T = 0, weight: T = 1
  ) -> LossResult<T> {
    let rows = embeddings.rows
    let weightCount = inputs * classes
    // Logits Z = E W + b; the weights are the first `inputs × classes` parameters.
    var logits = [T](repeating: 0, count: rows * classes)
    multiply(embeddings.values, parameters, into: &logits, m: rows, n: classes, k: inputs)
    var total: T = 0
    var wrong = 0
    let share = weight / T(rows)
    let other = smoothing / T(classes)
    let onLabel = 1 - smoothing + other
    for label in labels {
      precondition(label >= 0 && label < classes, "label \(label) outside 0..<\(classes)")
    }
    if T.self == Float.self {
      // Training's path: one C pass per row, exponentials in eight lanes.
      (total, wrong) = Self.floatCrossEntropy(
        logits: &logits, parameters: parameters, biasOffset: weightCount, labels: labels,
        classes: classes, smoothing: Float(smoothing), share: Float(share))
    } else {
      for row in 0..<rows {
        let base = row * classes
        let label = labels[row]
        var largest = -T.infinity
        var predicted = 0
        for column in 0..<classes {
          let logit = logits[base + column] + parameters[weightCount + column]
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
        for column in 0..<classes {
          let shifted = logits[base + column] - largest
          targetShift += (column == label ? onLabel : other) * shifted
          let exponential = T.exp(shifted)
          logits[base + column] = exponential
          sum += exponential
        }
        total += T.log(sum) - targetShift
        for column in 0..<classes {
          let target = column == label ? onLabel : other
          logits[base + column] = (logits[base + column] / sum - target) * share
        }
      }
    }
    let logitGradient = logits
    // ∂W += Eᵀ ∂Z, ∂b += Σ rows ∂Z, ∂E = ∂Z Wᵀ.
    multiply(
      embeddings.values, logitGradient, into: &gradients, m: inputs, n: classes, k: rows,
      transposeA: true, accumulate: true)
    for row in 0..<rows {
      for column in 0..<classes {
        gradients[weightCount + column] += logitGradient[row * classes + column]
      }
    }
    var embeddingGradient = Tensor<T>(rows: rows, columns: inputs)
    multiply(
      logitGradient, parameters, into: &embeddingGradient.values, m: rows, n: inputs, k: classes,
      transposeB: true)
    return LossResult(
      value: total * share, gradient: embeddingGradient,
      activeFraction: Double(wrong) / Double(rows))
  }

  /// ``loss(embeddings:labels:smoothing:weight:)``'s per-row work for `Float` through
  /// `tripindex_softmax_cross_entropy`: the summed loss and the rows classified wrongly; the
  /// logits become the gradient of the weighted loss.
  private static func floatCrossEntropy(
    logits: inout [T], parameters: [T], biasOffset: Int, labels: [Int], classes: Int,
    smoothing: Float, share: Float
  ) -> (T, Int) {
    let wideLabels = labels.map { Int64($0) }
    var wrong = 0
    let total = logits.withUnsafeMutableBytes { logits in
      parameters.withUnsafeBytes { parameters in
        wideLabels.withUnsafeBufferPointer { labels -> Float in
          guard let logitBase = logits.baseAddress, let parameterBase = parameters.baseAddress
          else { return 0 }
          return tripindex_softmax_cross_entropy(
            logitBase.assumingMemoryBound(to: Float.self),
            (parameterBase + biasOffset * MemoryLayout<Float>.size).assumingMemoryBound(
              to: Float.self),
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
