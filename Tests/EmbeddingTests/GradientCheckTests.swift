import Embedding
import Foundation
import Testing
import VectorMath

/// Every layer and loss against central finite differences, in double precision.
///
/// Relative error bound: |numeric − analytic| ≤ 1e-6 · max(1, |numeric|, |analytic|), with a
/// step of 1e-6. Inputs are random, so kinks (ReLU at 0, hinge at 0, a change of the mined
/// triplet) are almost never within a step of the point checked; the seeds below are fixed.
@Suite struct GradientCheckTests {
  static let step = 1e-6
  static let tolerance = 1e-6

  static func random(_ count: Int, seed: UInt64, scale: Double = 1) -> [Double] {
    var random = SeededRandom(seed: seed)
    return (0..<count).map { _ in random.normal() * scale }
  }

  static func expectClose(_ numeric: Double, _ analytic: Double, _ what: String) {
    let error = abs(numeric - analytic) / max(1, abs(numeric), abs(analytic))
    #expect(error <= tolerance, "\(what): numeric \(numeric) vs analytic \(analytic)")
  }

  static let architectures: [Architecture] = [
    Architecture(
      inputDimension: 5, hiddenSizes: [], outputDimension: 4, batchNorm: false,
      normalizeOutput: false),
    Architecture(
      inputDimension: 5, hiddenSizes: [7], outputDimension: 4, batchNorm: false,
      normalizeOutput: false),
    Architecture(
      inputDimension: 5, hiddenSizes: [7, 6], outputDimension: 4, batchNorm: true,
      normalizeOutput: false),
    Architecture(
      inputDimension: 5, hiddenSizes: [7], outputDimension: 4, batchNorm: true,
      normalizeOutput: true),
  ]

  @Test("network layers: parameter and input gradients", arguments: architectures)
  func network(architecture: Architecture) {
    var network = Network<Double>(architecture: architecture, seed: 3)
    let rows = 6
    let input = Tensor<Double>(
      rows: rows, columns: 5, values: Self.random(rows * 5, seed: 4, scale: 2))
    // Non-trivial standardisation and BatchNorm scale/shift, so their gradients are exercised too.
    network.standardizeInputs(
      from: Tensor(rows: rows, columns: 5, values: Self.random(rows * 5, seed: 5)))
    for index in network.parameters.indices {
      network.parameters[index] += Self.random(1, seed: UInt64(100 + index), scale: 0.1)[0]
    }
    // Loss = Σ r ⊙ output, so ∂loss/∂output = r.
    let weights = Self.random(rows * architecture.outputDimension, seed: 6)
    func loss(_ network: inout Network<Double>, _ input: Tensor<Double>) -> Double {
      zip(network.forward(input, training: true).values, weights).map(*).reduce(0, +)
    }
    network.zeroGradients()
    _ = network.forward(input, training: true)
    let inputGradient = network.backward(
      Tensor(rows: rows, columns: architecture.outputDimension, values: weights))
    for index in network.parameters.indices {
      var plus = network
      var minus = network
      plus.parameters[index] += Self.step
      minus.parameters[index] -= Self.step
      let numeric = (loss(&plus, input) - loss(&minus, input)) / (2 * Self.step)
      Self.expectClose(numeric, network.gradients[index], "parameter \(index)")
    }
    for index in input.values.indices {
      var plusInput = input
      var minusInput = input
      plusInput.values[index] += Self.step
      minusInput.values[index] -= Self.step
      var copy = network
      let numeric = (loss(&copy, plusInput) - loss(&copy, minusInput)) / (2 * Self.step)
      Self.expectClose(numeric, inputGradient.values[index], "input \(index)")
    }
  }

  static let lossCases: [(LossKind, Margin, EmbeddingDistance)] = [
    (.batchHard, .soft, .euclidean), (.batchHard, .hinge(0.3), .squaredEuclidean),
    (.batchHard, .hinge(0.2), .cosine),
    (.batchAll, .soft, .euclidean), (.batchAll, .hinge(1.0), .squaredEuclidean),
    (.batchAll, .hinge(0.3), .cosine),
    (.semiHard, .hinge(0.5), .euclidean), (.semiHard, .hinge(0.2), .squaredEuclidean),
    (.semiHard, .soft, .cosine),
    (.triplet, .hinge(0.5), .euclidean), (.triplet, .soft, .squaredEuclidean),
    (.contrastive, .hinge(2.0), .euclidean), (.contrastive, .hinge(1.0), .cosine),
    (.multipleNegatives, .soft, .cosine), (.ladder, .hinge(0.4), .euclidean),
    (.ladder, .soft, .squaredEuclidean),
  ]

  @Test("metric losses: embedding gradients", arguments: lossCases)
  func metricLoss(kind: LossKind, margin: Margin, distance: EmbeddingDistance) {
    let rows = 12
    let columns = 5
    let embeddings = Tensor<Double>(
      rows: rows, columns: columns, values: Self.random(rows * columns, seed: 11))
    let labels = (0..<rows).map { $0 / 4 }
    let groups: [Int]? = kind == .ladder ? (0..<rows).map { $0 < 8 ? 0 : 1 } : nil
    let configuration = LossConfiguration(kind: kind, margin: margin, distance: distance)
    let analytic = MetricLoss.compute(
      configuration, embeddings: embeddings, labels: labels, groups: groups)
    #expect(analytic.value > 0)
    for index in embeddings.values.indices {
      var plus = embeddings
      var minus = embeddings
      plus.values[index] += Self.step
      minus.values[index] -= Self.step
      let numeric =
        (MetricLoss.compute(configuration, embeddings: plus, labels: labels, groups: groups).value
          - MetricLoss.compute(configuration, embeddings: minus, labels: labels, groups: groups)
          .value) / (2 * Self.step)
      Self.expectClose(
        numeric, analytic.gradient.values[index], "\(kind.rawValue) embedding \(index)")
    }
  }

  @Test(
    "softmax head: embedding and head gradients, plain, label-smoothed and weighted",
    arguments: [(0.0, 1.0), (0.1, 1.0), (0.2, 0.3)])
  func softmaxHead(smoothing: Double, weight: Double) {
    let rows = 8
    let embeddings = Tensor<Double>(rows: rows, columns: 4, values: Self.random(rows * 4, seed: 21))
    let labels = (0..<rows).map { $0 % 3 }
    var head = SoftmaxHead<Double>(inputs: 4, classes: 3, seed: 22)
    for index in head.parameters.indices {
      head.parameters[index] += Self.random(1, seed: UInt64(300 + index), scale: 0.3)[0]
    }
    head.zeroGradients()
    let analytic = head.loss(
      embeddings: embeddings, labels: labels, smoothing: smoothing, weight: weight)
    for index in embeddings.values.indices {
      var plus = embeddings
      var minus = embeddings
      plus.values[index] += Self.step
      minus.values[index] -= Self.step
      var copy = head
      let numeric =
        (copy.loss(embeddings: plus, labels: labels, smoothing: smoothing, weight: weight).value
          - copy.loss(embeddings: minus, labels: labels, smoothing: smoothing, weight: weight).value)
        / (2 * Self.step)
      Self.expectClose(numeric, analytic.gradient.values[index], "embedding \(index)")
    }
    for index in head.parameters.indices {
      var plus = head
      var minus = head
      plus.parameters[index] += Self.step
      minus.parameters[index] -= Self.step
      let numeric =
        (plus.loss(embeddings: embeddings, labels: labels, smoothing: smoothing, weight: weight)
          .value
          - minus.loss(embeddings: embeddings, labels: labels, smoothing: smoothing, weight: weight)
          .value) / (2 * Self.step)
      Self.expectClose(numeric, head.gradients[index], "head parameter \(index)")
    }
  }

  @Test("label smoothing is cross-entropy against the smoothed target, by hand")
  func smoothedValue() {
    // One row, two classes, a zero head: p = (½, ½); target (1 − ε + ε/2, ε/2); loss = log 2.
    var head = SoftmaxHead<Double>(inputs: 1, classes: 2, seed: 1)
    for index in head.parameters.indices { head.parameters[index] = 0 }
    let one = Tensor<Double>(rows: 1, columns: 1, values: [1])
    let value = head.loss(embeddings: one, labels: [0], smoothing: 0.2, weight: 0.5).value
    Self.expectClose(value, 0.5 * Foundation.log(2.0), "weighted smoothed loss")
    // A head that puts logits (2, 0): p₀ = e²/(e²+1); loss = −(0.9 log p₀ + 0.1 log p₁).
    head.parameters[0] = 2
    let p0 = Foundation.exp(2.0) / (Foundation.exp(2.0) + 1)
    let expected = -(0.9 * Foundation.log(p0) + 0.1 * Foundation.log(1 - p0))
    Self.expectClose(
      head.loss(embeddings: one, labels: [0], smoothing: 0.2).value, expected, "smoothed loss")
  }

  @Test(
    "the Float head (C kernel, eight-lane exponentials) agrees with the Double head, all classes or sampled",
    arguments: [0.0, 0.1], [false, true])
  func floatHeadMatchesDouble(smoothing: Double, sampled: Bool) {
    let rows = 16
    let classes = 37  // not a multiple of eight: the tail lanes are exercised
    let values = Self.random(rows * 6, seed: 41, scale: 3)
    let labels = (0..<rows).map { ($0 * 7) % classes }
    var double = SoftmaxHead<Double>(inputs: 6, classes: classes, seed: 42)
    var float = SoftmaxHead<Float>(inputs: 6, classes: classes, seed: 42)
    for index in double.parameters.indices {
      double.parameters[index] = Double(Float(double.parameters[index]))
      float.parameters[index] = Float(double.parameters[index])
    }
    let candidates =
      sampled
      ? SoftmaxCandidates(
        batchClasses: Set(labels), sampledClasses: [2, 6, 36], sampledLogitOffset: 1.3) : nil
    let exact = double.loss(
      embeddings: Tensor(rows: rows, columns: 6, values: values), labels: labels,
      smoothing: smoothing, weight: 0.5, candidates: candidates)
    let fast = float.loss(
      embeddings: Tensor(rows: rows, columns: 6, values: values.map { Float($0) }), labels: labels,
      smoothing: Float(smoothing), weight: 0.5, candidates: candidates)
    #expect(abs(Double(fast.value) - exact.value) <= 1e-5 * max(1, abs(exact.value)))
    #expect(fast.activeFraction == exact.activeFraction)
    for (index, value) in exact.gradient.values.enumerated() {
      #expect(abs(Double(fast.gradient.values[index]) - value) <= 1e-5, "embedding \(index)")
    }
    for (index, value) in double.gradients.enumerated() {
      #expect(abs(Double(float.gradients[index]) - value) <= 1e-5, "head parameter \(index)")
    }
  }

  /// Candidates over 7 classes: the batch carries 1, 3 and 5; 0 and 6 were drawn.
  static let candidates = SoftmaxCandidates(
    batchClasses: [1, 3, 5], sampledClasses: [0, 6], sampledLogitOffset: 0.7)

  @Test(
    "sampled softmax head: gradients on the scored classes, none elsewhere, and the value by hand",
    arguments: [0.0, 0.1])
  func sampledSoftmaxHead(smoothing: Double) {
    let rows = 6
    let embeddings = Tensor<Double>(rows: rows, columns: 4, values: Self.random(rows * 4, seed: 51))
    let labels = (0..<rows).map { [1, 3, 5][$0 % 3] }
    var head = SoftmaxHead<Double>(inputs: 4, classes: 7, seed: 52)
    for index in head.parameters.indices {
      head.parameters[index] += Self.random(1, seed: UInt64(500 + index), scale: 0.3)[0]
    }
    head.zeroGradients()
    let candidates = Self.candidates
    let analytic = head.loss(
      embeddings: embeddings, labels: labels, smoothing: smoothing, weight: 0.4,
      candidates: candidates)
    // By hand: cross-entropy over the five scored classes, drawn ones' logits raised by 0.7.
    var expected = 0.0
    for row in 0..<rows {
      let logits = candidates.classes.enumerated().map { position, column in
        (0..<4).map { embeddings[row, $0] * head.parameters[column * 4 + $0] }.reduce(0, +)
          + head.parameters[28 + column] + (candidates.isSampled[position] ? 0.7 : 0)
      }
      let logSum = Foundation.log(logits.map { Foundation.exp($0) }.reduce(0, +))
      for (position, column) in candidates.classes.enumerated() {
        let target = (column == labels[row] ? 1 - smoothing : 0) + smoothing / 5
        expected -= target * (logits[position] - logSum)
      }
    }
    Self.expectClose(analytic.value, 0.4 * expected / Double(rows), "sampled loss value")
    func value(_ head: SoftmaxHead<Double>, _ embeddings: Tensor<Double>) -> Double {
      var copy = head
      return copy.loss(
        embeddings: embeddings, labels: labels, smoothing: smoothing, weight: 0.4,
        candidates: candidates
      ).value
    }
    for index in embeddings.values.indices {
      var plus = embeddings
      var minus = embeddings
      plus.values[index] += Self.step
      minus.values[index] -= Self.step
      let numeric = (value(head, plus) - value(head, minus)) / (2 * Self.step)
      Self.expectClose(numeric, analytic.gradient.values[index], "embedding \(index)")
    }
    let unscored = Set([2, 4])
    for index in head.parameters.indices {
      let column = index < 28 ? index / 4 : index - 28
      if unscored.contains(column) {
        #expect(head.gradients[index] == 0, "class \(column) was not scored")
        continue
      }
      var plus = head
      var minus = head
      plus.parameters[index] += Self.step
      minus.parameters[index] -= Self.step
      let numeric = (value(plus, embeddings) - value(minus, embeddings)) / (2 * Self.step)
      Self.expectClose(numeric, head.gradients[index], "head parameter \(index)")
    }
  }

  @Test("BNNeck: embedding and scale gradients through the neck and the head; the shift stays 0")
  func batchNormNeck() {
    let rows = 8
    let embeddings = Tensor<Double>(
      rows: rows, columns: 4, values: Self.random(rows * 4, seed: 61, scale: 2))
    let labels = (0..<rows).map { $0 % 3 }
    var head = SoftmaxHead<Double>(inputs: 4, classes: 3, seed: 62)
    var neck = BatchNormNeck<Double>(features: 4)
    for feature in 0..<4 { neck.parameters[feature] = 0.5 + 0.3 * Double(feature) }
    func loss(_ neck: inout BatchNormNeck<Double>, _ input: Tensor<Double>) -> Double {
      var copy = head
      return copy.loss(
        embeddings: neck.forward(input, training: true), labels: labels, smoothing: 0.1
      ).value
    }
    let normalized = neck.forward(embeddings, training: true)
    let headResult = head.loss(embeddings: normalized, labels: labels, smoothing: 0.1)
    let gradient = neck.backward(headResult.gradient)
    for index in embeddings.values.indices {
      var plus = embeddings
      var minus = embeddings
      plus.values[index] += Self.step
      minus.values[index] -= Self.step
      var copy = neck
      let numeric = (loss(&copy, plus) - loss(&copy, minus)) / (2 * Self.step)
      Self.expectClose(numeric, gradient.values[index], "embedding \(index)")
    }
    for feature in 0..<4 {
      var plus = neck
      var minus = neck
      plus.parameters[feature] += Self.step
      minus.parameters[feature] -= Self.step
      let numeric = (loss(&plus, embeddings) - loss(&minus, embeddings)) / (2 * Self.step)
      Self.expectClose(numeric, neck.gradients[feature], "scale \(feature)")
      #expect(neck.gradients[4 + feature] == 0, "the shift is frozen")
    }
  }
}
