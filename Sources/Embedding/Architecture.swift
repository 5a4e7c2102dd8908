/// The shape of an embedding network: inputs standardised, then hidden Linear → (BatchNorm) →
/// ReLU blocks, then a Linear output layer, optionally L2-normalised.
public struct Architecture: Sendable, Equatable {
  /// Values per input vector.
  public var inputDimension: Int
  /// Hidden layer widths, in order (may be empty: then the net is one linear map).
  public var hiddenSizes: [Int]
  /// The embedding's dimension.
  public var outputDimension: Int
  /// Batch normalisation after every hidden Linear layer.
  public var batchNorm: Bool
  /// Scale every embedding to unit length.
  public var normalizeOutput: Bool

  /// Creates an architecture.
  ///
  /// - Parameters:
  ///   - inputDimension: input values.
  ///   - hiddenSizes: hidden widths.
  ///   - outputDimension: the embedding's dimension.
  ///   - batchNorm: batch normalisation in hidden blocks.
  ///   - normalizeOutput: L2-normalise the output.
  public init(
    inputDimension: Int, hiddenSizes: [Int], outputDimension: Int, batchNorm: Bool,
    normalizeOutput: Bool
  ) {
    self.inputDimension = inputDimension
    self.hiddenSizes = hiddenSizes
    self.outputDimension = outputDimension
    self.batchNorm = batchNorm
    self.normalizeOutput = normalizeOutput
  }

  /// The layers, in order.
  var layers: [LayerKind] {
    var layers: [LayerKind] = []
    var width = inputDimension
    for hidden in hiddenSizes {
      layers.append(.linear(inputs: width, outputs: hidden))
      if batchNorm { layers.append(.batchNorm(features: hidden)) }
      layers.append(.relu)
      width = hidden
    }
    layers.append(.linear(inputs: width, outputs: outputDimension))
    if normalizeOutput { layers.append(.l2Normalize) }
    return layers
  }

  /// Trainable values: every Linear's weights and biases, every BatchNorm's scale and shift.
  public var parameterCount: Int {
    layers.reduce(0) { $0 + $1.parameterCount }
  }

  /// Non-trainable values saved with the model: input mean and scale, BatchNorm running statistics.
  public var stateCount: Int {
    2 * inputDimension + layers.reduce(0) { $0 + $1.stateCount }
  }

  /// A readable description, e.g. `96 → 256 (BN, ReLU) → 64`.
  public var summary: String {
    var parts = [String(inputDimension)]
    for hidden in hiddenSizes { parts.append("\(hidden) (\(batchNorm ? "BN, " : "")ReLU)") }
    parts.append(String(outputDimension) + (normalizeOutput ? " (L2-normalised)" : ""))
    return parts.joined(separator: " → ")
  }
}

/// One layer of a network.
enum LayerKind: Sendable, Equatable {
  case linear(inputs: Int, outputs: Int)
  case batchNorm(features: Int)
  case relu
  case l2Normalize

  var parameterCount: Int {
    switch self {
    case .linear(let inputs, let outputs): return inputs * outputs + outputs
    case .batchNorm(let features): return 2 * features
    case .relu, .l2Normalize: return 0
    }
  }

  var stateCount: Int {
    if case .batchNorm(let features) = self { return 2 * features }
    return 0
  }
}
