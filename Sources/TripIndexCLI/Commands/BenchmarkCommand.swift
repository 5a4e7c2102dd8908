import ArgumentParser
import Evaluation
import TripIndex

struct BenchmarkCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "benchmark",
    abstract:
      "Triplet embedder vs softmax surrogate vs raw features, exact and LSH, in one report.",
    discussion: """
      DIR holds train/, query/ and gallery/ in the layouts `build` reads, with pids and cameras \
      (labels.csv, Market-1501 or MSMT17 names), train identities disjoint from the test \
      identities; --train, --query and --gallery name sets elsewhere. Trains the triplet \
      embedder (batch-hard, soft margin), the softmax surrogate and the joint recipe (batch-hard \
      plus 0.1 x a label-smoothed, sampled softmax head) with the same trunk and iteration \
      budget, once per seed; embeds query and gallery with each; scores raw features, triplet, \
      surrogate and joint (rows "raw", "triplet", "surrogate", "joint") under the Market-1501 \
      protocol with exact search (and its k-reciprocal re-ranking, "exact+rerank"), exact top-D \
      and an LSH index (built per model in memory, "lsh" and "lsh+rerank"). The surrogate is \
      also scored by cosine ("surrogate-cosine" rows), as re-ID practice scores softmax \
      features, unless --metric says l2 or cosine for every model; --models adds models you \
      trained elsewhere, scored the same way. Trained rows are means over the seeds, \
      with their standard deviations. Prints the table; --report OUT writes report.md, \
      metrics.json, cmc.csv, cmc.svg (CMC of all methods), rank1-vs-qps.svg and map-vs-qps.svg \
      (exact search as a point, LSH as a curve over probes per table), ranklists.html (per \
      query, the first seed's triplet, surrogate and joint rankings side by side, largest \
      triplet-vs-surrogate AP difference first) and the trained models.
      """)

  @Argument(
    help:
      "The folder holding train/, query/ and gallery/ (optional with --train, --query and --gallery)."
  )
  var directory: String = ""

  @Option(help: "The training set (default: DIR/train).")
  var train: String?

  @Option(help: "The query set (default: DIR/query).")
  var query: String?

  @Option(help: "The gallery (default: DIR/gallery).")
  var gallery: String?

  @Option(
    help: ArgumentHelp(
      "How embeddings are scored: as-trained (each model by its metric, and the softmax surrogate by cosine too, in surrogate-cosine rows), l2 or cosine (every model).",
      valueName: "as-trained|l2|cosine"))
  var metric = "as-trained"

  @Option(
    help: ArgumentHelp(
      "Already-trained models to score beside the trained ones, as name=FILE,name=FILE (.tpm or safetensors).",
      valueName: "name=FILE,..."))
  var models: String?

  @Option(parsing: .unconditional, help: "Training iterations of each model.")
  var iterations = 3000

  @Option(
    parsing: .unconditional, help: "Training runs per loss, seeded 1…N (trained rows are means).")
  var seeds = 3

  @Option(help: "Layer widths of the shared trunk, hidden then embedding (e.g. 256,64).")
  var layers = "256,64"

  @Option(parsing: .unconditional, help: "Length of the CMC curve, and the depth searched.")
  var maxRank = 50

  @Option(help: "Probes per table of the LSH speed curves, comma-separated.")
  var probeSweep = "1,2,4,8,16,32"

  @Flag(
    inversion: .prefixedNo,
    help: "Also score k-reciprocal re-ranking (k1 20, k2 6, lambda 0.3) of each exact ranking.")
  var rerank = true

  @Option(parsing: .unconditional, help: "Worker threads (default: all cores).")
  var threads: Int?

  @OptionGroup(title: "LSH index") var lsh: LSHOptions

  @Option(help: "Write the report, plots and models into this folder.")
  var report: String?

  @Flag(help: "Print one JSON object instead of the table.")
  var json = false

  @Flag(help: "No progress output.")
  var quiet = false

  @OptionGroup var pids: PIDConventionOptions

  @OptionGroup var reportFolder: ReportFolderOption

  @OptionGroup(title: "Ranked lists (with --report)") var rankedList: RankedListOptions

  func run() throws {
    try reportFolder.check(report)
    guard seeds > 0 else { throw ValidationError("--seeds must be at least 1, not \(seeds)") }
    if directory.isEmpty && (train == nil || query == nil || gallery == nil) {
      throw ValidationError(
        "give DIR (holding train/, query/ and gallery/), or all of --train, --query and --gallery")
    }
    var options = Benchmark.Options(directory: directory)
    guard let scoring = Benchmark.Scoring(rawValue: metric) else {
      throw ValidationError("--metric takes as-trained, l2 or cosine (got '\(metric)')")
    }
    options.scoring = scoring
    for pair in models.map({ $0.split(separator: ",", omittingEmptySubsequences: false) }) ?? [] {
      let parts = pair.split(separator: "=", maxSplits: 1)
      guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
        throw ValidationError("--models takes name=FILE pairs separated by commas (got '\(pair)')")
      }
      let name = String(parts[0])
      guard !["raw", "triplet", "surrogate", "joint", "surrogate-cosine"].contains(name),
        !options.models.contains(where: { $0.name == name })
      else {
        throw ValidationError("--models: the name '\(name)' is taken; give each model its own")
      }
      options.models.append((name, String(parts[1])))
    }
    options.trainPath = train
    options.queryPath = query
    options.galleryPath = gallery
    options.pidConventions = try pids.conventions
    let sizes = try OptionParsing.parseLayers(layers)
    options.hiddenSizes = Array(sizes.dropLast())
    options.outputDimension = sizes[sizes.count - 1]
    options.iterations = iterations
    options.seeds = (1...seeds).map { UInt64($0) }
    options.maxRank = maxRank
    options.probeSweep = try OptionParsing.parsePositiveIntegers(
      probeSweep, option: "--probe-sweep", example: "1,2,4,8")
    if let threads { options.threads = threads }
    options.lsh = lsh.choices
    options.rerank = rerank ? RerankingParameters() : nil
    options.modelDirectory = report.map { $0 + "/models" }
    options.reportFolder = report
    options.rankedList = try rankedList.choices
    let result = try Benchmark.run(options, progress: TerminalProgress(quiet: quiet))
    printReport(result.report, json: json)
  }
}
