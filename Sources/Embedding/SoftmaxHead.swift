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

  /// Cross-entropy of the head's softmax against `labels`, averaged over rows; adds the head's
  /// gradients to ``gradients``.
  ///
  /// - Parameters:
  ///   - embeddings: one embedding per row.
  ///   - labels: each row's class in `0..<classes`.
  /// - Returns: the loss, ∂loss/∂embeddings, and the fraction of rows classified wrongly.
  @_specialize(exported:true,where T == Float)
  public mutating func loss(embeddings: Tensor<T>, labels: [Int]) -> LossResult<T> {
    let rows = embeddings.rows
    var logits = [T](repeating: 0, count: rows * classes)
    let weights = Array(parameters[0..<(inputs * classes)])
    multiply(embeddings.values, weights, into: &logits, m: rows, n: classes, k: inputs)
    var total: T = 0
    var wrong = 0
    let share = 1 / T(rows)
    var logitGradient = logits
    for row in 0..<rows {
      for column in 0..<classes {
        logits[row * classes + column] += parameters[inputs * classes + column]
      }
      let slice = logits[(row * classes)..<((row + 1) * classes)]
      let largest = slice.max() ?? 0
      var sum: T = 0
      for column in 0..<classes { sum += T.exp(logits[row * classes + column] - largest) }
      let label = labels[row]
      precondition(label >= 0 && label < classes, "label \(label) outside 0..<\(classes)")
      total += -(logits[row * classes + label] - largest - T.log(sum))
      if slice.firstIndex(of: largest) != row * classes + label { wrong += 1 }
      for column in 0..<classes {
        let probability = T.exp(logits[row * classes + column] - largest) / sum
        logitGradient[row * classes + column] = (probability - (column == label ? 1 : 0)) * share
      }
    }
    // ∂W += Eᵀ ∂Z, ∂b += Σ rows ∂Z, ∂E = ∂Z Wᵀ.
    var weightGradient = [T](repeating: 0, count: inputs * classes)
    multiply(
      embeddings.values, logitGradient, into: &weightGradient, m: inputs, n: classes, k: rows,
      transposeA: true)
    for index in 0..<(inputs * classes) { gradients[index] += weightGradient[index] }
    for row in 0..<rows {
      for column in 0..<classes {
        gradients[inputs * classes + column] += logitGradient[row * classes + column]
      }
    }
    var embeddingGradient = Tensor<T>(rows: rows, columns: inputs)
    multiply(
      logitGradient, weights, into: &embeddingGradient.values, m: rows, n: inputs, k: classes,
      transposeB: true)
    return LossResult(
      value: total * share, gradient: embeddingGradient,
      activeFraction: Double(wrong) / Double(rows))
  }

  /// Clears the gradients.
  @_specialize(exported:true,where T == Float)
  public mutating func zeroGradients() {
    for index in gradients.indices { gradients[index] = 0 }
  }
}
