import Embedding
import Plumbing

/// What `info --model` says of a model file: how it was built and trained, and how well it
/// validated.
public struct ModelDescription: Sendable {
  /// The file.
  public var path: String
  /// The model.
  public var model: EmbeddingModel

  /// Reads a model file (`.tpm` or safetensors).
  ///
  /// - Parameter path: the file.
  /// - Throws: `ModelFileError` for a missing, damaged or foreign file.
  public init(path: String) throws {
    self.path = path
    model = try EmbeddingModel.read(from: path)
  }

  /// The fields, in order, as (key, value) pairs; keys in snake_case, values as JSON.
  public var fields: [(String, JSONValue)] {
    let architecture = model.architecture
    let loss = model.training.loss
    let training = model.training
    var lossFields: [(String, JSONValue)] = [
      ("kind", .string(loss.kind.rawValue)), ("margin", .string("\(loss.margin)")),
      ("distance", .string(loss.distance.rawValue)),
    ]
    if loss.usesSoftmaxHead {
      lossFields += [
        ("softmax_weight", .number(loss.softmaxWeight)),
        ("label_smoothing", .number(loss.labelSmoothing)),
        ("softmax_classes", .integer(loss.softmaxClasses)),
      ]
    }
    lossFields.append(("neck", loss.neck.map { .string("\($0)") } ?? .null))
    let classifier = model.classifier?.json ?? .null
    return [
      ("path", .string(path)), ("fingerprint", .string(model.fingerprint)),
      ("metric", .string(model.metric.rawValue)),
      (
        "architecture",
        .object([
          ("summary", .string(architecture.summary)),
          ("input_dimension", .integer(architecture.inputDimension)),
          ("hidden_sizes", .array(architecture.hiddenSizes.map { .integer($0) })),
          ("output_dimension", .integer(architecture.outputDimension)),
          ("batch_norm", .bool(architecture.batchNorm)),
          ("normalized_output", .bool(architecture.normalizeOutput)),
          ("input_scaling", .string("standardised per dimension (mean and scale in the file)")),
        ])
      ),
      ("loss", .object(lossFields)),
      ("classifier", classifier),
      (
        "training",
        .object([
          ("iterations", .integer(training.iterations)),
          ("kept_iteration", .integer(training.keptIteration)),
          ("identities", .integer(training.identities)), ("samples", .integer(training.samples)),
          ("identities_per_batch", .integer(training.identitiesPerBatch)),
          ("samples_per_identity", .integer(training.samplesPerIdentity)),
          ("learning_rate", .number(training.learningRate)),
          ("weight_decay", .number(training.weightDecay)), ("seed", .string("\(training.seed)")),
          ("data_fingerprint", .string(training.dataFingerprint)),
          ("validation_map", training.validationScore.map { .number($0) } ?? .null),
        ])
      ),
    ]
  }

  /// The description as one JSON object.
  public var json: String { JSONValue.object(fields).serialized() }

  /// The description for people, one fact per line.
  public var text: UserText {
    let architecture = model.architecture
    let loss = model.training.loss
    let training = model.training
    let lossLine =
      "loss: \(loss.kind.rawValue), margin \(loss.margin), \(loss.distance.rawValue)"
      + (loss.usesSoftmaxHead
        ? "; \(loss.kind == .softmax ? "" : "softmax head weight \(loss.softmaxWeight), ")label smoothing \(loss.labelSmoothing), \(loss.softmaxClasses == 0 ? "full" : "\(loss.softmaxClasses) sampled") classes"
        : "") + (loss.neck.map { "; BNNeck, embedding taken \($0)" } ?? "")
    var lines: [UserText] = [
      "\(path): model \(model.fingerprint), \(model.metric.rawValue) embeddings",
      "layers: \(architecture.summary); inputs standardised per dimension",
      UserText(verbatim: lossLine),
      "trained: \(TextFormatting.grouped(training.iterations)) iterations (weights of iteration \(TextFormatting.grouped(training.keptIteration)) kept), \(training.identitiesPerBatch) identities × \(training.samplesPerIdentity) samples per batch, lr \(TextFormatting.scientific(training.learningRate, 2)), weight decay \(TextFormatting.scientific(training.weightDecay, 2)), seed \(training.seed)",
      "training set: \(TextFormatting.grouped(training.identities)) identities, \(TextFormatting.grouped(training.samples)) samples (data fingerprint \(training.dataFingerprint))",
    ]
    if let classifier = model.classifier {
      lines.append(
        "softmax head kept: \(TextFormatting.grouped(classifier.classes)) classes (training pids \(classifier.pids.first ?? 0)…\(classifier.pids.last ?? 0)) on the \(classifier.inputs)-d embedding; \(command: "export-model MODEL \(option: .pytorch) \(option: .head)") writes it"
      )
    } else if loss.usesSoftmaxHead {
      lines.append("softmax head: not kept (a model file from before format 2)")
    }
    lines.append(
      UserText(
        verbatim: training.validationScore.map {
          "validation: mAP \(TextFormatting.fixed($0 * 100, 1))% on held-out identities"
        } ?? "validation: none"))
    return UserText.joined(lines, separator: "\n")
  }
}
