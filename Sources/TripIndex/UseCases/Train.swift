import Embedding
import Evaluation
import LSHIndex
import Plumbing
import VectorIO
import VectorMath

/// The `train` command: fit an embedder on a labelled folder.
public enum Train {
  /// What to train.
  public struct Options: Sendable {
    /// The training folder (or file), in the layouts `build` reads; every item needs a pid.
    public var input: String
    /// Where to write the model.
    public var output: String
    /// Network and optimisation settings.
    public var training = TrainingOptions()
    /// The fraction of identities held out to validate (0 turns validation off).
    public var validationFraction = 0.1
    /// Which pids are distractors and junk, left out of training (Market-1501's 0 and −1 by
    /// default).
    public var pidConventions = PIDConventions.market1501
    /// How progress lines reach stderr while training.
    public var log = TrainingLog.terminal

    /// Creates options with the trainer's defaults.
    ///
    /// - Parameters:
    ///   - input: the training set.
    ///   - output: the model file.
    public init(input: String, output: String) {
      self.input = input
      self.output = output
    }
  }

  /// What a training run did.
  public struct Report: Sendable {
    /// The model file.
    public var output: String
    /// The model.
    public var model: EmbeddingModel
    /// Training identities and samples (after the validation split).
    public var identities: Int, samples: Int
    /// Validation identities and samples.
    public var validationIdentities: Int, validationSamples: Int
    /// Items left out: junk (pid −1) and distractors (pid 0).
    public var excluded: Int
    /// Validation mAP by iteration.
    public var validationHistory: [(iteration: Int, score: Double)]
    /// Wall-clock seconds.
    public var seconds: Double

    /// A one-line summary.
    public var summary: String {
      let record = model.training
      var text = "\(output): \(model.architecture.summary), \(record.loss.kind.rawValue)"
      if record.loss.kind != .softmax {
        text += " (margin \(record.loss.margin), \(record.loss.distance.rawValue))"
      }
      text +=
        ", \(record.iterations) iterations of \(record.identitiesPerBatch)×\(record.samplesPerIdentity)"
      text +=
        " on \(TextFormatting.grouped(samples)) vectors of \(TextFormatting.grouped(identities)) identities"
      if let score = record.validationScore {
        text +=
          "; kept iteration \(record.keptIteration), validation mAP \(TextFormatting.fixed(score * 100, 1))%"
        text += " (\(validationIdentities) held-out identities)"
      }
      return text + "; \(TextFormatting.seconds(seconds))"
    }
  }

  /// Trains and writes a model.
  ///
  /// - Parameters:
  ///   - options: what to train.
  ///   - progress: status output; validation lines and warnings go to stderr.
  /// - Returns: what was done.
  /// - Throws: `VectorIOError` or ``TripIndexError`` for bad input, `TrainingError` when
  ///   training cannot proceed.
  public static func run(_ options: Options, progress: any ProgressReporting) throws -> Report {
    guard (0..<1).contains(options.validationFraction) else {
      throw TripIndexError(
        "\(option: .validation) must be in [0, 1), not \(options.validationFraction)")
    }
    try checkSoftmaxHead(options.training.loss)
    if options.training.loss.neck == .after && options.training.normalizeOutput {
      throw TripIndexError(
        "\(option: .embedFrom) after folds the neck into the output layer, which \(option: .normalize) would follow; use one of them"
      )
    }
    let started = MonotonicClock.now()
    let data = try LabelledVectors.load(options.input, progress: progress)
    let fitted = try fit(
      data, training: options.training, validationFraction: options.validationFraction,
      pidConventions: options.pidConventions, log: options.log, progress: progress)
    let result = fitted.result
    let training = fitted.training
    let validation = fitted.validation
    let excluded = fitted.excluded
    try result.model.write(to: options.output)
    progress.finish()
    return Report(
      output: options.output, model: result.model, identities: Set(training.identities).count,
      samples: training.vectors.rows,
      validationIdentities: validation.map { Set($0.pids).count } ?? 0,
      validationSamples: validation?.pids.count ?? 0,
      excluded: excluded, validationHistory: result.validationHistory,
      seconds: MonotonicClock.now() - started)
  }

  /// What ``fit(_:training:validationFraction:pidConventions:log:progress:)`` trained on and
  /// produced.
  public struct Fitted: Sendable {
    /// The trained model and its histories.
    public var result: TrainingResult
    /// The training split.
    public var training: TrainingData
    /// The held-out identities, if any.
    var validation: Validation?
    /// Junk and distractor items left out.
    public var excluded: Int
  }

  /// Trains a model on loaded data: splits off validation identities, trains with progress lines
  /// and warnings on `progress`, and keeps the best validated weights when asked to.
  ///
  /// - Parameters:
  ///   - data: labelled training vectors (every item needs a pid).
  ///   - training: the network, loss and optimiser settings.
  ///   - validationFraction: the share of identities held out, in [0, 1).
  ///   - pidConventions: which pids mark junk and distractors (left out of training).
  ///   - log: how training reports its progress.
  ///   - progress: status output.
  /// - Returns: the model and what it was trained on.
  /// - Throws: ``TripIndexError`` for missing pids, `TrainingError` when training cannot proceed.
  public static func fit(
    _ data: LabelledVectors, training: TrainingOptions, validationFraction: Double,
    pidConventions: PIDConventions = .market1501, log: TrainingLog = .terminal,
    progress: any ProgressReporting
  ) throws -> Fitted {
    var training = training
    if case .every(let iterations) = log { training.progressInterval = iterations }
    if case .json(let iterations) = log { training.progressInterval = iterations }
    let (trainingData, validation, excluded) = try split(
      data, fraction: validationFraction, seed: training.seed, conventions: pidConventions)
    for warning in pidConventions.warnings(
      pids: data.labels.compactMap(\.pid), role: "training items",
      outcome: "are not identities and were left out of training")
    {
      progress.warn(warning)
    }
    if training.loss.kind == .ladder && trainingData.groups == nil {
      progress.warn(
        "the ladder loss has no groups to grade by (labels.csv has no group column), so it has two levels, same identity or not: batch-hard with a hinge margin"
      )
    }
    let validate: ((EmbeddingModel) -> Double)? = validation.map { validation in
      let labels = LabelSet(
        pids: validation.pids, cameras: Array(repeating: 0, count: validation.pids.count))
      return { model in
        var embedded = model.embed(validation.vectors)
        if model.metric.normalizesVectors { embedded.normalizeRows() }
        var evaluator = Evaluator(evaluationProtocol: .retrieval(excludeSelf: true), maxRank: 1)
        evaluator.threads = 1
        return evaluator.evaluate(
          queryVectors: embedded, galleryVectors: embedded, metric: model.metric, queries: labels,
          gallery: labels
        ).mAP
      }
    }
    let iterations = training.iterations
    let result = try Trainer.train(trainingData, options: training, validate: validate) {
      event in
      switch event {
      case .warning(let message):
        progress.warn(UserText(verbatim: message))
      case .progress(let iteration, let loss, let active, let rate, let score):
        var line =
          "iteration \(iteration)/\(iterations): loss \(TextFormatting.fixed(loss, 4)), active \(TextFormatting.fixed(active * 100, 0))%, lr \(TextFormatting.scientific(rate, 2))"
        if let score { line += ", validation mAP \(TextFormatting.fixed(score * 100, 1))%" }
        switch log {
        case .terminal:
          progress.line(line)
        case .every:
          progress.log(line + "\n")
        case .json:
          var json = OutputBuffer(stream: nil)
          json.write("{\"iteration\": \(iteration), \"iterations\": \(iterations), \"loss\": ")
          json.writeJSONNumber(Float(loss))
          json.write(", \"active\": ")
          json.writeJSONNumber(Float(active))
          json.write(", \"learning_rate\": \(rate), \"validation_map\": ")
          if let score { json.writeJSONNumber(Float(score)) } else { json.write("null") }
          json.write("}\n")
          progress.log(json.text)
        }
      }
    }
    return Fitted(
      result: result, training: trainingData, validation: validation, excluded: excluded)
  }

  /// The joint recipe's settings (batch-hard soft margin + a softmax head), as Luo et al.'s
  /// strong re-ID baseline combines them, chosen by validation mAP on the held-out 10% of the
  /// shipped set's training identities (never its test identities), three seeds each: weight
  /// 0 → 95.2%, 0.03 → 95.9%, 0.1 → 95.9%, 0.3 → 95.4%; at weight 0.1, without smoothing and
  /// weight decay 95.3%, with smoothing 0.1 only 95.4%, with weight decay 1e-4 only 95.6%.
  /// Scoring 48 classes per batch (the batch's 16 and 32 drawn) instead of all 180 gave
  /// 95.90% against 95.82% (32: 95.89%, 64: 95.83%) and keeps a step within 15% of batch-hard
  /// alone, whatever the number of training identities. A BNNeck did not help on these MLP
  /// features (retrieval before it 95.77%, after it 94.99%), so it is not part of the recipe.
  public enum JointRecipe {
    /// The softmax head's weight.
    public static let softmaxWeight = 0.1
    /// Its label smoothing.
    public static let labelSmoothing = 0.1
    /// Classes the head scores per batch (a sampled softmax).
    public static let softmaxClasses = 48
    /// Adam's weight decay.
    public static let weightDecay = 1e-4
  }

  /// Checks the softmax head's settings: a weight ≥ 0 added to a metric loss only (the
  /// surrogate is the head alone), label smoothing in [0, 1).
  ///
  /// - Parameter loss: the loss configuration.
  /// - Throws: ``TripIndexError`` naming the option.
  public static func checkSoftmaxHead(_ loss: LossConfiguration) throws {
    guard loss.softmaxWeight >= 0, loss.softmaxWeight.isFinite else {
      throw TripIndexError(
        "\(option: .softmaxWeight) must be a non-negative number, not \(loss.softmaxWeight)")
    }
    guard (0..<1).contains(loss.labelSmoothing) else {
      throw TripIndexError(
        "\(option: .labelSmoothing) must be in [0, 1), not \(loss.labelSmoothing)")
    }
    guard loss.softmaxClasses >= 0 else {
      throw TripIndexError(
        "\(option: .softmaxClasses) must be 0 (all classes) or a positive count, not \(loss.softmaxClasses)"
      )
    }
    if loss.softmaxClasses > 0 && !loss.usesSoftmaxHead {
      throw TripIndexError(
        "\(option: .softmaxClasses) needs a softmax head (\(option: .loss) softmax, or \(option: .softmaxWeight) above 0)"
      )
    }
    if loss.neck != nil && !loss.usesSoftmaxHead {
      throw TripIndexError(
        "\(option: .bnneck) sits in front of a softmax head (\(option: .loss) softmax, or \(option: .softmaxWeight) above 0)"
      )
    }
    if loss.kind == .softmax && loss.softmaxWeight > 0 {
      throw TripIndexError(
        "\(option: .softmaxWeight) adds a softmax head to a metric loss; \(option: .loss) softmax is the head alone"
      )
    }
  }

  /// The BNNeck setting from the `bnneck` and `embedFrom` options.
  ///
  /// - Parameters:
  ///   - bnneck: whether a neck is trained.
  ///   - embedFrom: where retrieval takes the embedding (`nil`: before the neck).
  /// - Returns: the neck position, or `nil` for no neck.
  /// - Throws: ``TripIndexError`` for `embedFrom` without `bnneck`.
  public static func neckPosition(bnneck: Bool, embedFrom: NeckPosition?) throws -> NeckPosition? {
    guard bnneck else {
      if embedFrom != nil {
        throw TripIndexError("\(option: .embedFrom) needs \(option: .bnneck)")
      }
      return nil
    }
    return embedFrom ?? .before
  }

  /// A loss's default margin: soft for batch-hard and batch-all, 0.3 otherwise.
  ///
  /// - Parameter loss: the loss.
  /// - Returns: the margin.
  public static func defaultMargin(for loss: LossKind) -> Margin {
    [.batchHard, .batchAll].contains(loss) ? .soft : .hinge(0.3)
  }

  /// The weight decay a loss trains best with by default: 1e-3 for the softmax surrogate (on the
  /// shipped re-ID set, 1e-4 → 1e-3 lifts its mAP from 0.67 to 0.71; without decay it loses more),
  /// 0 for the metric losses.
  ///
  /// - Parameter loss: the loss.
  /// - Returns: λ.
  public static func defaultWeightDecay(for loss: LossKind) -> Double {
    loss == .softmax ? 1e-3 : 0
  }

  /// The learning rate a loss trains best with by default: 3e-3 for the soft margin and the
  /// softmax surrogate (measured on the shipped re-ID set: batch-hard soft margin 0.742 → 0.777
  /// mAP from 1e-3 to 3e-3), 1e-3 for hinge-margin and other losses, which degrade at higher
  /// rates.
  ///
  /// - Parameters:
  ///   - loss: the loss.
  ///   - margin: its margin.
  /// - Returns: the initial learning rate.
  public static func defaultLearningRate(for loss: LossKind, margin: Margin) -> Double {
    loss == .softmax || margin == .soft && loss != .multipleNegatives ? 3e-3 : 1e-3
  }

  /// A held-out set of identities.
  struct Validation {
    var vectors: Matrix
    var pids: [Int32]
  }

  /// Splits items by identity: a seeded random `fraction` of identities (at least 2, when there
  /// are at least 4 identities) goes to validation. Junk and distractors are left out. When any
  /// item has a group (labels.csv's `group` column), every item must, and the groups go with the
  /// training rows (the ladder loss's middle level).
  static func split(
    _ data: LabelledVectors, fraction: Double, seed: UInt64,
    conventions: PIDConventions = .market1501
  ) throws -> (TrainingData, Validation?, Int) {
    var rowsByIdentity: [Int32: [Int]] = [:]
    var excluded = 0
    let hasGroups = data.labels.contains { $0.group != nil }
    for (row, label) in data.labels.enumerated() {
      guard let pid = label.pid else {
        throw TripIndexError(
          "training item '\(data.names[row])' from \(data.source) has no pid; training needs a pid for every item (labels.csv or Market-1501 names)"
        )
      }
      if !conventions.isIdentity(pid) {
        excluded += 1
        continue
      }
      if hasGroups && label.group == nil {
        throw TripIndexError(
          "training item '\(data.names[row])' from \(data.source) has no group, but others do; give every item a group in labels.csv or none"
        )
      }
      rowsByIdentity[pid, default: []].append(row)
    }
    var identities = rowsByIdentity.keys.sorted()
    var random = SeededRandom(seed: seed &+ 7)
    random.shuffle(&identities)
    let held =
      identities.count >= 4 && fraction > 0
      ? max(2, Int((Double(identities.count) * fraction).rounded())) : 0
    let validationIdentities = Set(identities.prefix(held))
    func gather(_ keep: (Int32) -> Bool) -> (Matrix, [Int32], [Int]) {
      var values: [Float] = []
      var pids: [Int32] = []
      var groups: [Int] = []
      for pid in rowsByIdentity.keys.sorted() where keep(pid) {
        for row in rowsByIdentity[pid] ?? [] {
          values += data.vectors.row(row)
          pids.append(pid)
          if let group = data.labels[row].group { groups.append(Int(group)) }
        }
      }
      return (Matrix(rows: pids.count, columns: data.vectors.columns, values: values), pids, groups)
    }
    let (trainingVectors, trainingPIDs, trainingGroups) = gather {
      !validationIdentities.contains($0)
    }
    let validation = held > 0 ? gather { validationIdentities.contains($0) } : nil
    return (
      TrainingData(
        vectors: trainingVectors, identities: trainingPIDs.map { Int($0) },
        groups: hasGroups ? trainingGroups : nil),
      validation.map { Validation(vectors: $0.0, pids: $0.1) }, excluded
    )
  }
}

/// Where training's progress lines go.
public enum TrainingLog: Sendable, Equatable {
  /// On a terminal only, as a status line (quiet when stderr is not one).
  case terminal
  /// A line on stderr every `iterations` iterations (and at each validation), terminal or not.
  case every(iterations: Int)
  /// A JSON object per line on stderr every `iterations` iterations (and at each validation):
  /// `iteration`, `iterations`, `loss`, `active`, `learning_rate`, `validation_map` (or null).
  case json(iterations: Int)
}
