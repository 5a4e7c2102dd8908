import Plumbing
import VectorMath

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The model file format, self-describing and checked:
///
/// | bytes | content |
/// |---|---|
/// | 8 | magic `TPMODEL\n` |
/// | 4 | header length H, `UInt32` little-endian |
/// | H | header, UTF-8 JSON: format, version, architecture, metric, training record, counts |
/// | 4·P | parameters, `Float32` little-endian |
/// | 4·S | state (input standardisation, BatchNorm running statistics), `Float32` little-endian |
/// | 4·C | version 2 only: the softmax head's weights (`classes × inputs`) then biases |
/// | 8 | FNV-1a 64 of every byte before it, `UInt64` little-endian |
///
/// Version 2 is written only for a model that keeps its softmax head (the header's
/// `classifier` gives its classes' pids and `classifier_count` its C values); a model without one
/// is written as version 1, byte for byte as before, so its fingerprint does not change.
extension EmbeddingModel {
  /// The file's first bytes.
  public static let magic = Array("TPMODEL\n".utf8)
  /// The newest format version this code writes and reads (it reads every version from 1).
  public static let formatVersion = 2

  /// The version a model is written in: 2 when it keeps a softmax head, 1 otherwise.
  var fileVersion: Int { classifier == nil ? 1 : 2 }

  /// The header as JSON.
  var header: JSONValue {
    let margin: JSONValue
    switch training.loss.margin {
    case .soft: margin = .string("soft")
    case .hinge(let value): margin = .number(value)
    }
    // The joint recipe's settings are written only when used, so a model trained without them
    // encodes (and fingerprints) exactly as before they existed.
    var head: [(String, JSONValue)] = []
    if training.loss.softmaxWeight != 0 {
      head.append(("softmax_weight", .number(training.loss.softmaxWeight)))
    }
    if training.loss.labelSmoothing != 0 {
      head.append(("label_smoothing", .number(training.loss.labelSmoothing)))
    }
    if training.loss.softmaxClasses != 0 {
      head.append(("softmax_classes", .integer(training.loss.softmaxClasses)))
    }
    if let neck = training.loss.neck {
      head.append(("bnneck", .string(neck.rawValue)))
    }
    return .object(
      [
        ("format", .string("tripindex-model")),
        ("version", .integer(fileVersion)),
        (
          "architecture",
          .object([
            ("input_dimension", .integer(architecture.inputDimension)),
            ("hidden", .array(architecture.hiddenSizes.map { .integer($0) })),
            ("output_dimension", .integer(architecture.outputDimension)),
            ("batch_norm", .bool(architecture.batchNorm)),
            ("normalize_output", .bool(architecture.normalizeOutput)),
            ("input_standardization", .bool(true)),
          ])
        ),
        ("metric", .string(metric.rawValue)),
        (
          "training",
          .object(
            [
              ("loss", .string(training.loss.kind.rawValue)),
              ("margin", margin),
              ("distance", .string(training.loss.distance.rawValue)),
            ] + head + [
              ("p", .integer(training.identitiesPerBatch)),
              ("k", .integer(training.samplesPerIdentity)),
              ("iterations", .integer(training.iterations)),
              ("learning_rate", .number(training.learningRate)),
              ("weight_decay", .number(training.weightDecay)),
              ("seed", .string(String(training.seed))),
              ("data_fingerprint", .string(training.dataFingerprint)),
              ("identities", .integer(training.identities)),
              ("samples", .integer(training.samples)),
              ("validation_map", training.validationScore.map { .number($0) } ?? .null),
              ("kept_iteration", .integer(training.keptIteration)),
            ])
        ),
        ("parameter_count", .integer(network.parameters.count)),
        ("state_count", .integer(network.state.count)),
      ] + classifierFields)
  }

  /// The header's description of the softmax head (none without one).
  private var classifierFields: [(String, JSONValue)] {
    guard let classifier else { return [] }
    return [
      ("classifier", classifier.json),
      ("classifier_count", .integer(classifier.valueCount)),
    ]
  }

  /// The complete file content.
  public var fileBytes: [UInt8] {
    var bytes = Self.magic
    let header = Array(self.header.serialized(indent: 2).utf8)
    withUnsafeBytes(of: UInt32(header.count).littleEndian) { bytes += $0 }
    bytes += header
    let head = classifier.map { $0.weights + $0.biases } ?? []
    for value in network.parameters + network.state + head {
      withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 }
    }
    var checksum = Fingerprint()
    bytes.withUnsafeBytes { checksum.add($0) }
    withUnsafeBytes(of: checksum.value.littleEndian) { bytes += $0 }
    return bytes
  }

  /// The model's identity: the checksum of its file, as 16 hexadecimal digits.
  public var fingerprint: String {
    var checksum = Fingerprint()
    let bytes = fileBytes
    bytes.withUnsafeBytes {
      checksum.add(UnsafeRawBufferPointer(rebasing: $0[0..<(bytes.count - 8)]))
    }
    return checksum.hex
  }

  /// Writes the model file (atomically: a temporary file renamed into place).
  ///
  /// - Parameter path: the destination.
  /// - Throws: ``ModelFileError`` when the file cannot be written.
  public func write(to path: String) throws(ModelFileError) {
    try Self.writeAtomically(fileBytes, to: path)
  }

  /// Writes bytes to a temporary file and renames it into place.
  static func writeAtomically(_ bytes: [UInt8], to path: String) throws(ModelFileError) {
    let temporary = path + ".partial-\(getpid())"
    let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard descriptor >= 0 else {
      throw ModelFileError(
        path: path, .cannotWrite, "cannot create: \(DescriptorWriting.message(errno))")
    }
    let failure = bytes.withUnsafeBytes { DescriptorWriting.writeAll($0, to: descriptor) }
    close(descriptor)
    if failure == nil && rename(temporary, path) == 0 { return }
    let reason = DescriptorWriting.message(failure ?? errno)
    unlink(temporary)
    throw ModelFileError(path: path, .cannotWrite, "cannot write: \(reason)")
  }

  /// Reads and checks a model file: tripindex's own format, or the safetensors layout
  /// ``safetensorsBytes`` writes.
  ///
  /// - Parameter path: the file.
  /// - Returns: the model.
  /// - Throws: ``ModelFileError`` naming what is wrong: not a model file, a newer format, a bad or
  ///   incomplete header, truncation, a checksum mismatch or non-finite weights.
  public static func read(from path: String) throws(ModelFileError) -> EmbeddingModel {
    let bytes = try readWholeFile(path)
    // A safetensors file starts with its 8-byte header length, then the JSON header.
    if bytes.count >= 9, Array(bytes[0..<8]) != magic, bytes[8] == UInt8(ascii: "{") {
      return try decodeSafetensors(bytes, path: path)
    }
    return try decode(bytes, path: path)
  }

  /// Decodes model file content.
  ///
  /// - Parameters:
  ///   - bytes: the file's bytes.
  ///   - path: the name used in errors.
  /// - Returns: the model.
  /// - Throws: ``ModelFileError`` as ``read(from:)``.
  public static func decode(_ bytes: [UInt8], path: String) throws(ModelFileError) -> EmbeddingModel
  {
    func fail(_ message: String) -> ModelFileError {
      ModelFileError(path: path, .badHeader, message)
    }
    guard bytes.count >= 12, Array(bytes[0..<8]) == magic else {
      throw ModelFileError(
        path: path, .notAModel, "not a model file (it does not start with TPMODEL)")
    }
    let headerLength = bytes.withUnsafeBytes {
      Int(UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 8, as: UInt32.self)))
    }
    guard 12 + headerLength <= bytes.count else {
      throw ModelFileError(
        path: path, .damaged,
        "truncated: the header announces \(headerLength) bytes but the file has \(bytes.count - 12) after the preamble"
      )
    }
    let header: JSONValue
    do throws(JSONValue.ParseError) {
      header = try JSONValue.parse(String(decoding: bytes[12..<(12 + headerLength)], as: UTF8.self))
    } catch {
      throw fail("the header is not valid JSON (\(error))")
    }
    let (architecture, training, head) = try describedModel(header, fail: fail)
    let parameterCount = architecture.parameterCount
    let stateCount = architecture.stateCount
    let headCount = head?.valueCount ?? 0
    let valueCount = parameterCount + stateCount + headCount
    let payloadStart = 12 + headerLength
    let expected = payloadStart + 4 * valueCount + 8
    guard bytes.count == expected else {
      throw ModelFileError(
        path: path, .damaged,
        bytes.count < expected
          ? "truncated: expected \(expected) bytes for \(valueCount) weights and the checksum, found \(bytes.count)"
          : "has \(bytes.count - expected) unexpected bytes after the checksum")
    }
    var checksum = Fingerprint()
    bytes.withUnsafeBytes { checksum.add(UnsafeRawBufferPointer(rebasing: $0[0..<(expected - 8)])) }
    let stored = bytes.withUnsafeBytes {
      UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: expected - 8, as: UInt64.self))
    }
    guard stored == checksum.value else {
      throw ModelFileError(
        path: path, .damaged,
        "checksum mismatch: the file is corrupt (stored \(stored), computed \(checksum.value))")
    }
    let values = bytes.withUnsafeBytes {
      LittleEndianFloats.values(in: $0, from: payloadStart, count: valueCount)
    }
    let headStart = parameterCount + stateCount
    let classifier = head.map { head in
      let weightsEnd = headStart + head.classes * head.inputs
      return ClassifierHead(
        pids: head.pids, inputs: head.inputs, weights: Array(values[headStart..<weightsEnd]),
        biases: Array(values[weightsEnd...]))
    }
    return try assemble(
      parameters: Array(values[0..<parameterCount]),
      state: Array(values[parameterCount..<headStart]), classifier: classifier,
      architecture: architecture, training: training, header: header, path: path, fail: fail)
  }

  /// The shape of a softmax head a header describes: its classes' pids and its inputs.
  struct ClassifierShape {
    var pids: [Int]
    var inputs: Int
    var classes: Int { pids.count }
    var valueCount: Int { classes * inputs + classes }
  }

  /// The architecture and training record a model header describes, checked (format, version,
  /// sizes and limits, counts).
  static func describedModel(_ header: JSONValue, fail: (String) -> ModelFileError)
    throws(ModelFileError) -> (Architecture, TrainingRecord, ClassifierShape?)
  {
    guard header["format"]?.stringValue == "tripindex-model",
      let version = header["version"]?.intValue
    else {
      throw fail("the header does not describe a model")
    }
    guard (1...formatVersion).contains(version) else {
      throw fail(
        "format version \(version); this version reads model formats 1 to \(formatVersion)")
    }
    let architecture = try decodeArchitecture(header["architecture"], fail: fail)
    let training = try decodeTraining(header["training"], fail: fail)
    guard let parameterCount = header["parameter_count"]?.intValue,
      let stateCount = header["state_count"]?.intValue
    else {
      throw fail("the header lacks parameter_count or state_count")
    }
    guard parameterCount == architecture.parameterCount, stateCount == architecture.stateCount
    else {
      throw fail(
        "the counts (\(parameterCount) parameters, \(stateCount) state values) do not match the architecture (\(architecture.parameterCount), \(architecture.stateCount))"
      )
    }
    let classifier = try decodeClassifier(
      header, version: version, outputs: architecture.outputDimension, fail: fail)
    return (architecture, training, classifier)
  }

  /// The softmax head a header describes: required in version 2, absent in version 1.
  private static func decodeClassifier(
    _ header: JSONValue, version: Int, outputs: Int, fail: (String) -> ModelFileError
  ) throws(ModelFileError) -> ClassifierShape? {
    guard version >= 2 else {
      guard header["classifier"] == nil else {
        throw fail("a version 1 header with a classifier (version 2 carries one)")
      }
      return nil
    }
    guard let json = header["classifier"], let classes = json["classes"]?.intValue,
      let inputs = json["inputs"]?.intValue, let pidValues = json["pids"]?.arrayValue,
      let count = header["classifier_count"]?.intValue
    else {
      throw fail("a version 2 header needs classifier (classes, inputs, pids) and classifier_count")
    }
    let pids = pidValues.compactMap(\.intValue)
    guard inputs == outputs else {
      throw fail(
        "the classifier takes \(inputs) inputs; the embedding has \(outputs) dimensions")
    }
    guard classes > 0, classes <= 1 << 24, pids.count == pidValues.count, pids.count == classes
    else {
      throw fail(
        "the classifier's classes (\(classes)) and its pids (\(pidValues.count) integers expected) disagree"
      )
    }
    let shape = ClassifierShape(pids: pids, inputs: inputs)
    guard count == shape.valueCount else {
      throw fail(
        "classifier_count is \(count); \(classes) classes × \(inputs) inputs and biases are \(shape.valueCount)"
      )
    }
    return shape
  }

  /// A model from its checked parts: every value finite, the header's metric the one its
  /// training gives.
  static func assemble(
    parameters: [Float], state: [Float], classifier: ClassifierHead?, architecture: Architecture,
    training: TrainingRecord, header: JSONValue, path: String, fail: (String) -> ModelFileError
  ) throws(ModelFileError) -> EmbeddingModel {
    let values = parameters + state + (classifier.map { $0.weights + $0.biases } ?? [])
    if let bad = values.firstIndex(where: { !$0.isFinite }) {
      throw ModelFileError(
        path: path, .damaged, "weight \(bad) is \(values[bad]); a model must hold finite values")
    }
    let network = Network<Float>(architecture: architecture, parameters: parameters, state: state)
    let model = EmbeddingModel(network: network, training: training, classifier: classifier)
    guard let metricName = header["metric"]?.stringValue, metricName == model.metric.rawValue
    else {
      let found = header["metric"]?.stringValue.map { "'\($0)'" } ?? "missing"
      throw fail(
        "the header's metric is \(found); a model trained with the \(training.loss.distance.rawValue) distance embeds for the '\(model.metric.rawValue)' metric"
      )
    }
    return model
  }

  private static func decodeArchitecture(_ json: JSONValue?, fail: (String) -> ModelFileError)
    throws(ModelFileError)
    -> Architecture
  {
    guard let json, let input = json["input_dimension"]?.intValue,
      let output = json["output_dimension"]?.intValue,
      let hidden = json["hidden"]?.arrayValue?.compactMap(\.intValue),
      let batchNorm = json["batch_norm"]?.boolValue,
      let normalize = json["normalize_output"]?.boolValue
    else { throw fail("the header's architecture is incomplete") }
    guard input > 0, output > 0, hidden.allSatisfy({ $0 > 0 }),
      hidden.count == json["hidden"]?.arrayValue?.count
    else {
      throw fail("the header's architecture has a non-positive size")
    }
    let limit = VectorLimits.maximumDimension
    guard ([input, output] + hidden).allSatisfy({ $0 <= limit }), hidden.count <= 64 else {
      throw fail(
        "the header's architecture (input \(input), hidden \(hidden.prefix(8)), output \(output)) exceeds tripindex's limits: layers of at most \(limit) units, at most 64 hidden layers"
      )
    }
    return Architecture(
      inputDimension: input, hiddenSizes: hidden, outputDimension: output, batchNorm: batchNorm,
      normalizeOutput: normalize)
  }

  private static func decodeTraining(_ json: JSONValue?, fail: (String) -> ModelFileError)
    throws(ModelFileError)
    -> TrainingRecord
  {
    guard let json, let lossName = json["loss"]?.stringValue,
      let kind = LossKind(rawValue: lossName),
      let distanceName = json["distance"]?.stringValue,
      let distance = EmbeddingDistance(rawValue: distanceName),
      let marginJSON = json["margin"]
    else { throw fail("the header's training record is incomplete") }
    let margin: Margin
    if marginJSON.stringValue == "soft" {
      margin = .soft
    } else if let value = marginJSON.doubleValue {
      margin = .hinge(value)
    } else {
      throw fail("the header's margin is neither a number nor \"soft\"")
    }
    var loss = LossConfiguration(kind: kind, margin: margin, distance: distance)
    // Absent in files written before the joint recipe: the metric loss alone.
    loss.softmaxWeight = json["softmax_weight"]?.doubleValue ?? 0
    loss.labelSmoothing = json["label_smoothing"]?.doubleValue ?? 0
    loss.softmaxClasses = json["softmax_classes"]?.intValue ?? 0
    if let neck = json["bnneck"] {
      guard let name = neck.stringValue, let position = NeckPosition(rawValue: name) else {
        throw fail("the header's bnneck is neither \"before\" nor \"after\"")
      }
      loss.neck = position
    }
    guard loss.softmaxWeight >= 0, loss.softmaxWeight.isFinite, loss.labelSmoothing >= 0,
      loss.labelSmoothing < 1, loss.softmaxClasses >= 0
    else {
      throw fail("the header's softmax_weight, label_smoothing or softmax_classes is out of range")
    }
    return TrainingRecord(
      loss: loss,
      identitiesPerBatch: json["p"]?.intValue ?? 0, samplesPerIdentity: json["k"]?.intValue ?? 0,
      iterations: json["iterations"]?.intValue ?? 0,
      learningRate: json["learning_rate"]?.doubleValue ?? 0,
      weightDecay: json["weight_decay"]?.doubleValue ?? 0,
      seed: json["seed"]?.stringValue.flatMap { UInt64($0) } ?? 0,
      dataFingerprint: json["data_fingerprint"]?.stringValue ?? "",
      identities: json["identities"]?.intValue ?? 0, samples: json["samples"]?.intValue ?? 0,
      validationScore: json["validation_map"]?.doubleValue,
      keptIteration: json["kept_iteration"]?.intValue ?? 0)
  }

  private static func readWholeFile(_ path: String) throws(ModelFileError) -> [UInt8] {
    let bytes: [UInt8]
    do throws(FileSystemError) {
      bytes = try TextFile.contents(of: path)
    } catch {
      throw ModelFileError(path: path, .unreadable, error.message)
    }
    guard !bytes.isEmpty else {
      throw ModelFileError(path: path, .unreadable, "the file is empty; expected a model")
    }
    return bytes
  }
}
