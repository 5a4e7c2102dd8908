import ArgumentParser
import Embedding
import TripIndex

extension LossKind: ExpressibleByArgument {}
extension EmbeddingDistance: ExpressibleByArgument {}
extension NeckPosition: ExpressibleByArgument {}

struct TrainCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "train",
    abstract:
      "Train an embedder (triplet family, contrastive, MNR, ladder, or the softmax surrogate).",
    discussion: """
      DIR is read as `build` reads it; every item needs a pid (junk -1 and distractors 0 are left \
      out). A seeded share of identities (--validation) is held out: its mAP (retrieval protocol) \
      is printed as training goes and the best weights are kept. Defaults: batch-hard loss with the \
      soft margin on Euclidean distances, unnormalised output, 256 hidden units with BatchNorm, \
      64-d embeddings, 16×4 batches, 3,000 iterations, Adam decaying after half the run (3e-3 for \
      the soft margin and softmax, 1e-3 for hinge margins, which default to 0.3). The softmax \
      surrogate defaults to weight decay 1e-3.
      """)

  @Argument(help: "The training folder (or file).")
  var directory: String

  @Option(help: "The model file to write.")
  var out: String

  @Option(help: "batch-hard, batch-all, semi-hard, triplet, contrastive, mnr, ladder or softmax.")
  var loss: LossKind = .batchHard

  @Option(
    help:
      "A hinge margin (e.g. 0.3) or 'soft' (softplus). Default: soft for batch-hard and batch-all, 0.3 otherwise."
  )
  var margin: String?

  @Option(help: "Distance for the loss: l2 (Euclidean), sql2 (squared) or cosine.")
  var distance: EmbeddingDistance = .euclidean

  @Option(
    parsing: .unconditional,
    help:
      "Weight of a softmax cross-entropy head added to the metric loss (the joint recipe; 0: the metric loss alone)."
  )
  var softmaxWeight = 0.0

  @Option(
    parsing: .unconditional, help: "Label smoothing of the softmax head (surrogate or joint).")
  var labelSmoothing = 0.0

  @Option(
    parsing: .unconditional,
    help:
      "Classes the softmax head scores per batch: the batch's own plus others drawn at random (a sampled softmax; 0: all classes)."
  )
  var softmaxClasses = 0

  @Flag(
    help:
      "A BNNeck: the softmax head sees a batch-normalised copy of the embedding (Luo et al.); the metric loss sees the embedding itself."
  )
  var bnneck = false

  @Option(
    help:
      "With --bnneck: retrieval uses the embedding before the neck or after it (the neck folded into the output layer). (default: before)"
  )
  var embedFrom: NeckPosition?

  @Option(help: "Layer widths, hidden then embedding (e.g. 256,64).")
  var layers: String = "256,64"

  @Flag(inversion: .prefixedNo, help: "BatchNorm after every hidden layer.")
  var batchNorm = true

  @Flag(help: "L2-normalise the embeddings (use with a hinge margin).")
  var normalize = false

  @Option(name: .customLong("p"), parsing: .unconditional, help: "Identities per batch.")
  var identitiesPerBatch = 16

  @Option(name: .customLong("k"), parsing: .unconditional, help: "Samples per identity.")
  var samplesPerIdentity = 4

  @Option(parsing: .unconditional, help: "Training iterations (batches).")
  var iterations = 3000

  @Option(
    parsing: .unconditional,
    help:
      "Initial learning rate (Adam); default 3e-3 for the soft margin and softmax, 1e-3 otherwise.")
  var lr: Double?

  @Option(
    parsing: .unconditional, help: "L2 weight decay (default: 1e-3 for softmax, 0 otherwise).")
  var weightDecay: Double?

  @Option(
    parsing: .unconditional, help: "Share of identities held out for validation (0 to turn it off)."
  )
  var validation = 0.1

  @Flag(help: "Keep the last weights instead of the best validated ones.")
  var keepLast = false

  @Option(help: "Seed of every random draw.")
  var seed: UInt64 = 1

  @Flag(help: "No progress output.")
  var quiet = false

  @Option(
    help:
      "Write a progress line to stderr every N iterations (and at each validation), also when stderr is not a terminal (under nohup, into a log)."
  )
  var logEvery: Int?

  @Flag(
    help:
      "Write progress as JSON lines on stderr instead (iteration, iterations, loss, active, learning_rate, validation_map), every --log-every iterations (default: at each validation)."
  )
  var logJson = false

  @OptionGroup var pids: PIDConventionOptions

  func run() throws {
    var options = Train.Options(input: directory, output: out)
    options.pidConventions = try pids.conventions
    if let logEvery, logEvery < 1 {
      throw ValidationError("--log-every must be at least 1, not \(logEvery)")
    }
    if logJson {
      options.log = .json(iterations: logEvery ?? options.training.validationInterval)
    } else if let logEvery {
      options.log = .every(iterations: logEvery)
    }
    let sizes = try OptionParsing.parseLayers(layers)
    options.training.hiddenSizes = Array(sizes.dropLast())
    options.training.outputDimension = sizes[sizes.count - 1]
    options.training.batchNorm = batchNorm
    options.training.normalizeOutput = normalize
    options.training.loss = LossConfiguration(
      kind: loss, margin: try OptionParsing.parseMargin(margin, for: loss), distance: distance)
    options.training.loss.softmaxWeight = softmaxWeight
    options.training.loss.labelSmoothing = labelSmoothing
    options.training.loss.softmaxClasses = softmaxClasses
    options.training.loss.neck = try Train.neckPosition(bnneck: bnneck, embedFrom: embedFrom)
    options.training.identitiesPerBatch = identitiesPerBatch
    options.training.samplesPerIdentity = samplesPerIdentity
    options.training.iterations = iterations
    options.training.learningRate =
      lr ?? Train.defaultLearningRate(for: loss, margin: options.training.loss.margin)
    options.training.weightDecay = weightDecay ?? Train.defaultWeightDecay(for: loss)
    options.training.seed = seed
    options.training.keepBest = !keepLast
    options.validationFraction = validation
    let report = try Train.run(options, progress: TerminalProgress(quiet: quiet))
    StandardStream.output.write(report.summary + "\n")
  }
}
