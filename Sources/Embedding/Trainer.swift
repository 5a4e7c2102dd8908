import VectorMath

/// Settings for training an embedder.
public struct TrainingOptions: Sendable {
  /// Hidden layer widths.
  public var hiddenSizes: [Int] = [256]
  /// Embedding dimension.
  public var outputDimension = 64
  /// BatchNorm in hidden blocks.
  public var batchNorm = true
  /// L2-normalise embeddings (hinge losses on the unit sphere; the soft margin collapses there).
  public var normalizeOutput = false
  /// The loss.
  public var loss = LossConfiguration(kind: .batchHard, margin: .soft, distance: .euclidean)
  /// P: identities per batch.
  public var identitiesPerBatch = 16
  /// K: samples per identity.
  public var samplesPerIdentity = 4
  /// Iterations (batches).
  public var iterations = 3000
  /// The initial learning rate.
  public var learningRate = 1e-3
  /// L2 weight decay.
  public var weightDecay = 0.0
  /// The fraction of iterations after which the learning rate starts to decay.
  public var decayStart = 0.5
  /// The seed of every random draw (initialisation and sampling).
  public var seed: UInt64 = 1
  /// Validate (and report) every this many iterations.
  public var validationInterval = 250
  /// Report progress (mean loss since the last report, active fraction, learning rate) every
  /// this many iterations as well; `nil` reports only when validating. Validation, and so the
  /// weights kept, do not depend on it.
  public var progressInterval: Int?
  /// Keep the weights with the best validation score rather than the last ones.
  public var keepBest = true

  /// Default options: batch-hard soft-margin triplet loss on Euclidean distances.
  public init() {}
}

/// A training set: vectors and each row's identity (and optional coarser group).
public struct TrainingData: Sendable {
  /// One input per row.
  public var vectors: Matrix
  /// Each row's identity (any integers).
  public var identities: [Int]
  /// Each row's group, for the ladder loss.
  public var groups: [Int]?

  /// Creates a training set.
  ///
  /// - Parameters:
  ///   - vectors: inputs.
  ///   - identities: one identity per row.
  ///   - groups: one group per row, or `nil`.
  public init(vectors: Matrix, identities: [Int], groups: [Int]? = nil) {
    precondition(vectors.rows == identities.count, "one identity per row")
    self.vectors = vectors
    self.identities = identities
    self.groups = groups
  }

  /// A fingerprint of the vectors and labels.
  public var fingerprint: String {
    var fingerprint = Fingerprint()
    fingerprint.add(vectors.values)
    fingerprint.add(identities)
    if let groups { fingerprint.add(groups) }
    return fingerprint.hex
  }
}

/// What the trainer reports as it goes.
public enum TrainingEvent: Sendable {
  /// A periodic summary.
  case progress(
    iteration: Int, loss: Double, activeFraction: Double, learningRate: Double, validation: Double?)
  /// Something the user should know (collapse, skipped identities).
  case warning(String)
}

/// A training run's outcome.
public struct TrainingResult: Sendable {
  /// The model (best or last weights, as asked).
  public var model: EmbeddingModel
  /// Validation scores by iteration.
  public var validationHistory: [(iteration: Int, score: Double)]
  /// Mean loss over each reporting interval, by iteration.
  public var lossHistory: [(iteration: Int, loss: Double)]
}

/// A problem that stops training.
public struct TrainingError: Error, Sendable, CustomStringConvertible {
  /// What went wrong and what to do.
  public let message: String
  /// The message.
  public var description: String { message }
}

/// Trains embedders with mini-batch Adam on P×K batches.
public enum Trainer {
  /// Trains a network.
  ///
  /// BLAS runs on one thread so that the same seed gives bit-identical weights.
  ///
  /// - Parameters:
  ///   - data: the training set.
  ///   - options: the settings.
  ///   - validate: scores a model (higher is better, e.g. validation mAP); called every
  ///     ``TrainingOptions/validationInterval`` iterations and at the end.
  ///   - observe: receives progress and warnings.
  /// - Returns: the trained model and its history.
  /// - Throws: ``TrainingError`` for unusable data or a diverging run.
  public static func train(
    _ data: TrainingData, options: TrainingOptions, validate: ((EmbeddingModel) -> Double)? = nil,
    observe: (TrainingEvent) -> Void = { _ in }
  ) throws -> TrainingResult {
    guard options.iterations > 0, options.identitiesPerBatch > 0, options.samplesPerIdentity > 0
    else {
      throw TrainingError(message: "iterations, P and K must be positive")
    }
    if options.loss.kind.needsPositives && options.samplesPerIdentity < 2 {
      throw TrainingError(
        message: "the \(options.loss.kind.rawValue) loss needs K ≥ 2 samples per identity")
    }
    // One BLAS thread, so that a seed gives bit-identical weights; put back on return.
    let previousThreads = BLAS.threadCount
    BLAS.setThreadCount(1)
    defer { BLAS.setThreadCount(previousThreads) }
    let classes = Dictionary(
      uniqueKeysWithValues: Set(data.identities).sorted().enumerated().map { ($1, $0) })
    let classLabels = data.identities.map { classes[$0] ?? 0 }
    var sampler = PKSampler(
      labels: data.identities, identitiesPerBatch: options.identitiesPerBatch,
      samplesPerIdentity: options.samplesPerIdentity,
      minimumSamples: options.loss.kind.needsPositives ? 2 : 1,
      seed: options.seed &+ 1)
    let skipped = classes.count - sampler.usableIdentities
    if skipped > 0 {
      observe(
        .warning(
          "\(skipped) identities have a single sample and cannot give positives; they are not sampled"
        ))
    }
    guard sampler.usableIdentities >= 2 else {
      throw TrainingError(
        message:
          "training needs at least 2 identities with 2 or more samples each; found \(sampler.usableIdentities)"
      )
    }
    let architecture = Architecture(
      inputDimension: data.vectors.columns, hiddenSizes: options.hiddenSizes,
      outputDimension: options.outputDimension,
      batchNorm: options.batchNorm, normalizeOutput: options.normalizeOutput)
    var network = Network<Float>(architecture: architecture, seed: options.seed)
    network.standardizeInputs(
      from: Tensor(
        rows: data.vectors.rows, columns: data.vectors.columns, values: data.vectors.values))
    var optimizer = Adam<Float>(
      count: network.parameters.count, weightDecay: Float(options.weightDecay))
    var head =
      options.loss.usesSoftmaxHead
      ? SoftmaxHead<Float>(
        inputs: options.outputDimension, classes: classes.count, seed: options.seed &+ 2) : nil
    // The sampled softmax's draws come from a stream of their own, so the batches stay the same.
    var candidateRandom = SeededRandom(seed: options.seed &+ 3)
    var headOptimizer = head.map {
      Adam<Float>(count: $0.parameters.count, weightDecay: Float(options.weightDecay))
    }
    var neck = options.loss.neck.map { _ in BatchNormNeck<Float>(features: options.outputDimension)
    }
    var neckOptimizer = neck.map {
      Adam<Float>(count: $0.parameters.count, weightDecay: Float(options.weightDecay))
    }
    let schedule = LearningRateSchedule(
      initial: options.learningRate,
      decayStart: Int(Double(options.iterations) * options.decayStart),
      end: options.iterations)

    func record(kept iteration: Int, score: Double?) -> TrainingRecord {
      TrainingRecord(
        loss: options.loss, identitiesPerBatch: sampler.identitiesPerBatch,
        samplesPerIdentity: options.samplesPerIdentity, iterations: options.iterations,
        learningRate: options.learningRate, weightDecay: options.weightDecay, seed: options.seed,
        dataFingerprint: data.fingerprint, identities: classes.count, samples: data.vectors.rows,
        validationScore: score, keptIteration: iteration)
    }

    // The network retrieval uses: the trunk, with the BNNeck's inference map folded into its
    // output layer when retrieval takes the embedding after the neck.
    func retrievalNetwork() -> Network<Float> {
      guard options.loss.neck == .after, let neck else { return network }
      var folded = network
      let (scale, shift) = neck.inferenceAffine
      folded.foldIntoOutput(scale: scale, shift: shift)
      return folded
    }

    // The head as the model keeps it: on the retrieval embedding (a neck the head reads while the
    // embedding is taken before it folded in), classes labelled with their pids.
    let classPIDs = classes.sorted { $0.value < $1.value }.map(\.key)
    func retrievalClassifier() -> ClassifierHead? {
      guard let head else { return nil }
      let folding = options.loss.neck == .before ? neck?.inferenceAffine : nil
      return ClassifierHead(head, pids: classPIDs, foldingNeck: folding)
    }

    var best:
      (
        score: Double, iteration: Int, parameters: [Float], state: [Float],
        classifier: ClassifierHead?
      )?
    var validationHistory: [(Int, Double)] = []
    var lossHistory: [(Int, Double)] = []
    var intervalLoss = 0.0
    var intervalActive = 0.0
    var intervalSteps = 0
    var warnedCollapse = false
    let columns = data.vectors.columns
    var batchValues = [Float]()
    for iteration in 1...options.iterations {
      let rows = sampler.nextBatch()
      batchValues.removeAll(keepingCapacity: true)
      for row in rows {
        batchValues += data.vectors.values[(row * columns)..<((row + 1) * columns)]
      }
      network.zeroGradients()
      head?.zeroGradients()
      neck?.zeroGradients()
      let embeddings = network.forward(
        Tensor(rows: rows.count, columns: columns, values: batchValues), training: true)
      var result: LossResult<Float>
      let smoothing = Float(options.loss.labelSmoothing)
      let headLabels = head == nil ? [] : rows.map { classLabels[$0] }
      let candidates =
        head != nil && options.loss.softmaxClasses > 0
        ? SoftmaxCandidates.draw(
          labels: headLabels, totalClasses: classes.count, count: options.loss.softmaxClasses,
          using: &candidateRandom) : nil
      // The head's loss on the embeddings (through the BNNeck, if any), its gradient with respect
      // to the embeddings. The head is mutated through optional chaining, in place: a `var` copy
      // would make every step copy its parameters and gradients (copy-on-write with `head` still
      // holding them).
      func classify(weight: Float) -> LossResult<Float>? {
        let headInput = neck?.forward(embeddings, training: true) ?? embeddings
        guard
          var classification = head?.loss(
            embeddings: headInput, labels: headLabels, smoothing: smoothing, weight: weight,
            candidates: candidates)
        else { return nil }
        if let gradient = neck?.backward(classification.gradient) {
          classification.gradient = gradient
        }
        return classification
      }
      if options.loss.kind == .softmax, let classification = classify(weight: 1) {
        result = classification
      } else {
        result = MetricLoss.compute(
          options.loss, embeddings: embeddings, labels: rows.map { data.identities[$0] },
          groups: data.groups.map { groups in rows.map { groups[$0] } })
        // The joint recipe: metric loss + weight × cross-entropy on the same embeddings.
        if let classification = classify(weight: Float(options.loss.softmaxWeight)) {
          result.value += classification.value
          for index in result.gradient.values.indices {
            result.gradient.values[index] += classification.gradient.values[index]
          }
        }
      }
      guard result.value.isFinite else {
        throw TrainingError(
          message:
            "training diverged at iteration \(iteration) (the loss is \(result.value)); lower the learning rate (now \(options.learningRate))"
        )
      }
      network.accumulateParameterGradients(result.gradient)
      let rate = Float(schedule.rate(at: iteration))
      optimizer.update(&network.parameters, gradients: network.gradients, learningRate: rate)
      if var classifier = head, var classifierOptimizer = headOptimizer {
        // Released first, so the copies are unique and update in place.
        head = nil
        headOptimizer = nil
        // A sampled softmax updates the classes it scored only (lazy Adam).
        classifierOptimizer.update(
          &classifier.parameters, gradients: classifier.gradients, learningRate: rate,
          only: candidates.map { $0.classes.flatMap { classifier.parameterRanges(of: $0) } }
            ?? [0..<classifier.parameters.count])
        head = classifier
        headOptimizer = classifierOptimizer
      }
      if var batchNormNeck = neck, var batchNormNeckOptimizer = neckOptimizer {
        // γ only: β stays 0.
        batchNormNeckOptimizer.update(
          &batchNormNeck.parameters, gradients: batchNormNeck.gradients, learningRate: rate,
          only: [0..<batchNormNeck.features])
        neck = batchNormNeck
        neckOptimizer = batchNormNeckOptimizer
      }
      intervalLoss += Double(result.value)
      intervalActive += result.activeFraction
      intervalSteps += 1

      if !warnedCollapse && iteration % 50 == 0 && hasCollapsed(embeddings) {
        warnedCollapse = true
        observe(
          .warning(
            "embeddings collapsed at iteration \(iteration): all pairwise distances are near zero (try a lower learning rate, a hinge margin, or no output normalisation with the soft margin)"
          ))
      }
      let validates = iteration % options.validationInterval == 0 || iteration == options.iterations
      let reports = validates || options.progressInterval.map { iteration % $0 == 0 } == true
      if reports {
        var score: Double?
        if validates, let validate {
          let candidate = retrievalNetwork()
          let value = validate(
            EmbeddingModel(network: candidate, training: record(kept: iteration, score: nil)))
          score = value
          validationHistory.append((iteration, value))
          if best.map({ value > $0.score }) ?? true {
            best = (
              value, iteration, candidate.parameters, candidate.state, retrievalClassifier()
            )
          }
        }
        let meanLoss = intervalLoss / Double(intervalSteps)
        lossHistory.append((iteration, meanLoss))
        observe(
          .progress(
            iteration: iteration, loss: meanLoss,
            activeFraction: intervalActive / Double(intervalSteps),
            learningRate: Double(rate), validation: score))
        intervalLoss = 0
        intervalActive = 0
        intervalSteps = 0
      }
    }
    var keptIteration = options.iterations
    var keptScore = validationHistory.last?.1
    network = retrievalNetwork()
    var classifier = retrievalClassifier()
    if options.keepBest, let best {
      network.parameters = best.parameters
      network.state = best.state
      classifier = best.classifier
      keptIteration = best.iteration
      keptScore = best.score
    }
    return TrainingResult(
      model: EmbeddingModel(
        network: network, training: record(kept: keptIteration, score: keptScore),
        classifier: classifier),
      validationHistory: validationHistory, lossHistory: lossHistory)
  }

  /// Whether a batch's embeddings have collapsed to (almost) one point.
  static func hasCollapsed(_ embeddings: Tensor<Float>) -> Bool {
    let rows = embeddings.rows
    let columns = embeddings.columns
    guard rows > 1 else { return false }
    var meanNorm: Float = 0
    var meanDistance: Float = 0
    var pairs: Float = 0
    for i in 0..<rows {
      var norm: Float = 0
      for column in 0..<columns { norm += embeddings[i, column] * embeddings[i, column] }
      meanNorm += norm.squareRoot() / Float(rows)
      for j in (i + 1)..<rows {
        var sum: Float = 0
        for column in 0..<columns {
          let difference = embeddings[i, column] - embeddings[j, column]
          sum += difference * difference
        }
        meanDistance += sum.squareRoot()
        pairs += 1
      }
    }
    meanDistance /= pairs
    return meanDistance < 1e-3 * max(meanNorm, 1e-6) || meanDistance < 1e-6
  }
}
