import Embedding
import Foundation
import Testing
import VectorMath

/// The softmax head a surrogate or joint model keeps (model format 2): it classifies the
/// training identities from the retrieval embedding, with a BNNeck folded in; it round-trips
/// through the model file and both safetensors layouts; a model without one stays format 1.
@Suite struct ClassifierHeadTests {
  /// 12 identities, 8 samples each, in 7 dimensions: well-separated clusters with noise.
  static let data: TrainingData = {
    var random = SeededRandom(seed: 31)
    let centres = (0..<12).map { _ in (0..<7).map { _ in random.normal() * 4 } }
    var values: [Float] = []
    var identities: [Int] = []
    for identity in 0..<12 {
      for _ in 0..<8 {
        values += centres[identity].map { Float($0 + random.normal() * 0.5) }
        // pids as a user's data has them: not 0..<n.
        identities.append(100 + 7 * identity)
      }
    }
    return TrainingData(
      vectors: Matrix(rows: identities.count, columns: 7, values: values), identities: identities)
  }()

  static func options(kind: LossKind, neck: NeckPosition?) -> TrainingOptions {
    var options = TrainingOptions()
    options.hiddenSizes = [16]
    options.outputDimension = 6
    options.iterations = 400
    options.learningRate = 1e-2
    options.identitiesPerBatch = 6
    options.samplesPerIdentity = 4
    options.validationInterval = 100
    options.loss = LossConfiguration(kind: kind, margin: .soft, distance: .euclidean)
    if kind != .softmax { options.loss.softmaxWeight = 0.5 }
    options.loss.neck = neck
    return options
  }

  /// The fraction of training rows whose highest logit is their own pid.
  static func accuracy(_ model: EmbeddingModel) throws -> Double {
    let classifier = try #require(model.classifier)
    let logits = classifier.logits(model.embed(data.vectors))
    var right = 0
    for row in 0..<logits.rows {
      let scores = logits.row(row)
      let best = scores.indices.max { scores[$0] < scores[$1] } ?? 0
      if classifier.pids[best] == data.identities[row] { right += 1 }
    }
    return Double(right) / Double(logits.rows)
  }

  @Test(
    "the kept head classifies the training identities from the retrieval embedding, with or without a BNNeck",
    arguments: [
      (LossKind.softmax, NeckPosition?.none), (.softmax, .before), (.softmax, .after),
      (.batchHard, .before), (.batchHard, nil),
    ])
  func classifiesTrainingIdentities(kind: LossKind, neck: NeckPosition?) throws {
    let model = try Trainer.train(Self.data, options: Self.options(kind: kind, neck: neck)).model
    let classifier = try #require(model.classifier)
    #expect(classifier.pids == (0..<12).map { 100 + 7 * $0 })
    #expect(classifier.inputs == 6)
    // Chance is 1/12; a head read at the wrong place (neck not folded) scores far lower.
    let accuracy = try Self.accuracy(model)
    #expect(accuracy >= 0.95, "accuracy \(accuracy)")
  }

  @Test(
    "folding the neck: logits of the embedding equal the trained head's logits of the neck's output"
  )
  func neckFolding() throws {
    var random = SeededRandom(seed: 5)
    let head = SoftmaxHead<Float>(inputs: 4, classes: 3, seed: 2)
    let scale: [Float] = [0.5, 2, -1, 1.5]
    let shift: [Float] = [0.1, -0.3, 0.7, 0]
    let folded = ClassifierHead(head, pids: [4, 5, 6], foldingNeck: (scale, shift))
    let embedding = (0..<4).map { _ in Float(random.normal()) }
    let logits = folded.logits(Matrix(rows: 1, columns: 4, values: embedding)).row(0)
    for column in 0..<3 {
      var expected = Double(head.parameters[12 + column])
      for input in 0..<4 {
        expected +=
          Double(head.parameters[column * 4 + input])
          * Double(scale[input] * embedding[input] + shift[input])
      }
      #expect(abs(Double(logits[column]) - expected) < 1e-5)
    }
  }

  @Test(
    "a model with a head is format 2 and round-trips through the model file and the safetensors layout"
  )
  func roundTrips() throws {
    let model = try Trainer.train(
      Self.data, options: Self.options(kind: .softmax, neck: .before)
    ).model
    let text = String(decoding: model.fileBytes, as: UTF8.self)
    #expect(text.contains("\"version\": 2") && text.contains("\"classifier_count\": 84"))
    let read = try EmbeddingModel.decode(model.fileBytes, path: "head.tpm")
    #expect(read.classifier == model.classifier && read.fingerprint == model.fingerprint)
    let viaSafetensors = try EmbeddingModel.decodeSafetensors(
      model.safetensorsBytes, path: "head.safetensors")
    #expect(viaSafetensors.classifier == model.classifier)
    #expect(viaSafetensors.fingerprint == model.fingerprint)
    let file = try SafetensorsReading(model.safetensorsBytes)
    #expect(
      try file.shape("classifier.weight") == [12, 6] && file.shape("classifier.bias") == [12])
    // Without a head: format 1, as before.
    let plain = try Trainer.train(Self.data, options: Self.options(kind: .batchHard, neck: nil))
    var withoutHead = plain.model
    withoutHead.classifier = nil
    #expect(String(decoding: withoutHead.fileBytes, as: UTF8.self).contains("\"version\": 1"))
    #expect(try EmbeddingModel.decode(withoutHead.fileBytes, path: "plain.tpm").classifier == nil)
  }

  @Test("a damaged head is refused: a wrong classifier_count, missing pids, a non-finite weight")
  func damagedHead() throws {
    let model = try Trainer.train(Self.data, options: Self.options(kind: .softmax, neck: nil)).model
    func refuses(_ edit: (String) -> String, _ expected: String) throws {
      // Re-encodes the header (the checksum is recomputed, so only the header is wrong).
      var bytes = model.fileBytes
      let length = bytes[8..<12].enumerated().reduce(0) { $0 | Int($1.1) << (8 * $1.0) }
      let header = edit(String(decoding: bytes[12..<(12 + length)], as: UTF8.self))
      let body = Array(bytes[(12 + length)..<(bytes.count - 8)])
      bytes = EmbeddingModel.magic
      withUnsafeBytes(of: UInt32(header.utf8.count).littleEndian) { bytes += $0 }
      bytes += Array(header.utf8) + body
      var checksum = Fingerprint()
      bytes.withUnsafeBytes { checksum.add($0) }
      withUnsafeBytes(of: checksum.value.littleEndian) { bytes += $0 }
      let error = #expect(throws: ModelFileError.self) {
        try EmbeddingModel.decode(bytes, path: "bad.tpm")
      }
      #expect("\(error.map { "\($0)" } ?? "")".contains(expected), "\(String(describing: error))")
    }
    try refuses(
      { $0.replacingOccurrences(of: "\"classifier_count\": 84", with: "\"classifier_count\": 83") },
      "classifier_count is 83")
    try refuses(
      { $0.replacingOccurrences(of: "\"version\": 2", with: "\"version\": 1") },
      "a version 1 header with a classifier")
    try refuses(
      { $0.replacingOccurrences(of: "\"pids\"", with: "\"pidz\"") }, "needs classifier")
  }

  @Test(
    "the PyTorch export with the head: the Sequential's output through classifier.weight and .bias gives the model's logits"
  )
  func pytorchHead() throws {
    let model = try Trainer.train(
      Self.data, options: Self.options(kind: .batchHard, neck: .before)
    ).model
    let classifier = try #require(model.classifier)
    #expect(
      !(try SafetensorsReading(model.pytorchSequentialBytes()).keys.contains("classifier.weight")))
    let file = try SafetensorsReading(model.pytorchSequentialBytes(includingHead: true))
    #expect(try file.tensor("classifier.pids") == classifier.pids.map(Double.init))
    let weights = try file.tensor("classifier.weight")
    let biases = try file.tensor("classifier.bias")
    let embedded = model.embed(Self.data.vectors)
    let logits = classifier.logits(embedded)
    for row in 0..<4 {
      for column in 0..<12 {
        let value = (0..<6).reduce(biases[column]) {
          $0 + weights[column * 6 + $1] * Double(embedded[row, $1])
        }
        #expect(abs(value - Double(logits[row, column])) < 1e-4)
      }
    }
  }
}
