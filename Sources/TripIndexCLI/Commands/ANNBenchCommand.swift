import ArgumentParser
import Plumbing
import TripIndex
import TripIndexTools
import VectorMath

struct ANNBenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "annbench",
    abstract: "Run an ann-benchmarks HDF5 data set: build, tune, query, recall against its truth.",
    discussion: """
      FILE is in ann-benchmarks' layout (sift-128-euclidean.hdf5, glove-100-angular.hdf5, …): \
      datasets train, test, neighbors and distances, and the attribute distance (euclidean → l2, \
      angular → cosine). Builds a store from train, measures exact search, then for each --recall \
      target runs `tune` (on items held out of train; test is never seen) and searches test with \
      the tuned index at a sweep of probes per table. Queries run one at a time on one thread, as \
      ann-benchmarks measures: QPS is 1 / mean latency. Recall@k is ann-benchmarks' rule: a \
      returned item counts when its distance (recomputed in float64, in the file's units: \
      Euclidean, or 1 − cosine) is within the file's k-th true distance + 0.001; strict recall \
      (the overlap with the file's true top k) is shown beside it.
      """)

  @Argument(help: "The .hdf5 file.")
  var file: String

  @Option(
    parsing: .upToNextOption, help: "Recall targets to tune the index to (e.g. 0.5 0.9 0.99).")
  var recall: [Double] = [0.9]

  @Option(name: .short, parsing: .unconditional, help: "Neighbours per query.")
  var k = 10

  @Option(
    help: ArgumentHelp(
      "Keep the store here, a directory or redis://HOST:PORT[,...]/NAME (it must not exist); by default it is built in a temporary folder and removed.",
      valueName: "dir|redis://..."))
  var store: String?

  @OptionGroup var redisOptions: RedisOptions

  @Option(parsing: .unconditional, help: "Query only the first N test vectors.")
  var queries: Int?

  @Option(help: "Probes per table swept on each tuned index, as multiples of the tuned count.")
  var probeMultipliers = "0.25,0.5,1,2,4"

  @Option(parsing: .unconditional, help: "Queries per tuning sample.")
  var tuneSample = 400

  @Option(help: "The metric, instead of the file's distance attribute.")
  var metric: DistanceMetric?

  @Option(help: "Write each setting's returned train rows to DIR/NAME.npy (int64, queries × k).")
  var saveNeighbors: String?

  @Option(help: "Write the recall-against-QPS chart to this SVG file.")
  var svg: String?

  @Flag(help: "Print the results as JSON.")
  var json = false

  @Flag(help: "No progress output.")
  var quiet = false

  func run() throws {
    var options = ANNBench.Options(path: file)
    options.recallTargets = recall
    options.k = k
    options.storePath = store
    options.redis = redisOptions.access
    options.queryLimit = queries
    options.tuneSample = tuneSample
    options.metric = metric
    options.neighborsFolder = saveNeighbors
    options.probeMultipliers = try probeMultipliers.split(separator: ",").map { text in
      guard let value = Double(text.filter { $0 != " " }), value > 0 else {
        throw ValidationError(
          "--probe-multipliers takes positive numbers, e.g. 0.5,1,2 (got '\(text)')")
      }
      return value
    }
    let report = try ANNBench.run(options, progress: TerminalProgress(quiet: quiet))
    if let svg { try TextFile.write(report.chart.svg, to: svg) }
    StandardStream.output.write(json ? report.json.serialized() + "\n" : report.table + "\n")
  }
}
