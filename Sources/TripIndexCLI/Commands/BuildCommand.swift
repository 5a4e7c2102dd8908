import ArgumentParser
import TripIndex
import VectorMath

struct BuildCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "build",
    abstract: "Ingest a folder of vector files into a store.",
    discussion: """
      DIR is walked recursively (entries starting with '.' are skipped). A file holding one vector \
      (.vec, .fvecs, .npy or .hdf5) becomes one item named after the file; its pid and camera come from a \
      labels.csv (header name,pid,camera) in its folder or above, else from a Market-1501 name \
      (0001_c1s1_001051_00 → pid 1, camera 1), else none. A file holding many vectors gives items \
      named FILE#ROW, unless a labels.csv beside it has exactly as many rows: then its names, pids \
      and cameras apply in order. Every file is checked before anything is written; names are \
      unique, so building the same folder again changes nothing. From HDF5 files (.hdf5, .h5) \
      the dataset --dataset names is read (default train); a new store takes its metric from \
      the file's distance attribute (euclidean → l2, angular → cosine) unless --metric is given.
      """)

  @Argument(help: "The folder (or single vector file) to ingest.")
  var directory: String

  @OptionGroup var storeOption: StoreOption

  @Option(
    parsing: .unconditional,
    help: "Redis stores: logical shards of a new store (fixed when it is created).")
  var shards = RedisAccess.defaultShards

  @Option(help: "Metric for a new store: l2 (squared Euclidean) or cosine (stored normalised).")
  var metric: DistanceMetric?

  @Option(help: "The dataset read from HDF5 files (default: train, as in ann-benchmarks' files).")
  var dataset: String?

  @Option(parsing: .unconditional, help: "Vectors per write transaction.")
  var batch: Int = 1024

  @Option(
    help: "Embed every vector with this model before storing it (the store records the model).")
  var model: String?

  @Option(help: "Build an index after ingesting: 'lsh' (settings below; see `tripindex index`).")
  var index: String?

  @OptionGroup(title: "LSH index") var lsh: LSHOptions

  @Flag(help: "Print the summary as JSON.")
  var json = false

  @Flag(help: "No progress output.")
  var quiet = false

  @OptionGroup var pids: PIDConventionOptions

  func run() throws {
    var options = Build.Options(
      input: directory, storePath: storeOption.store, metric: metric, batchRows: batch)
    options.redis = storeOption.redis
    options.redis.shards = shards
    options.modelPath = model
    options.dataset = dataset
    options.pidChoice = try pids.choice
    if let index {
      guard index == "lsh" else { throw ValidationError("--index takes 'lsh' (got '\(index)')") }
      options.index = lsh.choices
    }
    let report = try Build.run(options, progress: TerminalProgress(quiet: quiet))
    StandardStream.output.write(
      (json ? report.json : report.summary.worded(ErrorAdvice.wording)) + "\n")
  }
}
