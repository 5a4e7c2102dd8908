import Embedding
import Testing
import VectorMath

/// Float training runs through vectorised C kernels (ReLU, BatchNorm, bias sums, Adam) while the
/// finite-difference checks run in Double through the plain generic loops; the two paths must
/// compute the same thing. Bound: |float − double| ≤ 1e-4 · max(1, |double|).
@Suite struct FloatPathTests {
  static func expectClose(_ float: [Float], _ double: [Double], _ what: String) {
    #expect(float.count == double.count)
    var worst = 0.0
    for (single, reference) in zip(float, double) {
      worst = max(worst, abs(Double(single) - reference) / max(1, abs(reference)))
    }
    #expect(worst <= 1e-4, "\(what): worst relative difference \(worst)")
  }

  @Test(
    "training's parameter-only backward pass adds exactly the gradients of the full one",
    arguments: [true, false])
  func parameterOnlyBackward(batchNorm: Bool) {
    let architecture = Architecture(
      inputDimension: 13, hiddenSizes: [37], outputDimension: 11, batchNorm: batchNorm,
      normalizeOutput: false)
    var random = SeededRandom(seed: 4)
    let input = Tensor(
      rows: 10, columns: 13, values: (0..<130).map { _ in Float(random.normal()) })
    let outputGradient = Tensor(
      rows: 10, columns: 11, values: (0..<110).map { _ in Float(random.normal()) })
    var full = Network<Float>(architecture: architecture, seed: 3)
    var partial = full
    _ = full.forward(input, training: true)
    _ = full.backward(outputGradient)
    _ = partial.forward(input, training: true)
    partial.accumulateParameterGradients(outputGradient)
    #expect(partial.gradients == full.gradients)
    #expect(partial.gradients.contains { $0 != 0 })
    #expect(partial.state == full.state)
  }

  @Test(
    "forward, backward and Adam agree between Float and Double",
    arguments: [(true, false), (true, true), (false, false)])
  func floatMatchesDouble(batchNorm: Bool, normalizeOutput: Bool) {
    // Widths that are not multiples of 8 exercise the kernels' tails.
    let architecture = Architecture(
      inputDimension: 13, hiddenSizes: [37, 19], outputDimension: 11, batchNorm: batchNorm,
      normalizeOutput: normalizeOutput)
    let rows = 10
    var random = SeededRandom(seed: 9)
    let input = (0..<(rows * 13)).map { _ in random.normal() * 2 }
    let outputGradient = (0..<(rows * 11)).map { _ in random.normal() }
    var double = Network<Double>(architecture: architecture, seed: 5)
    double.standardizeInputs(from: Tensor(rows: rows, columns: 13, values: input))
    var float = Network<Float>(
      architecture: architecture, parameters: double.parameters.map { Float($0) },
      state: double.state.map { Float($0) })
    for step in 0..<3 {
      double.zeroGradients()
      float.zeroGradients()
      let doubleOutput = double.forward(
        Tensor(rows: rows, columns: 13, values: input), training: true)
      let floatOutput = float.forward(
        Tensor(rows: rows, columns: 13, values: input.map { Float($0) }), training: true)
      Self.expectClose(floatOutput.values, doubleOutput.values, "output, step \(step)")
      let doubleInput = double.backward(
        Tensor(rows: rows, columns: 11, values: outputGradient))
      let floatInput = float.backward(
        Tensor(rows: rows, columns: 11, values: outputGradient.map { Float($0) }))
      Self.expectClose(floatInput.values, doubleInput.values, "input gradient, step \(step)")
      Self.expectClose(float.gradients, double.gradients, "parameter gradients, step \(step)")
      Self.expectClose(float.state, double.state, "running statistics, step \(step)")
      // Move both to the same new point (a plain gradient step taken in Double): Adam's first
      // steps are ±lr wherever a gradient is ~0 (the bias before a BatchNorm), whose sign float
      // rounding decides, so Adam is compared on its own below.
      for index in double.parameters.indices {
        double.parameters[index] -= 0.05 * double.gradients[index]
      }
      float.parameters = double.parameters.map { Float($0) }
      float.state = double.state.map { Float($0) }
    }
    // Inference (running statistics) too.
    let doubleEval = double.forward(Tensor(rows: rows, columns: 13, values: input), training: false)
    let floatEval = float.forward(
      Tensor(rows: rows, columns: 13, values: input.map { Float($0) }), training: false)
    Self.expectClose(floatEval.values, doubleEval.values, "inference output")
  }

  @Test("Adam's vectorised Float update equals the Double update, tails included")
  func adamMatches() {
    var random = SeededRandom(seed: 12)
    let count = 8 * 5 + 3
    var doubleParameters = (0..<count).map { _ in random.normal() }
    var floatParameters = doubleParameters.map { Float($0) }
    var doubleOptimizer = Adam<Double>(count: count, weightDecay: 1e-3)
    var floatOptimizer = Adam<Float>(count: count, weightDecay: 1e-3)
    for step in 0..<20 {
      // Gradients well away from 0, where Adam is well conditioned.
      let gradients = (0..<count).map { _ in
        let value = random.normal()
        return value + (value < 0 ? -0.5 : 0.5)
      }
      doubleOptimizer.update(&doubleParameters, gradients: gradients, learningRate: 1e-2)
      floatOptimizer.update(
        &floatParameters, gradients: gradients.map { Float($0) }, learningRate: 1e-2)
      Self.expectClose(floatParameters, doubleParameters, "parameters after step \(step)")
    }
    // The first step moves every parameter by lr against its gradient's sign (m̂/√v̂ = ±1).
    var first = [Float](repeating: 1, count: count)
    var fresh = Adam<Float>(count: count, weightDecay: 0)
    fresh.update(&first, gradients: (0..<count).map { $0 % 2 == 0 ? 3 : -2 }, learningRate: 0.1)
    for (index, value) in first.enumerated() {
      #expect(abs(value - (index % 2 == 0 ? 0.9 : 1.1)) < 1e-6, "parameter \(index): \(value)")
    }
  }

  @Test(
    "metric losses agree between Float and Double (pairwise distances, mining, gradients)",
    arguments: [EmbeddingDistance.euclidean, .squaredEuclidean, .cosine])
  func lossesMatch(distance: EmbeddingDistance) {
    var random = SeededRandom(seed: 21)
    // 12 rows of width 19 (not a multiple of 8), 4 identities × 3.
    let values = (0..<(12 * 19)).map { _ in random.normal() }
    let labels = (0..<12).map { $0 / 3 }
    for kind in [LossKind.batchHard, .batchAll, .semiHard, .contrastive] {
      let configuration = LossConfiguration(
        kind: kind, margin: kind == .batchHard ? .soft : .hinge(0.3), distance: distance)
      let double = MetricLoss.compute(
        configuration, embeddings: Tensor(rows: 12, columns: 19, values: values), labels: labels)
      let float = MetricLoss.compute(
        configuration, embeddings: Tensor(rows: 12, columns: 19, values: values.map { Float($0) }),
        labels: labels)
      Self.expectClose([float.value], [double.value], "\(kind) loss")
      Self.expectClose(float.gradient.values, double.gradient.values, "\(kind) gradient")
    }
  }
}
