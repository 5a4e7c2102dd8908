import RealModule
import VectorMath

/// An embedding network with its parameters, gradients and saved state, computing batched forward
/// and backward passes on row-major tensors (matrix products through BLAS).
///
/// Inputs are first standardised with the saved per-feature mean and scale. All parameters live in
/// one flat array (and their gradients in another of the same layout) so that the optimiser and the
/// model file treat them as one vector.
public struct Network<Scalar: TrainingScalar>: Sendable {
  /// The shape.
  public let architecture: Architecture
  /// Trainable values, layer after layer (Linear: weights `inputs × outputs` row-major, then biases;
  /// BatchNorm: scale, then shift).
  public var parameters: [Scalar]
  /// Gradients of the last backward pass, same layout as ``parameters``.
  public var gradients: [Scalar]
  /// Saved state: input mean, input scale, then per BatchNorm the running mean and variance.
  public var state: [Scalar]
  /// The momentum of BatchNorm's running statistics.
  public var batchNormMomentum: Scalar = 0.1

  let layers: [LayerKind]
  private let parameterOffsets: [Int]
  private let stateOffsets: [Int]
  /// The input of every layer in the last forward pass, then the output.
  private var activations: [[Scalar]] = []
  /// Per BatchNorm layer index: normalised values and inverse standard deviations.
  private var normalized: [Int: BatchNormalization<Scalar>.Saved] = [:]
  private var batchSize = 0

  /// Creates a network with He-initialised weights (every draw from the seeded generator), zero
  /// biases, identity BatchNorm and identity input standardisation.
  ///
  /// - Parameters:
  ///   - architecture: the shape.
  ///   - seed: the initialisation seed.
  public init(architecture: Architecture, seed: UInt64) {
    self.architecture = architecture
    layers = architecture.layers
    var parameterOffsets: [Int] = []
    var stateOffsets: [Int] = []
    var parameterCursor = 0
    var stateCursor = 2 * architecture.inputDimension
    for layer in layers {
      parameterOffsets.append(parameterCursor)
      stateOffsets.append(stateCursor)
      parameterCursor += layer.parameterCount
      stateCursor += layer.stateCount
    }
    self.parameterOffsets = parameterOffsets
    self.stateOffsets = stateOffsets
    parameters = Array(repeating: 0, count: parameterCursor)
    gradients = Array(repeating: 0, count: parameterCursor)
    state = Array(repeating: 0, count: stateCursor)
    var random = SeededRandom(seed: seed)
    for (index, layer) in layers.enumerated() {
      let offset = parameterOffsets[index]
      switch layer {
      case .linear(let inputs, let outputs):
        let deviation = (2 / Double(inputs)).squareRoot()
        for weight in 0..<(inputs * outputs) {
          parameters[offset + weight] = Scalar(random.normal() * deviation)
        }
      case .batchNorm(let features):
        for feature in 0..<features { parameters[offset + feature] = 1 }
        for feature in 0..<features { state[stateOffsets[index] + features + feature] = 1 }
      case .relu, .l2Normalize:
        break
      }
    }
    for feature in 0..<architecture.inputDimension {
      state[architecture.inputDimension + feature] = 1
    }
  }

  /// Creates a network from saved values.
  ///
  /// - Parameters:
  ///   - architecture: the shape.
  ///   - parameters: ``Architecture/parameterCount`` values.
  ///   - state: ``Architecture/stateCount`` values.
  public init(architecture: Architecture, parameters: [Scalar], state: [Scalar]) {
    self.init(architecture: architecture, seed: 0)
    precondition(
      parameters.count == self.parameters.count && state.count == self.state.count,
      "saved sizes differ")
    self.parameters = parameters
    self.state = state
  }

  /// Sets the input standardisation from training data: per feature, subtract the mean and divide
  /// by the standard deviation (features with no spread are only centred).
  ///
  /// - Parameter data: training inputs, one per row.
  public mutating func standardizeInputs(from data: Tensor<Scalar>) {
    let columns = architecture.inputDimension
    precondition(data.columns == columns, "input dimension differs")
    guard data.rows > 0 else { return }
    for column in 0..<columns {
      var mean: Double = 0
      for row in 0..<data.rows { mean += Double(data[row, column]) }
      mean /= Double(data.rows)
      var variance: Double = 0
      for row in 0..<data.rows {
        let difference = Double(data[row, column]) - mean
        variance += difference * difference
      }
      let deviation = (variance / Double(data.rows)).squareRoot()
      state[column] = Scalar(mean)
      state[columns + column] = deviation > 1e-12 ? Scalar(1 / deviation) : 1
    }
  }

  /// Folds a per-feature affine map y ↦ y · scale + shift into the output layer (the last
  /// Linear), so the network computes it without a layer of its own (a BNNeck used for retrieval).
  ///
  /// - Parameters:
  ///   - scale: one factor per output feature.
  ///   - shift: one offset per output feature.
  public mutating func foldIntoOutput(scale: [Scalar], shift: [Scalar]) {
    guard let last = layers.indices.last, case .linear(let inputs, let outputs) = layers[last]
    else { preconditionFailure("the output layer is not Linear (an L2-normalised output?)") }
    precondition(scale.count == outputs && shift.count == outputs, "one value per output feature")
    let offset = parameterOffsets[last]
    for input in 0..<inputs {
      for output in 0..<outputs { parameters[offset + input * outputs + output] *= scale[output] }
    }
    let biases = offset + inputs * outputs
    for output in 0..<outputs {
      parameters[biases + output] = parameters[biases + output] * scale[output] + shift[output]
    }
  }

  /// Clears the gradients.
  @_specialize(exported:true,where Scalar == Float)
  public mutating func zeroGradients() {
    gradients.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
  }

  /// Runs the network on a batch.
  ///
  /// - Parameters:
  ///   - input: one input per row.
  ///   - training: use batch statistics in BatchNorm (and update its running statistics) and keep
  ///     what ``backward(_:)`` needs; otherwise use the running statistics.
  /// - Returns: one embedding per row.
  /// - Complexity: O(batch · Σ inputs · outputs).
  @_specialize(exported:true,where Scalar == Float)
  public mutating func forward(_ input: Tensor<Scalar>, training: Bool) -> Tensor<Scalar> {
    precondition(input.columns == architecture.inputDimension, "input has \(input.columns) columns")
    let rows = input.rows
    batchSize = rows
    let inputColumns = input.columns
    var current = input.values
    state.withUnsafeBufferPointer { state in
      current.withUnsafeMutableBufferPointer { current in
        for row in 0..<rows {
          let base = row * inputColumns
          for column in 0..<inputColumns {
            current[base + column] =
              (current[base + column] - state[column]) * state[inputColumns + column]
          }
        }
      }
    }
    if training { activations.removeAll(keepingCapacity: true) }
    var width = inputColumns
    for (index, layer) in layers.enumerated() {
      if training { activations.append(current) }
      switch layer {
      case .linear(let inputs, let outputs):
        current = linearForward(
          current, rows: rows, inputs: inputs, outputs: outputs, offset: parameterOffsets[index])
        width = outputs
      case .batchNorm(let features):
        current = batchNormForward(
          current, rows: rows, features: features, layer: index, training: training)
      case .relu:
        current.withUnsafeMutableBufferPointer { values in
          if let base = values.baseAddress { LaneKernels.rectify(base, count: values.count) }
        }
      case .l2Normalize:
        for row in 0..<rows {
          var sum: Scalar = 0
          for column in 0..<width {
            sum += current[row * width + column] * current[row * width + column]
          }
          let norm = Swift.max(sum.squareRoot(), Scalar.leastNormalMagnitude)
          for column in 0..<width { current[row * width + column] /= norm }
        }
      }
    }
    if training { activations.append(current) }
    return Tensor(rows: rows, columns: width, values: current)
  }

  /// Back-propagates the gradient of a loss with respect to the last training forward pass's
  /// output, adding parameter gradients to ``gradients``.
  ///
  /// - Parameter outputGradient: ∂loss/∂output, one row per input.
  /// - Returns: ∂loss/∂input (the raw, unstandardised input).
  @_specialize(exported:true,where Scalar == Float)
  public mutating func backward(_ outputGradient: Tensor<Scalar>) -> Tensor<Scalar> {
    let gradient = backpropagate(outputGradient, inputGradient: true)
    return Tensor(rows: batchSize, columns: architecture.inputDimension, values: gradient)
  }

  /// Back-propagates like ``backward(_:)`` but only adds the parameter gradients (what training
  /// needs), skipping the product that would give ∂loss/∂input — a sixth of a step's work.
  ///
  /// - Parameter outputGradient: ∂loss/∂output, one row per input.
  @_specialize(exported:true,where Scalar == Float)
  public mutating func accumulateParameterGradients(_ outputGradient: Tensor<Scalar>) {
    _ = backpropagate(outputGradient, inputGradient: false)
  }

  /// The backward pass; returns ∂loss/∂input when asked, else an empty array.
  private mutating func backpropagate(_ outputGradient: Tensor<Scalar>, inputGradient: Bool)
    -> [Scalar]
  {
    precondition(
      activations.count == layers.count + 1, "backward needs a training forward pass first")
    let rows = batchSize
    var gradient = outputGradient.values
    var width = outputGradient.columns
    for index in stride(from: layers.count - 1, through: 0, by: -1) {
      let input = activations[index]
      switch layers[index] {
      case .linear(let inputs, let outputs):
        gradient = linearBackward(
          gradient, input: input, rows: rows, inputs: inputs, outputs: outputs,
          offset: parameterOffsets[index], inputGradient: inputGradient || index > 0)
        width = inputs
      case .batchNorm(let features):
        gradient = batchNormBackward(gradient, rows: rows, features: features, layer: index)
      case .relu:
        gradient.withUnsafeMutableBufferPointer { gradient in
          input.withUnsafeBufferPointer { input in
            if let gradientBase = gradient.baseAddress, let inputBase = input.baseAddress {
              LaneKernels.rectifyGradient(gradientBase, input: inputBase, count: gradient.count)
            }
          }
        }
      case .l2Normalize:
        let output = activations[index + 1]
        for row in 0..<rows {
          var norm: Scalar = 0
          var projection: Scalar = 0
          for column in 0..<width {
            norm += input[row * width + column] * input[row * width + column]
            projection += output[row * width + column] * gradient[row * width + column]
          }
          norm = Swift.max(norm.squareRoot(), Scalar.leastNormalMagnitude)
          for column in 0..<width {
            let position = row * width + column
            gradient[position] = (gradient[position] - output[position] * projection) / norm
          }
        }
      }
    }
    guard inputGradient else { return [] }
    let inputColumns = architecture.inputDimension
    state.withUnsafeBufferPointer { state in
      gradient.withUnsafeMutableBufferPointer { gradient in
        for row in 0..<rows {
          for column in 0..<inputColumns {
            gradient[row * inputColumns + column] *= state[inputColumns + column]
          }
        }
      }
    }
    return gradient
  }

  private func linearForward(_ input: [Scalar], rows: Int, inputs: Int, outputs: Int, offset: Int)
    -> [Scalar]
  {
    var output = [Scalar](repeating: 0, count: rows * outputs)
    parameters.withUnsafeBufferPointer { parameters in
      input.withUnsafeBufferPointer { input in
        output.withUnsafeMutableBufferPointer { output in
          guard let weights = parameters.baseAddress.map({ $0 + offset }),
            let inputBase = input.baseAddress,
            let outputBase = output.baseAddress
          else { return }
          let biases = weights + inputs * outputs
          for row in 0..<rows {
            (outputBase + row * outputs).update(from: biases, count: outputs)
          }
          Scalar.gemm(
            transposeA: false, transposeB: false, m: rows, n: outputs, k: inputs, alpha: 1,
            a: inputBase,
            lda: inputs, b: weights, ldb: outputs, beta: 1, c: outputBase, ldc: outputs)
        }
      }
    }
    return output
  }

  private mutating func linearBackward(
    _ outputGradient: [Scalar], input: [Scalar], rows: Int, inputs: Int, outputs: Int, offset: Int,
    inputGradient wanted: Bool
  ) -> [Scalar] {
    var inputGradient = [Scalar](repeating: 0, count: wanted ? rows * inputs : 0)
    parameters.withUnsafeBufferPointer { parameters in
      gradients.withUnsafeMutableBufferPointer { gradients in
        outputGradient.withUnsafeBufferPointer { outputGradient in
          input.withUnsafeBufferPointer { input in
            inputGradient.withUnsafeMutableBufferPointer { inputGradient in
              guard let weights = parameters.baseAddress.map({ $0 + offset }),
                let weightGradients = gradients.baseAddress.map({ $0 + offset }),
                let dY = outputGradient.baseAddress, let x = input.baseAddress
              else { return }
              // ∂W += Xᵀ ∂Y, ∂b += Σ rows of ∂Y, ∂X = ∂Y Wᵀ.
              Scalar.gemm(
                transposeA: true, transposeB: false, m: inputs, n: outputs, k: rows, alpha: 1, a: x,
                lda: inputs,
                b: dY, ldb: outputs, beta: 1, c: weightGradients, ldc: outputs)
              let biasGradients = weightGradients + inputs * outputs
              for row in 0..<rows {
                LaneKernels.accumulate(dY + row * outputs, into: biasGradients, count: outputs)
              }
              // (An empty array may still have a base address: test `wanted` itself.)
              guard wanted, let dX = inputGradient.baseAddress else { return }
              Scalar.gemm(
                transposeA: false, transposeB: true, m: rows, n: inputs, k: outputs, alpha: 1,
                a: dY,
                lda: outputs, b: weights, ldb: outputs, beta: 0, c: dX, ldc: inputs)
            }
          }
        }
      }
    }
    return inputGradient
  }

  /// BatchNorm forward for layer `layer` (see ``BatchNormalization``).
  private mutating func batchNormForward(
    _ input: [Scalar], rows: Int, features: Int, layer: Int, training: Bool
  ) -> [Scalar] {
    let offset = parameterOffsets[layer]
    let stateOffset = stateOffsets[layer]
    let momentum = batchNormMomentum
    let (output, saved) = parameters.withUnsafeBufferPointer { parameters in
      state.withUnsafeMutableBufferPointer { state in
        guard let affine = parameters.baseAddress, let running = state.baseAddress else {
          preconditionFailure("a BatchNorm layer has parameters and state")
        }
        return BatchNormalization.forward(
          input, rows: rows, features: features, affine: affine + offset,
          running: running + stateOffset, momentum: momentum, training: training)
      }
    }
    if let saved { normalized[layer] = saved }
    return output
  }

  /// BatchNorm backward for layer `layer`.
  private mutating func batchNormBackward(
    _ outputGradient: [Scalar], rows: Int, features: Int, layer: Int
  ) -> [Scalar] {
    guard let saved = normalized[layer] else {
      preconditionFailure("batch norm backward without a training forward pass")
    }
    let offset = parameterOffsets[layer]
    return parameters.withUnsafeBufferPointer { parameters in
      gradients.withUnsafeMutableBufferPointer { gradients in
        guard let affine = parameters.baseAddress, let affineGradients = gradients.baseAddress
        else { preconditionFailure("a BatchNorm layer has parameters") }
        return BatchNormalization.backward(
          outputGradient, saved: saved, rows: rows, features: features, affine: affine + offset,
          affineGradients: affineGradients + offset)
      }
    }
  }
}
