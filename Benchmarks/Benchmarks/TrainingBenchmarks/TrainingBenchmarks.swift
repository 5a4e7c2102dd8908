import Benchmark
import Embedding
import TripIndex
import VectorMath

/// One training step of the default recipe (96 → 256 BN ReLU → 64, 16×4 batch, batch-hard soft
/// margin, Adam), and the same with the softmax surrogate's head: the unit the numpy comparison
/// (scripts/compare_training_numpy.py) times 3,000 of.
let benchmarks: @Sendable () -> Void = {
  Benchmark.defaultConfiguration = .init(
    metrics: [.wallClock, .throughput, .peakMemoryResident], maxDuration: .seconds(3),
    maxIterations: 10_000)

  // As the trainer does: one BLAS thread (small products; bit-identical runs).
  BLAS.setThreadCount(1)
  let architecture = Architecture(
    inputDimension: 96, hiddenSizes: [256], outputDimension: 64, batchNorm: true,
    normalizeOutput: false)
  var random = SeededRandom(seed: 7)
  let batch = Tensor<Float>(
    rows: 64, columns: 96, values: (0..<(64 * 96)).map { _ in Float(random.normal()) })
  let labels = (0..<64).map { $0 / 4 }
  let loss = LossConfiguration(kind: .batchHard, margin: .soft, distance: .euclidean)

  // 1,000 steps per sample (times are per step): the steady state of a training run, not a cold
  // first step.
  Benchmark(
    "training step: 96-256-64 BN, 16x4 batch-hard soft margin, Adam",
    configuration: .init(scalingFactor: .kilo)
  ) { benchmark in
    var network = Network<Float>(architecture: architecture, seed: 1)
    var optimizer = Adam<Float>(count: network.parameters.count, weightDecay: 0)
    benchmark.startMeasurement()
    for _ in benchmark.scaledIterations {
      network.zeroGradients()
      let embeddings = network.forward(batch, training: true)
      let result = MetricLoss.compute(loss, embeddings: embeddings, labels: labels)
      _ = network.backward(result.gradient)
      optimizer.update(&network.parameters, gradients: network.gradients, learningRate: 1e-3)
    }
    benchmark.stopMeasurement()
    blackHole(network.parameters)
  }

  Benchmark(
    "training step: 96-256-64 BN, 16x4 softmax surrogate (16 classes), Adam",
    configuration: .init(scalingFactor: .kilo)
  ) { benchmark in
    var network = Network<Float>(architecture: architecture, seed: 1)
    var head = SoftmaxHead<Float>(inputs: 64, classes: 16, seed: 2)
    var optimizer = Adam<Float>(count: network.parameters.count, weightDecay: 1e-3)
    var headOptimizer = Adam<Float>(count: head.parameters.count, weightDecay: 1e-3)
    benchmark.startMeasurement()
    for _ in benchmark.scaledIterations {
      network.zeroGradients()
      head.zeroGradients()
      let embeddings = network.forward(batch, training: true)
      let result = head.loss(embeddings: embeddings, labels: labels)
      _ = network.backward(result.gradient)
      optimizer.update(&network.parameters, gradients: network.gradients, learningRate: 1e-3)
      headOptimizer.update(&head.parameters, gradients: head.gradients, learningRate: 1e-3)
    }
    benchmark.stopMeasurement()
    blackHole(network.parameters)
  }

  Benchmark("embed 10k x 96 with a trained-size model") { benchmark in
    let network = Network<Float>(architecture: architecture, seed: 1)
    let model = EmbeddingModel(
      network: network,
      training: TrainingRecord(
        loss: loss, identitiesPerBatch: 16, samplesPerIdentity: 4, iterations: 1,
        learningRate: 1e-3, weightDecay: 0, seed: 1, dataFingerprint: "", identities: 16,
        samples: 64, validationScore: nil, keptIteration: 1))
    let inputs = Matrix(
      rows: 10_000, columns: 96, values: (0..<(10_000 * 96)).map { Float($0 % 97) / 97 })
    benchmark.startMeasurement()
    blackHole(model.embed(inputs))
    benchmark.stopMeasurement()
  }
}
