import Plumbing

/// Models in the safetensors layout (8-byte little-endian header length, a JSON header naming
/// each tensor's `dtype`, `shape` and `data_offsets`, then the raw little-endian data), so that
/// numpy, PyTorch and the `safetensors` package read them.
///
/// Tensors are named like the layers of a PyTorch `nn.Sequential` of the architecture's layers
/// (`layers.0` the first Linear, `layers.1` its BatchNorm, `layers.2` the ReLU, …): a Linear's
/// `weight` is `[outputs, inputs]` and `bias` `[outputs]`; a BatchNorm's `weight`, `bias`,
/// `running_mean` and `running_var` are `[features]` (ε = 1e-5, PyTorch's default). The input
/// standardisation, applied first as `(x − mean) · scale`, is `input.mean` and `input.scale`;
/// an L2-normalised output has no tensor. A model that keeps its softmax head adds
/// `classifier.weight` (`[classes, embedding]`) and `classifier.bias` (`[classes]`), logits of
/// the embedding. `__metadata__` holds `format` = `tripindex-model`, the model file's header
/// (architecture, metric, training record, the head's pids) as `tripindex_header`, and the
/// checksum of the data section as `checksum`.
extension EmbeddingModel {
  /// One tensor of the layout: where its values sit in the network's parameters or state.
  struct TensorSlot {
    var name: String
    var shape: [Int]
    /// In ``Network/state`` rather than ``Network/parameters``.
    var inState: Bool
    var offset: Int
    /// A Linear weight: stored `inputs × outputs` here, `[outputs, inputs]` in the file.
    var transposedFrom: (rows: Int, columns: Int)?

    var count: Int { shape.reduce(1, *) }
  }

  /// The tensors of an architecture, in file order.
  static func tensorSlots(_ architecture: Architecture) -> [TensorSlot] {
    let inputs = architecture.inputDimension
    var slots = [
      TensorSlot(name: "input.mean", shape: [inputs], inState: true, offset: 0),
      TensorSlot(name: "input.scale", shape: [inputs], inState: true, offset: inputs),
    ]
    var parameterOffset = 0
    var stateOffset = 2 * inputs
    for (index, layer) in architecture.layers.enumerated() {
      switch layer {
      case .linear(let inputs, let outputs):
        slots.append(
          TensorSlot(
            name: "layers.\(index).weight", shape: [outputs, inputs], inState: false,
            offset: parameterOffset, transposedFrom: (inputs, outputs)))
        slots.append(
          TensorSlot(
            name: "layers.\(index).bias", shape: [outputs], inState: false,
            offset: parameterOffset + inputs * outputs))
      case .batchNorm(let features):
        slots += [
          TensorSlot(
            name: "layers.\(index).weight", shape: [features], inState: false,
            offset: parameterOffset),
          TensorSlot(
            name: "layers.\(index).bias", shape: [features], inState: false,
            offset: parameterOffset + features),
          TensorSlot(
            name: "layers.\(index).running_mean", shape: [features], inState: true,
            offset: stateOffset),
          TensorSlot(
            name: "layers.\(index).running_var", shape: [features], inState: true,
            offset: stateOffset + features),
        ]
      case .relu, .l2Normalize:
        break
      }
      parameterOffset += layer.parameterCount
      stateOffset += layer.stateCount
    }
    return slots
  }

  /// A tensor's values in file order (a Linear's weights as `[outputs, inputs]`).
  func values(of slot: TensorSlot) -> [Float] {
    let source = slot.inState ? network.state : network.parameters
    return (0..<slot.count).map { position in
      var index = slot.offset + position
      if let (rows, columns) = slot.transposedFrom {
        // File position (output o, input i) ← stored (input i, output o).
        index = slot.offset + (position % rows) * columns + position / rows
      }
      return source[index]
    }
  }

  /// A named tensor of a safetensors file, its data as stored.
  typealias SafetensorsTensor = (name: String, dtype: String, shape: [Int], bytes: [UInt8])

  /// Float32 values as little-endian bytes.
  static func littleEndianBytes(_ values: [Float]) -> [UInt8] {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(4 * values.count)
    for value in values {
      withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 }
    }
    return bytes
  }

  /// The softmax head's tensors, `classifier.weight` and `classifier.bias` (none without a head).
  var classifierTensors: [SafetensorsTensor] {
    guard let classifier else { return [] }
    return [
      (
        "classifier.weight", "F32", [classifier.classes, classifier.inputs],
        Self.littleEndianBytes(classifier.weights)
      ),
      ("classifier.bias", "F32", [classifier.classes], Self.littleEndianBytes(classifier.biases)),
    ]
  }

  /// The model in the safetensors layout.
  public var safetensorsBytes: [UInt8] {
    let tensors =
      Self.tensorSlots(architecture).map { slot -> SafetensorsTensor in
        (
          name: slot.name, dtype: "F32", shape: slot.shape,
          bytes: Self.littleEndianBytes(values(of: slot))
        )
      } + classifierTensors
    var checksum = Fingerprint()
    for tensor in tensors { tensor.bytes.withUnsafeBytes { checksum.add($0) } }
    return Self.safetensorsFile(
      metadata: [
        ("format", .string("tripindex-model")),
        ("tripindex_header", .string(header.serialized())),
        ("checksum", .string(checksum.hex)),
      ], tensors: tensors)
  }

  /// Writes the model as a plain PyTorch `nn.Sequential` state dict (atomically; see
  /// ``pytorchSequentialBytes(includingHead:)``).
  ///
  /// - Parameters:
  ///   - path: the file.
  ///   - includingHead: also write the softmax head (`classifier.*`); the model must have one.
  /// - Throws: ``ModelFileError`` of kind `cannotWrite`.
  public func writePyTorchSequential(to path: String, includingHead: Bool = false)
    throws(ModelFileError)
  {
    try Self.writeAtomically(pytorchSequentialBytes(includingHead: includingHead), to: path)
  }

  /// Writes the model in the safetensors layout (atomically).
  ///
  /// - Parameter path: the destination.
  /// - Throws: ``ModelFileError`` when the file cannot be written.
  public func writeSafetensors(to path: String) throws(ModelFileError) {
    try Self.writeAtomically(safetensorsBytes, to: path)
  }

  /// Decodes a model in the safetensors layout: the model header from `__metadata__`, then
  /// every tensor the architecture needs, with its dtype (F32), shape and byte range checked,
  /// and the data's checksum.
  ///
  /// - Parameters:
  ///   - bytes: the file's bytes.
  ///   - path: the name used in errors.
  /// - Returns: the model.
  /// - Throws: ``ModelFileError`` naming what is wrong.
  public static func decodeSafetensors(_ bytes: [UInt8], path: String) throws(ModelFileError)
    -> EmbeddingModel
  {
    func fail(_ message: String) -> ModelFileError {
      ModelFileError(path: path, .badHeader, message)
    }
    guard bytes.count >= 8 else { throw fail("too short for a safetensors header") }
    let announced = bytes.withUnsafeBytes {
      UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))
    }
    guard announced <= UInt64(bytes.count - 8) else {
      throw ModelFileError(
        path: path, .damaged,
        "truncated: the safetensors header announces \(announced) bytes but the file has \(bytes.count - 8)"
      )
    }
    let headerEnd = 8 + Int(announced)
    let json: JSONValue
    do throws(JSONValue.ParseError) {
      json = try JSONValue.parse(String(decoding: bytes[8..<headerEnd], as: UTF8.self))
    } catch {
      throw fail("the safetensors header is not valid JSON (\(error))")
    }
    guard json["__metadata__"]?["format"]?.stringValue == "tripindex-model",
      let headerText = json["__metadata__"]?["tripindex_header"]?.stringValue
    else {
      throw fail(
        "a safetensors file without tripindex's metadata (__metadata__.format = tripindex-model and tripindex_header): its architecture is unknown"
      )
    }
    let header: JSONValue
    do throws(JSONValue.ParseError) {
      header = try JSONValue.parse(headerText)
    } catch {
      throw fail("__metadata__.tripindex_header is not valid JSON (\(error))")
    }
    let (architecture, training, head) = try describedModel(header, fail: fail)
    let data = bytes[headerEnd...]
    var checksum = Fingerprint()
    data.withUnsafeBytes { checksum.add($0) }
    if let stored = json["__metadata__"]?["checksum"]?.stringValue, stored != checksum.hex {
      throw ModelFileError(
        path: path, .damaged,
        "checksum mismatch: the tensor data is corrupt (stored \(stored), computed \(checksum.hex))"
      )
    }
    // A tensor's Float32 values, its dtype, shape and byte range checked.
    func tensorValues(_ name: String, shape expected: [Int]) throws(ModelFileError) -> [Float] {
      guard let tensor = json[name] else { throw fail("tensor \(name) is missing") }
      guard tensor["dtype"]?.stringValue == "F32" else {
        throw fail(
          "tensor \(name) has dtype \(tensor["dtype"]?.stringValue ?? "none"); expected F32")
      }
      let shape = tensor["shape"]?.arrayValue?.compactMap(\.intValue) ?? []
      guard shape == expected else {
        throw fail("tensor \(name) has shape \(shape); the model needs \(expected)")
      }
      let count = expected.reduce(1, *)
      let offsets = tensor["data_offsets"]?.arrayValue?.compactMap(\.intValue) ?? []
      guard offsets.count == 2, offsets[0] >= 0, offsets[1] - offsets[0] == 4 * count,
        offsets[1] <= data.count
      else {
        throw fail(
          "tensor \(name) has data_offsets \(offsets); \(4 * count) bytes within the \(data.count) of data are needed"
        )
      }
      let start = headerEnd + offsets[0]
      return bytes.withUnsafeBytes { LittleEndianFloats.values(in: $0, from: start, count: count) }
    }
    var parameters = [Float](repeating: 0, count: architecture.parameterCount)
    var state = [Float](repeating: 0, count: architecture.stateCount)
    for slot in tensorSlots(architecture) {
      for (position, value) in try tensorValues(slot.name, shape: slot.shape).enumerated() {
        var index = slot.offset + position
        if let (rows, columns) = slot.transposedFrom {
          index = slot.offset + (position % rows) * columns + position / rows
        }
        if slot.inState { state[index] = value } else { parameters[index] = value }
      }
    }
    var classifier: ClassifierHead?
    if let head {
      classifier = ClassifierHead(
        pids: head.pids, inputs: head.inputs,
        weights: try tensorValues("classifier.weight", shape: [head.classes, head.inputs]),
        biases: try tensorValues("classifier.bias", shape: [head.classes]))
    }
    return try assemble(
      parameters: parameters, state: state, classifier: classifier, architecture: architecture,
      training: training, header: header, path: path, fail: fail)
  }
}

extension EmbeddingModel {
  /// The model as the state dict of a plain PyTorch `nn.Sequential` of its layers, in the
  /// safetensors layout: keys `0.weight`, `0.bias` (the first Linear, with the input
  /// standardisation folded in: `W · diag(scale)` and `b − W · (mean ⊙ scale)`), then for each
  /// BatchNorm `weight`, `bias`, `running_mean`, `running_var` and `num_batches_tracked` (I64, 0),
  /// ReLUs taking an index without tensors, as `nn.Sequential(nn.Linear(…), nn.BatchNorm1d(…),
  /// nn.ReLU(), …, nn.Linear(…))` numbers them. `load_state_dict` takes it as it is; an
  /// L2-normalised output (`__metadata__.normalize_output` = `true`) is left to
  /// `torch.nn.functional.normalize` after the call. With `includingHead`, the softmax head is
  /// added as `classifier.weight` (`[classes, embedding]`), `classifier.bias` and
  /// `classifier.pids` (I64, each class's training pid), for an `nn.Linear` applied to the
  /// (normalised, if so) embedding; these keys are taken out before `load_state_dict`. Not read
  /// back by tripindex (the model file and ``safetensorsBytes`` are).
  ///
  /// - Parameter includingHead: add the softmax head; the model must have one.
  /// - Returns: the file's bytes.
  public func pytorchSequentialBytes(includingHead: Bool = false) -> [UInt8] {
    precondition(!includingHead || classifier != nil, "the model has no softmax head")
    var tensors: [SafetensorsTensor] = []
    let slots = Self.tensorSlots(architecture)
    func values(_ slot: TensorSlot) -> [Double] { self.values(of: slot).map(Double.init) }
    func floats(_ values: [Double]) -> [UInt8] { Self.littleEndianBytes(values.map(Float.init)) }
    let mean = values(slots[0])
    let scale = values(slots[1])
    var folded = false
    for slot in slots.dropFirst(2) {
      let name = String(slot.name.dropFirst("layers.".count))
      var data = values(slot)
      if !folded, name.hasSuffix(".weight"), slot.transposedFrom != nil {
        // The first Linear takes the standardisation: W'[o][i] = W[o][i] · scale[i].
        let inputs = slot.shape[1]
        for output in 0..<slot.shape[0] {
          for input in 0..<inputs { data[output * inputs + input] *= scale[input] }
        }
      } else if !folded, name.hasSuffix(".bias") {
        // b' = b − W · (mean ⊙ scale), with W the first Linear's weights as stored.
        let weights = values(slots[2])
        let inputs = architecture.inputDimension
        for output in 0..<data.count {
          var shift = 0.0
          for input in 0..<inputs {
            shift += weights[output * inputs + input] * mean[input] * scale[input]
          }
          data[output] -= shift
        }
        folded = true
      }
      tensors.append((name, "F32", slot.shape, floats(data)))
      if name.hasSuffix(".running_var"), let layer = Int(name.prefix { $0 != "." }) {
        tensors.append(
          ("\(layer).num_batches_tracked", "I64", [], withUnsafeBytes(of: Int64(0)) { Array($0) }))
      }
    }
    if includingHead, let classifier {
      var pids: [UInt8] = []
      for pid in classifier.pids {
        withUnsafeBytes(of: Int64(pid).littleEndian) { pids += $0 }
      }
      tensors += classifierTensors + [("classifier.pids", "I64", [classifier.classes], pids)]
    }
    return Self.safetensorsFile(
      metadata: [
        ("format", .string("pytorch-sequential")),
        ("normalize_output", .string(architecture.normalizeOutput ? "true" : "false")),
        ("tripindex_header", .string(header.serialized())),
      ], tensors: tensors)
  }

  /// A safetensors file: the 8-byte header length, the JSON header (`__metadata__`, then each
  /// tensor's dtype, shape and data offsets), padded with spaces so the data starts 8-byte
  /// aligned, then the data.
  static func safetensorsFile(metadata: [(String, JSONValue)], tensors: [SafetensorsTensor])
    -> [UInt8]
  {
    var data: [UInt8] = []
    var entries: [(String, JSONValue)] = []
    for tensor in tensors {
      let begin = data.count
      data += tensor.bytes
      entries.append(
        (
          tensor.name,
          .object([
            ("dtype", .string(tensor.dtype)), ("shape", .array(tensor.shape.map { .integer($0) })),
            ("data_offsets", .array([.integer(begin), .integer(data.count)])),
          ])
        ))
    }
    var headerBytes = Array(
      JSONValue.object([("__metadata__", .object(metadata))] + entries).serialized().utf8)
    while (8 + headerBytes.count) % 8 != 0 { headerBytes.append(UInt8(ascii: " ")) }
    var bytes: [UInt8] = []
    withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { bytes += $0 }
    return bytes + headerBytes + data
  }
}
