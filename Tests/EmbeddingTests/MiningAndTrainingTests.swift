import Embedding
import Foundation
import Plumbing
import TestSupport
import Testing
import VectorMath

@Suite struct MiningTests {
  /// One-dimensional embeddings, so every distance can be read off a number line.
  /// Identity A at 0 and 1; identity B at 1.5 and 4.
  static let points = Tensor<Double>(rows: 4, columns: 1, values: [0, 1, 1.5, 4])
  static let labels = [0, 0, 1, 1]

  private func loss(_ kind: LossKind, _ margin: Margin, _ distance: EmbeddingDistance = .euclidean)
    -> Double
  {
    MetricLoss.compute(
      LossConfiguration(kind: kind, margin: margin, distance: distance), embeddings: Self.points,
      labels: Self.labels
    ).value
  }

  @Test("batch-hard takes the farthest positive and the nearest negative per anchor")
  func batchHard() {
    // a=0: p=1 (d 1), nearest negative 1.5 (d 1.5) → max(0, 1 − 1.5 + 1) = 0.5
    // a=1: p=0 (d 1), nearest negative 1.5 (d 0.5) → 1 − 0.5 + 1 = 1.5
    // a=1.5: p=4 (d 2.5), nearest negative 1 (d 0.5) → 2.5 − 0.5 + 1 = 3
    // a=4: p=1.5 (d 2.5), nearest negative 1 (d 3) → 2.5 − 3 + 1 = 0.5
    // mean = (0.5 + 1.5 + 3 + 0.5) / 4 = 1.375
    #expect(abs(loss(.batchHard, .hinge(1)) - 1.375) < 1e-12)
  }

  @Test("batch-all averages over the triplets with a positive loss")
  func batchAll() {
    // Triplets (anchor, positive, negative) with margin 0.2:
    // (0,1,1.5): 1 − 1.5 + .2 = −0.3 → 0;  (0,1,4): 1 − 4 + .2 → 0
    // (1,0,1.5): 1 − .5 + .2 = 0.7;          (1,0,4): 1 − 3 + .2 → 0
    // (1.5,4,0): 2.5 − 1.5 + .2 = 1.2;       (1.5,4,1): 2.5 − .5 + .2 = 2.2
    // (4,1.5,0): 2.5 − 4 + .2 → 0;           (4,1.5,1): 2.5 − 3 + .2 → 0
    // active: 0.7, 1.2, 2.2 → mean 4.1 / 3; plain triplet averages over all 8: 4.1 / 8.
    #expect(abs(loss(.batchAll, .hinge(0.2)) - 4.1 / 3) < 1e-12)
    #expect(abs(loss(.triplet, .hinge(0.2)) - 4.1 / 8) < 1e-12)
  }

  @Test("semi-hard takes the nearest negative beyond the positive, else the farthest")
  func semiHard() {
    // (0→1): negatives at 1.5 and 4 are both beyond d=1; nearest is 1.5 → 1 − 1.5 + .8 = 0.3
    // (1→0): d=1; negatives at d .5 and 3; beyond 1 → 3 → 1 − 3 + .8 → 0
    // (1.5→4): d=2.5; negatives at 1.5 and .5, none beyond → farthest (1.5) → 2.5 − 1.5 + .8 = 1.8
    // (4→1.5): d=2.5; negatives at 4 and 3, beyond 2.5 → nearest 3 → 2.5 − 3 + .8 = 0.3
    // mean over the 4 pairs = 2.4 / 4 = 0.6
    #expect(abs(loss(.semiHard, .hinge(0.8)) - 0.6) < 1e-12)
  }

  @Test("contrastive pulls positives and pushes negatives inside the margin")
  func contrastive() {
    // Pairs: (0,1) same d1 → 1; (1.5,4) same d2.5 → 6.25;
    // negatives with margin 2: (0,1.5) d1.5 → .25; (0,4) d4 → 0; (1,1.5) d.5 → 2.25; (1,4) d3 → 0.
    // mean over 6 pairs = 9.75 / 6
    #expect(abs(loss(.contrastive, .hinge(2)) - 9.75 / 6) < 1e-12)
  }

  @Test("ladder with two levels is batch-hard")
  func ladderSpecialCase() {
    #expect(abs(loss(.ladder, .hinge(1)) - loss(.batchHard, .hinge(1))) < 1e-12)
  }

  @Test("ladder with groups adds a half-margin, half-weight level for same-group identities")
  func ladderWithGroups() {
    // Points 0 and 1 (identity 0), 2 (identity 1) share group 0; 2.5 (identity 2) is group 1.
    // Level 0 (same identity vs the rest), margin 1, weight 1; anchors without a positive skip:
    //   a=0: farthest positive d1, nearest other d2 (the 2) → 1 − 2 + 1 = 0
    //   a=1: farthest positive d1, nearest other d1 (the 2) → 1 − 1 + 1 = 1   → mean 1/2
    // Level 1 (same group vs the rest), margin 1/2, weight 1/2:
    //   a=0: farthest same-group d2, nearest other d2.5 → 2 − 2.5 + .5 = 0
    //   a=1: farthest same-group d1, nearest other d1.5 → 1 − 1.5 + .5 = 0
    //   a=2: farthest same-group d2, nearest other d0.5 → 2 − .5 + .5 = 2     → mean 2/3
    // total = 1/2 + 1/2 · 2/3 = 5/6; without groups only level 0 counts: 1/2.
    let points = Tensor<Double>(rows: 4, columns: 1, values: [0, 1, 2, 2.5])
    let configuration = LossConfiguration(kind: .ladder, margin: .hinge(1), distance: .euclidean)
    let grouped = MetricLoss.compute(
      configuration, embeddings: points, labels: [0, 0, 1, 2], groups: [0, 0, 0, 1])
    let plain = MetricLoss.compute(configuration, embeddings: points, labels: [0, 0, 1, 2])
    #expect(abs(grouped.value - 5.0 / 6) < 1e-12)
    #expect(abs(plain.value - 0.5) < 1e-12)
  }
}

@Suite struct SamplingAndTrainingTests {
  @Test("P×K batches hold P distinct identities with K samples each, distinct when possible")
  func sampler() {
    // Identity 0 has 6 rows, 1 has 2, 2 has 1 (left out), 3 has 5.
    let labels = [0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 3, 3, 3, 3]
    var sampler = PKSampler(
      labels: labels, identitiesPerBatch: 3, samplesPerIdentity: 4, minimumSamples: 2, seed: 9)
    #expect(sampler.usableIdentities == 3 && sampler.batchSize == 12)
    for _ in 0..<50 {
      let batch = sampler.nextBatch()
      #expect(batch.count == 12)
      let identities = stride(from: 0, to: 12, by: 4).map { labels[batch[$0]] }
      #expect(Set(identities).count == 3 && !identities.contains(2))
      for group in 0..<3 {
        let rows = Array(batch[(group * 4)..<(group * 4 + 4)])
        #expect(Set(rows.map { labels[$0] }).count == 1)
        // Identity 1 has 2 rows: both appear before any repeat.
        #expect(Set(rows).count == min(4, labels.filter { $0 == labels[rows[0]] }.count))
      }
    }
    var again = PKSampler(
      labels: labels, identitiesPerBatch: 3, samplesPerIdentity: 4, minimumSamples: 2, seed: 9)
    var first = PKSampler(
      labels: labels, identitiesPerBatch: 3, samplesPerIdentity: 4, minimumSamples: 2, seed: 9)
    #expect((0..<10).map { _ in again.nextBatch() } == (0..<10).map { _ in first.nextBatch() })
  }

  @Test("the learning rate is constant, then decays exponentially to 0.001×")
  func schedule() {
    let schedule = LearningRateSchedule(initial: 1e-3, decayStart: 100, end: 200)
    #expect(schedule.rate(at: 1) == 1e-3 && schedule.rate(at: 100) == 1e-3)
    #expect(abs(schedule.rate(at: 150) - 1e-3 * 0.001.squareRoot()) < 1e-15)
    #expect(abs(schedule.rate(at: 200) - 1e-6) < 1e-15)
  }

  /// Two classes separable only along the first feature; the other features are loud noise.
  static func noisyData(seed: UInt64) -> TrainingData {
    var random = SeededRandom(seed: seed)
    var values: [Float] = []
    var identities: [Int] = []
    for identity in 0..<12 {
      let centre = Float(identity) * 0.5
      for _ in 0..<6 {
        values.append(centre + Float(random.normal()) * 0.05)
        for _ in 0..<7 { values.append(Float(random.normal()) * 3) }
        identities.append(identity)
      }
    }
    return TrainingData(
      vectors: Matrix(rows: identities.count, columns: 8, values: values), identities: identities)
  }

  @Test(
    "training with one seed twice gives bit-identical weights",
    arguments: [LossKind.batchHard, .softmax])
  func deterministic(kind: LossKind) throws {
    var options = TrainingOptions()
    options.loss.kind = kind
    options.hiddenSizes = [16]
    options.outputDimension = 4
    options.identitiesPerBatch = 4
    options.iterations = 40
    options.validationInterval = 20
    let data = Self.noisyData(seed: 1)
    let first = try Trainer.train(data, options: options)
    let second = try Trainer.train(data, options: options)
    #expect(first.model.network.parameters == second.model.network.parameters)
    #expect(first.model.network.state == second.model.network.state)
    options.seed = 2
    let other = try Trainer.train(data, options: options)
    #expect(other.model.network.parameters != first.model.network.parameters)
  }

  @Test("training learns to ignore noise dimensions: neighbours share identity far more often")
  func learnsTheSignal() throws {
    let data = Self.noisyData(seed: 3)
    func nearestNeighbourAccuracy(_ vectors: Matrix) -> Double {
      var hits = 0
      for row in 0..<vectors.rows {
        var best = -1
        var bestDistance = Float.infinity
        for other in 0..<vectors.rows where other != row {
          let distance = zip(vectors.row(row), vectors.row(other)).map { ($0 - $1) * ($0 - $1) }
            .reduce(0, +)
          if distance < bestDistance {
            bestDistance = distance
            best = other
          }
        }
        if data.identities[best] == data.identities[row] { hits += 1 }
      }
      return Double(hits) / Double(vectors.rows)
    }
    var options = TrainingOptions()
    options.hiddenSizes = [32]
    options.outputDimension = 8
    options.identitiesPerBatch = 8
    options.iterations = 300
    options.learningRate = 1e-2
    let result = try Trainer.train(data, options: options)
    let raw = nearestNeighbourAccuracy(data.vectors)
    let learned = nearestNeighbourAccuracy(result.model.embed(data.vectors))
    #expect(raw < 0.4, "raw accuracy \(raw)")
    #expect(learned > 0.9, "learned accuracy \(learned)")
  }

  @Test("collapsed embeddings give one warning and training still finishes; healthy runs give none")
  func collapseWarning() throws {
    func warnings(_ data: TrainingData) throws -> [String] {
      var options = TrainingOptions()
      options.hiddenSizes = [16]
      options.outputDimension = 4
      options.identitiesPerBatch = 4
      options.iterations = 120
      var messages: [String] = []
      _ = try Trainer.train(
        data, options: options,
        observe: { event in
          if case .warning(let message) = event { messages.append(message) }
        })
      return messages
    }
    // Every input equal: any network maps them to one point, so all distances are zero.
    let healthy = Self.noisyData(seed: 5)
    let constant = TrainingData(
      vectors: Matrix(
        rows: healthy.vectors.rows, columns: healthy.vectors.columns,
        values: [Float](repeating: 0.25, count: healthy.vectors.values.count)),
      identities: healthy.identities)
    let collapsed = try warnings(constant)
    #expect(collapsed.count == 1, "\(collapsed)")
    #expect(collapsed.first?.contains("collapsed at iteration 50") == true, "\(collapsed)")
    #expect(try warnings(healthy).isEmpty)
  }

  /// A few iterations of a tiny network: enough to write a model file.
  static var tinyOptions: TrainingOptions {
    var options = TrainingOptions()
    options.hiddenSizes = [8]
    options.outputDimension = 3
    options.identitiesPerBatch = 4
    options.iterations = 5
    return options
  }

  @Test(
    "the joint recipe trains a head beside the metric loss and records its settings; a model without it encodes as before"
  )
  func jointRecipeRecord() throws {
    var options = Self.tinyOptions
    let plain = try Trainer.train(Self.noisyData(seed: 4), options: options).model
    #expect(!String(decoding: plain.fileBytes, as: UTF8.self).contains("softmax_weight"))
    options.loss.softmaxWeight = 0.1
    options.loss.labelSmoothing = 0.1
    let joint = try Trainer.train(Self.noisyData(seed: 4), options: options).model
    #expect(
      joint.network.parameters != plain.network.parameters, "the head's gradient moved the trunk")
    let read = try EmbeddingModel.decode(joint.fileBytes, path: "joint.tpm")
    #expect(read.training.loss.softmaxWeight == 0.1 && read.training.loss.labelSmoothing == 0.1)
    #expect(read.training == joint.training)
  }

  @Test(
    "sampled softmax candidates: the batch's classes plus uniform draws, the logQ offset, reproducible"
  )
  func softmaxCandidates() throws {
    var random = SeededRandom(seed: 9)
    let labels = [3, 3, 8, 8, 11, 11]
    #expect(
      SoftmaxCandidates.draw(labels: labels, totalClasses: 20, count: 20, using: &random) == nil)
    var counts = [Int](repeating: 0, count: 20)
    let draws = 4000
    for _ in 0..<draws {
      let candidates = try #require(
        SoftmaxCandidates.draw(labels: labels, totalClasses: 20, count: 7, using: &random))
      #expect(candidates.classes.count == 7 && candidates.classes == candidates.classes.sorted())
      #expect(Set(candidates.classes).isSuperset(of: [3, 8, 11]))
      for (position, column) in candidates.classes.enumerated() {
        #expect(candidates.isSampled[position] == ![3, 8, 11].contains(column))
        counts[column] += 1
      }
      #expect(abs(candidates.sampledLogitOffset - Foundation.log(17.0 / 4.0)) < 1e-12)
    }
    // Each of the 17 outside classes is drawn with probability 4/17.
    for column in 0..<20 where ![3, 8, 11].contains(column) {
      let share = Double(counts[column]) / Double(draws)
      #expect(abs(share - 4.0 / 17.0) < 0.03, "class \(column) drawn \(share)")
    }
    // Fewer candidates than batch classes: the batch's own only.
    let own = try #require(
      SoftmaxCandidates.draw(labels: labels, totalClasses: 20, count: 2, using: &random))
    #expect(own.classes == [3, 8, 11] && !own.isSampled.contains(true))
    var first = SeededRandom(seed: 4)
    var second = SeededRandom(seed: 4)
    #expect(
      SoftmaxCandidates.draw(labels: labels, totalClasses: 20, count: 9, using: &first)
        == SoftmaxCandidates.draw(labels: labels, totalClasses: 20, count: 9, using: &second))
  }

  @Test("a lazy Adam step changes the listed parameters exactly as a full step does, and no others")
  func lazyAdam() {
    let start: [Float] = (0..<20).map { Float($0) * 0.1 - 1 }
    let gradients: [Float] = (0..<20).map { Float(($0 * 7) % 5) - 2 }
    var full = Adam<Float>(count: 20, weightDecay: 0.01)
    var lazy = Adam<Float>(count: 20, weightDecay: 0.01)
    var fullValues = start
    var lazyValues = start
    for _ in 0..<3 {
      full.update(&fullValues, gradients: gradients, learningRate: 0.05)
      lazy.update(&lazyValues, gradients: gradients, learningRate: 0.05, only: [2..<11, 15..<16])
    }
    for index in 0..<20 {
      let listed = (2..<11).contains(index) || index == 15
      #expect(
        lazyValues[index] == (listed ? fullValues[index] : start[index]), "parameter \(index)")
    }
  }

  @Test("a BNNeck folded into the output layer computes the neck's inference map")
  func neckFold() {
    let architecture = Architecture(
      inputDimension: 5, hiddenSizes: [6], outputDimension: 3, batchNorm: true,
      normalizeOutput: false)
    var network = Network<Float>(architecture: architecture, seed: 7)
    var random = SeededRandom(seed: 8)
    let batch = Tensor<Float>(
      rows: 10, columns: 5, values: (0..<50).map { _ in Float(random.normal()) * 2 })
    var neck = BatchNormNeck<Float>(features: 3)
    neck.parameters = [0.5, 2, -1, 0, 0, 0]
    for _ in 0..<30 { _ = neck.forward(network.forward(batch, training: false), training: true) }
    let expected = neck.forward(network.forward(batch, training: false), training: false)
    var folded = network
    let (scale, shift) = neck.inferenceAffine
    folded.foldIntoOutput(scale: scale, shift: shift)
    let output = folded.forward(batch, training: false)
    for index in expected.values.indices {
      #expect(abs(output.values[index] - expected.values[index]) < 1e-4, "value \(index)")
    }
  }

  @Test(
    "a sampled softmax and a BNNeck are recorded in the model file and read back; retrieval after the neck trains"
  )
  func headSettingsRecord() throws {
    var options = Self.tinyOptions
    options.loss.softmaxWeight = 0.1
    options.loss.softmaxClasses = 5
    options.loss.neck = .after
    let model = try Trainer.train(Self.noisyData(seed: 4), options: options).model
    let text = String(decoding: model.fileBytes, as: UTF8.self)
    #expect(text.contains("\"softmax_classes\": 5") && text.contains("\"bnneck\": \"after\""))
    let read = try EmbeddingModel.decode(model.fileBytes, path: "neck.tpm")
    #expect(read.training == model.training && read.training.loss.neck == .after)
    #expect(model.embed(Self.noisyData(seed: 4).vectors).values.allSatisfy { $0.isFinite })
  }

  @Test(
    "a model in the safetensors layout reads back with the same weights and fingerprint; tensors are laid out as PyTorch's"
  )
  func safetensors() throws {
    var options = Self.tinyOptions
    options.hiddenSizes = [5]
    let model = try Trainer.train(Self.noisyData(seed: 4), options: options).model
    let bytes = model.safetensorsBytes
    let read = try EmbeddingModel.decodeSafetensors(bytes, path: "m.safetensors")
    #expect(read.network.parameters == model.network.parameters)
    #expect(read.network.state == model.network.state)
    #expect(read.fingerprint == model.fingerprint && read.training == model.training)
    // The header, by hand: 8-byte length, JSON, data 8-byte aligned.
    let length = Int(
      bytes[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.1) << (8 * $1.0) })
    #expect((8 + length) % 8 == 0)
    let header = try JSONValue.parse(String(decoding: bytes[8..<(8 + length)], as: UTF8.self))
    // 8 inputs → 5 (BN, ReLU) → 3: layers.0 Linear, 1 BatchNorm, 2 ReLU, 3 Linear.
    #expect(header["layers.0.weight"]?["shape"]?.arrayValue?.compactMap(\.intValue) == [5, 8])
    #expect(header["layers.1.running_var"]?["shape"]?.arrayValue?.compactMap(\.intValue) == [5])
    #expect(header["layers.3.bias"]?["shape"]?.arrayValue?.compactMap(\.intValue) == [3])
    #expect(header["layers.2.weight"] == nil)
    // layers.0.weight[o][i] is the stored weight of input i to output o.
    let offsets = header["layers.0.weight"]?["data_offsets"]?.arrayValue?.compactMap(\.intValue)
    let start = 8 + length + (offsets?.first ?? 0)
    func value(at index: Int) -> Float {
      Float(
        bitPattern: (0..<4).reduce(UInt32(0)) {
          $0 | UInt32(bytes[start + 4 * index + $1]) << (8 * $1)
        })
    }
    for (output, input) in [(0, 0), (1, 0), (0, 7), (4, 3)] {
      #expect(value(at: output * 8 + input) == model.network.parameters[input * 5 + output])
    }
    // Damage is named.
    var corrupt = bytes
    corrupt[corrupt.count - 1] ^= 0xFF
    #expect {
      _ = try EmbeddingModel.decodeSafetensors(corrupt, path: "m.safetensors")
    } throws: { ($0 as? ModelFileError)?.kind == .damaged }
    let foreign = Array(#"{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}"#.utf8)
    var plain: [UInt8] = []
    withUnsafeBytes(of: UInt64(foreign.count).littleEndian) { plain += $0 }
    #expect {
      _ = try EmbeddingModel.decodeSafetensors(
        plain + foreign + [0, 0, 0, 0], path: "x.safetensors")
    } throws: { "\($0)".contains("without tripindex's metadata") }
  }

  @Test("a model file reads back identically; damage is named")
  func modelFiles() throws {
    let options = Self.tinyOptions
    let model = try Trainer.train(Self.noisyData(seed: 4), options: options).model
    let directory = TemporaryDirectory()
    let path = directory.file("m.tpm")
    try model.write(to: path)
    let read = try EmbeddingModel.read(from: path)
    #expect(
      read.network.parameters == model.network.parameters
        && read.network.state == model.network.state)
    #expect(read.architecture == model.architecture && read.training == model.training)
    #expect(read.fingerprint == model.fingerprint)
    let input = Matrix(rows: 3, columns: 8, values: (0..<24).map { Float($0) / 10 })
    #expect(read.embed(input) == model.embed(input))

    let bytes = model.fileBytes
    func failure(_ damaged: [UInt8]) -> String {
      do {
        _ = try EmbeddingModel.decode(damaged, path: "m.tpm")
        return "accepted"
      } catch {
        return error.description
      }
    }
    #expect(failure(Array(bytes.dropLast(5))).contains("truncated"))
    var flipped = bytes
    flipped[bytes.count - 20] ^= 0x40
    #expect(failure(flipped).contains("checksum mismatch"))
    #expect(failure(Array("hello, world".utf8)).contains("not a model file"))
    var badHeader = bytes
    badHeader[14] = UInt8(ascii: "!")
    #expect(failure(badHeader).contains("not valid JSON"))
    #expect(failure(bytes + [0]).contains("unexpected bytes"))

    // Crafted headers with a recomputed checksum: sizes beyond the limits, an unknown metric.
    func rewritten(_ edit: (String) -> String) -> [UInt8] {
      let length = bytes.withUnsafeBytes {
        Int(UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 8, as: UInt32.self)))
      }
      let header = Array(edit(String(decoding: bytes[12..<(12 + length)], as: UTF8.self)).utf8)
      var result = Array(bytes[0..<8])
      withUnsafeBytes(of: UInt32(header.count).littleEndian) { result += $0 }
      result += header + bytes[(12 + length)..<(bytes.count - 8)]
      var checksum = Fingerprint()
      result.withUnsafeBytes { checksum.add($0) }
      withUnsafeBytes(of: checksum.value.littleEndian) { result += $0 }
      return result
    }
    #expect(failure(rewritten { $0 }) == "accepted")
    let huge = failure(
      rewritten {
        $0.replacingOccurrences(
          of: "\"input_dimension\": 8", with: "\"input_dimension\": 4611686018427387904")
      })
    #expect(huge.contains("exceeds tripindex's limits"), "\(huge)")
    let manhattan = failure(
      rewritten {
        $0.replacingOccurrences(of: "\"metric\": \"l2\"", with: "\"metric\": \"manhattan\"")
      })
    #expect(manhattan.contains("metric is 'manhattan'"), "\(manhattan)")
  }
}
