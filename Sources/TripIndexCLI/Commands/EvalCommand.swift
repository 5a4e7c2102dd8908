import ArgumentParser
import Evaluation
import Plumbing
import TripIndex
import VectorMath

extension Evaluate.ProtocolChoice: ExpressibleByArgument {}

struct EvalCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "eval",
    abstract: "Score the ranking of a gallery for a set of queries (CMC, mAP, mINP, recall@k).",
    discussion: """
      QUERY and GALLERY are folders or files in the layouts `build` reads; re-ID protocols need a \
      pid and a camera for every item (labels.csv or Market-1501 names). Protocols:
        market1501      remove gallery items with the query's pid and camera, and
                        junk (pid -1); distractors (pid 0) never match; queries
                        without a remaining match are skipped and counted
                        (torchreid's rules)
        market1501-all-cameras
                        the same without the camera filter (single-camera data)
        cuhk03          single-gallery-shot: CMC averaged over --repeats seeded
                        draws of one gallery item per identity; AP on the full
                        ranking
        retrieval       labels only (pytorch-metric-learning): recall@k (hit
                        rate), R-precision, MAP@R, mAP; without --gallery each
                        query is ranked against the other queries

      --gallery-store S ranks the items of a store instead of a folder (ingested once with \
      `build`; its model embeds the queries; with --index lsh its own index is searched). \
      --rerank adds an exact+rerank row: k-reciprocal re-ranking (Zhong et al. 2017) with \
      torchreid's conventions (--k1, --k2, --lambda). \
      With --index lsh the gallery is also indexed (in memory) and three rows are \
      printed: exact (the full ranking), exact top-D and lsh top-D (D = --max-rank; the rest of \
      the gallery is ranked after the D found, in gallery order), with search speed, ANN recall \
      and candidates per query: what the approximation costs in rank-1 and mAP. \
      Ties rank by gallery order. Prints a table; --json prints every metric and the full CMC \
      (and, with --per-query, every query's outcome); --report DIR writes report.md, \
      metrics.json, cmc.csv, cmc.svg and ranklists.html: one row per query, worst AP first, \
      its top --ranklist-k gallery items framed green (true match) or red, with pictures from \
      --images, or drawn from the vectors with --image-shape, or labelled tiles.
      """)

  @Option(help: "The query set (folder or file).")
  var query: String

  @Option(help: "The gallery (folder or file).")
  var gallery: String?

  @Option(
    help:
      "A store holding the gallery: its items, labels and model (which embeds the queries); with --index lsh, its own LSH index."
  )
  var galleryStore: String?

  @Option(
    name: .customLong("protocol"), help: "market1501, market1501-all-cameras, cuhk03 or retrieval.")
  var protocolChoice: Evaluate.ProtocolChoice = .market1501

  @Option(help: "Distance: l2 (squared Euclidean) or cosine (default: the model's, else l2).")
  var metric: DistanceMetric?

  @Option(help: "Embed queries and gallery with this model first.")
  var model: String?

  @Option(parsing: .unconditional, help: "Length of the CMC curve.")
  var maxRank = 50

  @Option(parsing: .unconditional, help: "CUHK03 repeats.")
  var repeats = 10

  @Option(name: .customLong("cuhk03-seed"), help: "CUHK03 sampling seed.")
  var cuhk03Seed: UInt64 = 0

  @Option(
    help:
      "exact, or lsh: also search an LSH index of the gallery (settings below) and report its ANN recall, speed and metrics beside exact search's."
  )
  var index = "exact"

  @OptionGroup(title: "LSH index (with --index lsh)") var lsh: LSHOptions

  @Flag(
    help:
      "Also score k-reciprocal re-ranking (Zhong et al. 2017) of the exact ranking: an exact+rerank row."
  )
  var rerank = false

  @Option(parsing: .unconditional, help: "Re-ranking: k-reciprocal neighbours.")
  var k1 = 20

  @Option(parsing: .unconditional, help: "Re-ranking: query-expansion neighbours (1: none).")
  var k2 = 6

  @Option(
    parsing: .unconditional,
    help: "Re-ranking: the original distance's share of the final distance.")
  var lambda = 0.3

  @Option(
    help: ArgumentHelp(
      "For l2 embeddings, the distances re-ranking starts from: euclidean (the reference re_ranking's input, default) or squared (what torchreid's engine passes it).",
      valueName: "euclidean|squared"))
  var rerankDistance = "euclidean"

  @Option(parsing: .unconditional, help: "Worker threads (default: all cores).")
  var threads: Int?

  @Flag(help: "Print one JSON object with every metric.")
  var json = false

  @Flag(
    help:
      "With --json (and in metrics.json): each method also lists every query's name, AP, first-match rank and top --ranklist-k items (per_query)."
  )
  var perQuery = false

  @Option(
    help:
      "Write report.md, metrics.json, cmc.csv, cmc.svg and ranklists.html (each query's ranked list, worst first) into this folder."
  )
  var report: String?

  @OptionGroup(title: "Ranked lists (with --report or --per-query)") var rankedList:
    RankedListOptions

  @Flag(help: "No progress output.")
  var quiet = false

  @OptionGroup var pids: PIDConventionOptions

  @OptionGroup var reportFolder: ReportFolderOption

  func run() throws {
    try reportFolder.check(report)
    var options = Evaluate.Options(queryPath: query, galleryPath: gallery)
    options.pidChoice = try pids.choice
    options.galleryStorePath = galleryStore
    options.protocolChoice = protocolChoice
    options.metric = metric
    options.modelPath = model
    options.maxRank = maxRank
    options.repeats = repeats
    options.seed = cuhk03Seed
    switch index {
    case "exact": break
    case "lsh": options.lsh = lsh.choices
    default: throw ValidationError("--index takes 'exact' or 'lsh' (got '\(index)')")
    }
    if let threads { options.threads = threads }
    guard let distance = RerankingDistance(rawValue: rerankDistance) else {
      throw ValidationError(
        "--rerank-distance takes 'euclidean' or 'squared' (got '\(rerankDistance)')")
    }
    if rerank {
      options.rerank = RerankingParameters(k1: k1, k2: k2, lambda: lambda, distance: distance)
    } else if k1 != 20 || k2 != 6 || lambda != 0.3 || distance != .euclidean {
      throw ValidationError(
        "--k1, --k2, --lambda and --rerank-distance set re-ranking; add --rerank")
    }
    options.reportFolder = report
    options.rankedList = try rankedList.choices
    options.listsQueries = perQuery
    let result = try Evaluate.run(options, progress: TerminalProgress(quiet: quiet))
    printReport(result, json: json)
  }
}

/// Prints a report: its details and table, or (with `json`) its JSON form on one line.
///
/// - Parameters:
///   - report: the report.
///   - json: print JSON instead.
func printReport(_ report: EvaluationReport, json: Bool) {
  if json {
    StandardStream.output.write(report.json.serialized() + "\n")
  } else {
    let (header, rows) = report.table
    StandardStream.output.write(
      report.details.map { "\($0.0): \($0.1)" }.joined(separator: "\n") + "\n\n"
        + TextTable.render(
          header: header, rows: rows,
          rightAligned: [false] + Array(repeating: true, count: header.count - 1)))
  }
}
