import Plumbing
import VectorMath

/// How a model was trained, saved in its file's header.
public struct TrainingRecord: Sendable, Equatable {
  /// The loss.
  public var loss: LossConfiguration
  /// P identities × K samples per batch.
  public var identitiesPerBatch: Int
  /// K.
  public var samplesPerIdentity: Int
  /// Iterations run.
  public var iterations: Int
  /// The initial learning rate.
  public var learningRate: Double
  /// L2 weight decay.
  public var weightDecay: Double
  /// The seed of every random draw.
  public var seed: UInt64
  /// A fingerprint of the training vectors and labels.
  public var dataFingerprint: String
  /// Training identities and samples.
  public var identities: Int
  /// Training samples.
  public var samples: Int
  /// The best validation score (mAP) seen, if validation ran.
  public var validationScore: Double?
  /// The iteration whose weights were kept.
  public var keptIteration: Int

  /// Creates a record.
  public init(
    loss: LossConfiguration, identitiesPerBatch: Int, samplesPerIdentity: Int, iterations: Int,
    learningRate: Double,
    weightDecay: Double, seed: UInt64, dataFingerprint: String, identities: Int, samples: Int,
    validationScore: Double?, keptIteration: Int
  ) {
    self.loss = loss
    self.identitiesPerBatch = identitiesPerBatch
    self.samplesPerIdentity = samplesPerIdentity
    self.iterations = iterations
    self.learningRate = learningRate
    self.weightDecay = weightDecay
    self.seed = seed
    self.dataFingerprint = dataFingerprint
    self.identities = identities
    self.samples = samples
    self.validationScore = validationScore
    self.keptIteration = keptIteration
  }
}

/// A trained embedder ready to map input vectors to embeddings: the network, the record of its
/// training and, for recipes with a softmax head, that head (not used to embed).
public struct EmbeddingModel: Sendable {
  /// The network.
  public private(set) var network: Network<Float>
  /// How it was trained.
  public var training: TrainingRecord
  /// The trained softmax head over the embeddings (softmax-surrogate and joint recipes), or `nil`.
  public var classifier: ClassifierHead?

  /// Wraps a trained network.
  ///
  /// - Parameters:
  ///   - network: the network.
  ///   - training: its training record.
  ///   - classifier: the trained softmax head, if the recipe had one.
  public init(network: Network<Float>, training: TrainingRecord, classifier: ClassifierHead? = nil)
  {
    precondition(
      classifier.map { $0.inputs == network.architecture.outputDimension } ?? true,
      "the classifier's inputs must be the embedding dimension")
    self.network = network
    self.training = training
    self.classifier = classifier
  }

  /// The network's shape.
  public var architecture: Architecture { network.architecture }

  /// How embeddings should be compared: cosine when the network normalises its output or was
  /// trained on cosine distances (or with the multiple-negatives loss), squared L2 otherwise
  /// (which ranks like the Euclidean distance).
  public var metric: DistanceMetric {
    architecture.normalizeOutput || training.loss.distance == .cosine
      || training.loss.kind == .multipleNegatives
      ? .cosine : .l2
  }

  /// Embeds vectors, in batches, with BatchNorm's running statistics.
  ///
  /// - Parameter inputs: one input per row, ``Architecture/inputDimension`` columns.
  /// - Returns: one embedding per row.
  /// - Complexity: O(rows · Σ inputs · outputs).
  public func embed(_ inputs: Matrix) -> Matrix {
    precondition(
      inputs.columns == architecture.inputDimension, "inputs have \(inputs.columns) columns")
    let batch = 4096
    var output = Matrix(rows: 0, columns: architecture.outputDimension)
    output.values.reserveCapacity(inputs.rows * architecture.outputDimension)
    var network = self.network
    var start = 0
    while start < inputs.rows {
      let end = min(start + batch, inputs.rows)
      let rows = Array(inputs.values[(start * inputs.columns)..<(end * inputs.columns)])
      let embedded = network.forward(
        Tensor(rows: end - start, columns: inputs.columns, values: rows), training: false)
      output.append(rows: embedded.values)
      start = end
    }
    return output
  }
}
