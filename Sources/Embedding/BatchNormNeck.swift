/// Where retrieval takes the embedding when a BNNeck is trained.
public enum NeckPosition: String, Sendable, CaseIterable {
  /// The trunk's output, which the metric loss sees (the neck is dropped like the head).
  case before
  /// The neck's output (its inference-time affine map is folded into the output layer).
  case after
}

/// The BNNeck of Luo et al.'s strong re-ID baseline: batch normalisation between the embedding
/// (which the metric loss sees) and the softmax head (which sees the normalised copy), so the two
/// losses need not agree on one feature scale. The shift β is frozen at 0, as in the paper, so
/// the head sees features centred on the origin; the scale γ is learned.
public struct BatchNormNeck<T: TrainingScalar>: Sendable {
  /// Features (the embedding dimension).
  public let features: Int
  /// γ then β (β stays 0).
  public var parameters: [T]
  /// ∂γ then ∂β (always 0).
  public var gradients: [T]
  /// Running mean then running variance.
  public var running: [T]
  /// The running statistics' momentum.
  public var momentum: T = 0.1
  private var saved: BatchNormalization<T>.Saved?
  private var rows = 0

  /// An identity neck: γ = 1, β = 0, running statistics 0 and 1.
  ///
  /// - Parameter features: the embedding dimension.
  public init(features: Int) {
    self.features = features
    parameters = Array(repeating: 1, count: features) + Array(repeating: 0, count: features)
    gradients = Array(repeating: 0, count: 2 * features)
    running = Array(repeating: 0, count: features) + Array(repeating: 1, count: features)
  }

  /// Normalises a batch (with its own statistics when training, recording what ``backward(_:)``
  /// needs; with the running statistics otherwise).
  ///
  /// - Parameters:
  ///   - embeddings: one embedding per row.
  ///   - training: training mode.
  /// - Returns: the normalised embeddings.
  @_specialize(exported:true,where T == Float)
  public mutating func forward(_ embeddings: Tensor<T>, training: Bool) -> Tensor<T> {
    precondition(embeddings.columns == features, "the neck has \(features) features")
    let (rows, features, momentum) = (embeddings.rows, self.features, self.momentum)
    let (output, saved) = parameters.withUnsafeBufferPointer { parameters in
      running.withUnsafeMutableBufferPointer { running in
        guard let affine = parameters.baseAddress, let statistics = running.baseAddress else {
          preconditionFailure("a neck has at least one feature")
        }
        return BatchNormalization.forward(
          embeddings.values, rows: rows, features: features, affine: affine, running: statistics,
          momentum: momentum, training: training)
      }
    }
    if training {
      self.saved = saved
      self.rows = rows
    }
    return Tensor(rows: rows, columns: features, values: output)
  }

  /// Back-propagates through the last training ``forward(_:training:)``: adds ∂γ to
  /// ``gradients`` (β is frozen) and returns ∂loss/∂embeddings.
  ///
  /// - Parameter outputGradient: ∂loss/∂(normalised embeddings).
  /// - Returns: ∂loss/∂embeddings.
  @_specialize(exported:true,where T == Float)
  public mutating func backward(_ outputGradient: Tensor<T>) -> Tensor<T> {
    guard let saved else { preconditionFailure("backward needs a training forward pass first") }
    let (rows, features) = (self.rows, self.features)
    let gradient = parameters.withUnsafeBufferPointer { parameters in
      gradients.withUnsafeMutableBufferPointer { gradients in
        guard let affine = parameters.baseAddress, let affineGradients = gradients.baseAddress
        else { preconditionFailure("a neck has at least one feature") }
        return BatchNormalization.backward(
          outputGradient.values, saved: saved, rows: rows, features: features, affine: affine,
          affineGradients: affineGradients)
      }
    }
    for feature in features..<(2 * features) { gradients[feature] = 0 }
    return Tensor(rows: rows, columns: features, values: gradient)
  }

  /// Clears the gradients.
  public mutating func zeroGradients() {
    for index in gradients.indices { gradients[index] = 0 }
  }

  /// The neck at inference as a per-feature affine map x ↦ x · scale + shift.
  public var inferenceAffine: (scale: [T], shift: [T]) {
    var scale = [T](repeating: 0, count: features)
    var shift = [T](repeating: 0, count: features)
    for feature in 0..<features {
      let inverse =
        1 / (running[features + feature] + BatchNormalization<T>.epsilon).squareRoot()
      scale[feature] = parameters[feature] * inverse
      shift[feature] = parameters[features + feature] - running[feature] * scale[feature]
    }
    return (scale, shift)
  }
}
