import Embedding
import Evaluation
import LSHIndex
import Plumbing
import RankedLists
import VectorIO
import VectorMath

/// The `eval` command: score the ranking of a gallery for a set of queries, as re-ID papers report it.
public enum Evaluate {
  /// The protocols the command offers.
  public enum ProtocolChoice: String, Sendable, CaseIterable {
    /// Market-1501 (same pid and camera removed).
    case market1501
    /// Market-1501 without the camera filter (single-camera data).
    case market1501AllCameras = "market1501-all-cameras"
    /// CUHK03 single-gallery-shot.
    case cuhk03
    /// Metric-learning retrieval (labels only).
    case retrieval
  }

  /// What to evaluate.
  public struct Options: Sendable {
    /// The query set (folder or file).
    public var queryPath: String
    /// The gallery (folder or file); `nil` uses the queries as their own reference set (retrieval,
    /// each query excluded from its own ranking).
    public var galleryPath: String?
    /// The protocol.
    public var protocolChoice: ProtocolChoice = .market1501
    /// The distance; `nil` means the model's metric, or l2 without a model.
    public var metric: DistanceMetric?
    /// A model that embeds queries and gallery first.
    public var modelPath: String?
    /// The CMC curve's length.
    public var maxRank = 50
    /// Which pids are distractors and junk under the re-ID protocols, where given; the rest
    /// comes from the gallery store's record, else Market-1501's 0 and −1.
    public var pidChoice = PIDConventionChoice()
    /// CUHK03 repeats.
    public var repeats = 10
    /// CUHK03 sampling seed.
    public var seed: UInt64 = 0
    /// Worker threads.
    public var threads = Parallel.processorCount
    /// Also search with an LSH index over the gallery (built in memory) and report
    /// its metrics and ANN recall beside exact search's; `nil` evaluates exact search only.
    public var lsh: LSHChoices?
    /// A store holding the gallery (its items, labels, model and index): used instead of
    /// ``galleryPath``, so a large gallery is ingested once.
    public var galleryStorePath: String?
    /// How to reach a gallery store on a Redis Cluster.
    public var redis = RedisAccess()
    /// Also score k-reciprocal re-ranking of the exact ranking (an `exact+rerank` row); `nil`
    /// for none.
    public var rerank: RerankingParameters?
    /// Write the report (Markdown, JSON, CSV, charts and the ranked-list page) into this
    /// folder; `nil` for none.
    public var reportFolder: String?
    /// What the ranked-list page (and per-query JSON) lists, and its pictures.
    public var rankedList = RankedListChoices()
    /// List every query's outcome in the report's JSON (`per_query` of each method).
    public var listsQueries = false

    /// Creates options.
    ///
    /// - Parameters:
    ///   - queryPath: the query set.
    ///   - galleryPath: the gallery, or `nil`.
    public init(queryPath: String, galleryPath: String?) {
      self.queryPath = queryPath
      self.galleryPath = galleryPath
    }
  }

  /// Scales every vector to unit length for the cosine metric.
  static func normalize(_ set: inout LabelledVectors) throws {
    if let zero = set.vectors.normalizeRows() {
      throw TripIndexError(
        "item '\(set.names[zero])' from \(set.source) is all zeros, which has no direction for the cosine metric"
      )
    }
  }

  /// Runs an evaluation.
  ///
  /// - Parameters:
  ///   - options: what to evaluate.
  ///   - progress: status output.
  /// - Returns: a report with one entry per search method.
  /// - Throws: `VectorIOError` or ``TripIndexError`` for bad input (missing labels, mismatched
  ///   dimensions, bad options).
  public static func run(_ options: Options, progress: any ProgressReporting) throws
    -> EvaluationReport
  {
    guard options.threads > 0 else {
      throw TripIndexError("\(option: .threads) must be at least 1, not \(options.threads)")
    }
    guard options.maxRank > 0 else {
      throw TripIndexError("\(option: .maxRank) must be at least 1, not \(options.maxRank)")
    }
    guard options.repeats > 0 else {
      throw TripIndexError("\(option: .repeats) must be at least 1, not \(options.repeats)")
    }
    if let invalid = options.rerank?.invalidSetting {
      throw TripIndexError(
        "\(option: Parameter(rawValue: invalid.name) ?? .rerank) \(invalid.requirement)")
    }
    try options.rankedList.check()
    if options.galleryPath != nil && options.galleryStorePath != nil {
      throw TripIndexError(
        "\(option: .gallery) and \(option: .galleryStore) both name a gallery; give one")
    }
    let hasGallery = options.galleryPath != nil || options.galleryStorePath != nil
    if options.rerank != nil && !hasGallery {
      throw TripIndexError(
        "\(option: .rerank) re-ranks a gallery for the queries; give \(option: .gallery)")
    }
    // A stored gallery: its vectors are already embedded with its model, which embeds the queries.
    let stored = try options.galleryStorePath.map { path in
      try StoredGallery(
        path: path, modelOverride: options.modelPath, redis: options.redis, progress: progress)
    }
    let model =
      try stored.map { $0.model }
      ?? options.modelPath.map { path in try EmbeddingModel.read(from: path) }
    if let stored, let chosen = options.metric, chosen != stored.metric {
      throw TripIndexError(
        "\(option: .metric) \(chosen.rawValue) differs from the metric of store \(stored.location) (\(stored.metric.rawValue)), which its vectors and index are made for"
      )
    }
    let metric = stored?.metric ?? options.metric ?? model?.metric ?? .l2
    if options.rerank?.distance == .squared && metric == .cosine {
      throw TripIndexError(
        "re-ranking from squared distances applies to l2 embeddings; with the cosine metric re-ranking starts from 1 − cos (leave the distance at euclidean)"
      )
    }
    progress.update("reading queries from \(options.queryPath)", force: true)
    var queries = try LabelledVectors.load(options.queryPath, progress: progress)
    let excludeSelf = !hasGallery
    if excludeSelf && options.protocolChoice != .retrieval {
      throw TripIndexError(
        "\(option: .gallery) is required for the \(options.protocolChoice.rawValue) protocol (only retrieval can rank the queries against themselves)"
      )
    }
    var gallery = stored?.items ?? queries
    if let galleryPath = options.galleryPath {
      progress.update("reading gallery from \(galleryPath)", force: true)
      gallery = try LabelledVectors.load(galleryPath, progress: progress)
    }
    // Pictures are drawn from the vectors as read (before embedding); checked before any work.
    let pictures =
      options.reportFolder == nil
      ? PictureSource.tiles
      : try options.rankedList.pictureSource(
        queries: queries.vectors,
        gallery: stored.map { $0.model == nil ? $0.items.vectors : nil } ?? gallery.vectors,
        galleryNote:
          "store \(options.galleryStorePath ?? "") holds the gallery's embeddings, not its inputs")
    let expectedQueryDimension = model?.architecture.inputDimension ?? gallery.vectors.columns
    if let stored, queries.vectors.columns != expectedQueryDimension {
      throw TripIndexError(
        "queries (\(options.queryPath)) have dimension \(queries.vectors.columns) but store \(stored.location) takes \(expectedQueryDimension)-dimensional \(model == nil ? "vectors" : "inputs to its model")"
      )
    }
    guard stored != nil || queries.vectors.columns == gallery.vectors.columns else {
      throw TripIndexError(
        "queries (\(options.queryPath)) have dimension \(queries.vectors.columns) but the gallery (\(gallery.source)) has \(gallery.vectors.columns)"
      )
    }
    if let model {
      progress.update("embedding with \(options.modelPath ?? "the model")", force: true)
      queries.vectors = try StoreModel.embed(queries.vectors, with: model, source: queries.source)
      if stored == nil {
        gallery.vectors =
          excludeSelf
          ? queries.vectors
          : try StoreModel.embed(gallery.vectors, with: model, source: gallery.source)
      }
    }
    let evaluationProtocol: EvaluationProtocol
    switch options.protocolChoice {
    case .market1501: evaluationProtocol = .market1501
    case .market1501AllCameras: evaluationProtocol = .market1501AllCameras
    case .cuhk03: evaluationProtocol = .cuhk03(repeats: options.repeats, seed: options.seed)
    case .retrieval: evaluationProtocol = .retrieval(excludeSelf: excludeSelf)
    }
    let name = options.protocolChoice.rawValue
    var queryLabels = try queries.labelSet(
      role: "query", needsCameras: evaluationProtocol.isReID, protocolName: name)
    var galleryLabels = try gallery.labelSet(
      role: "gallery", needsCameras: evaluationProtocol.isReID, protocolName: name)
    if evaluationProtocol.isReID {
      // Distractors and junk by the user's convention (or the gallery store's); the evaluator
      // counts in Market-1501's.
      let (conventions, differences) = options.pidChoice.resolved(
        recorded: stored?.conventions, storePath: stored?.location ?? "")
      for warning in differences { progress.warn(warning) }
      for warning in conventions.warnings(
        pids: queryLabels.pids, role: "queries", outcome: "are skipped")
      {
        progress.warn(warning)
      }
      let renumbered = conventions.evaluatorLabelSets([queryLabels, galleryLabels])
      (queryLabels, galleryLabels) = (renumbered[0], renumbered[1])
    }
    if metric.normalizesVectors {
      try normalize(&queries)
      // A store's cosine vectors are unit length already.
      if stored == nil {
        if !excludeSelf { try normalize(&gallery) } else { gallery = queries }
      }
    }
    let indexSource: IndexSource?
    if let stored, options.lsh != nil {
      guard let store = stored.lmdbStore else {
        throw TripIndexError(
          "\(option: .index) lsh with \(option: .galleryStore) searches the store's own LMDB index, and \(stored.location) is a Redis store: evaluate exact search on it, or copy it to LMDB with \(command: "copy") and evaluate that"
        )
      }
      guard let index = try LSHIndex.open(store) else {
        throw TripIndexError(
          "store \(stored.location) has no LSH index; build one with \(command: "index \(option: .store) \(stored.location)") or evaluate exact search only"
        )
      }
      indexSource = .stored(store, index, rowOfID: stored.rowOfID)
    } else {
      indexSource = options.lsh.map { .temporary($0.configuration(metric: metric)) }
    }
    progress.update(
      "ranking \(TextFormatting.grouped(queries.count)) queries against \(TextFormatting.grouped(gallery.count)) gallery items",
      force: true)
    let evaluated = try evaluateSearches(
      queries: queries.vectors, gallery: gallery.vectors, metric: metric,
      labels: (queryLabels, galleryLabels), evaluationProtocol: evaluationProtocol,
      maxRank: options.maxRank, threads: options.threads,
      lsh: indexSource, rerank: options.rerank,
      listDepth: options.reportFolder != nil || options.listsQueries ? options.rankedList.depth : 0,
      progress: progress)
    let entries = evaluated.entries
    let lsh = evaluated.lsh
    var report = EvaluationReport(
      title: "\(name) evaluation",
      details: [
        ("queries", "\(options.queryPath) (\(TextFormatting.grouped(queries.count)) items)"),
        (
          "gallery",
          (options.galleryPath ?? stored.map { "store \($0.location)" }).map {
            "\($0) (\(TextFormatting.grouped(gallery.count)) items)"
          } ?? "the queries themselves, each query excluded from its own ranking"
        ),
        ("protocol", evaluationProtocol.description),
        ("metric", metric == .l2 ? "squared L2" : "cosine"),
        ("dimension", String(queries.vectors.columns)),
        (
          "embedding",
          model.map {
            "\(options.modelPath ?? ""): \($0.architecture.summary), \($0.training.loss.kind.rawValue)"
          } ?? "none (raw features)"
        ),
        (
          "re-ranking",
          options.rerank.map {
            "k-reciprocal (Zhong et al. 2017; torchreid's conventions): k1 \($0.k1), k2 \($0.k2), lambda \($0.lambda)"
          } ?? "none"
        ),
        (
          "search",
          lsh.map {
            "exact, and LSH \($0.summary) over the gallery; the index's top \(options.maxRank) are scored with the rest of the gallery after them in gallery order"
          } ?? "exact"
        ),
      ],
      entries: entries)
    let items = ReportItems(
      queryNames: queries.names, queryLabels: queries.labels, galleryNames: gallery.names,
      galleryLabels: gallery.labels)
    report.items = items
    report.listsQueries = options.listsQueries
    if let folder = options.reportFolder {
      var page = RankedListPage(
        title: report.title, details: report.details, table: report.table, charts: ["cmc.svg"],
        items: items, methods: ReportOutput.methods(of: entries), order: .worstFirst)
      page.queryLimit = options.rankedList.queryLimit
      report = try ReportOutput.write(
        report, page: page, pictures: pictures, to: folder, progress: progress)
    }
    progress.finish()
    return report
  }

  /// Scores exact search and, with an LSH configuration, LSH search of the same gallery.
  ///
  /// Without LSH there is one entry, `prefix + "exact"`, with the evaluation's queries per second
  /// (distances, ranking and scoring). With LSH there are three, each with search queries per
  /// second, ANN recall at the CMC depth and candidates per query: `exact` (the full ranking, as
  /// papers report it), `exact top-D` (the exact top D = max-rank items only, the rest of the
  /// gallery ranked after them in gallery order, as an index that returns D items would leave
  /// it) and `lsh top-D` (the index's top D, likewise). The last two differ only by the
  /// approximation.
  ///
  /// - Parameters:
  ///   - prefix: the start of each entry's name (say "triplet ").
  ///   - queries: prepared query vectors (embedded, unit length for cosine).
  ///   - gallery: prepared gallery vectors.
  ///   - metric: the distance.
  ///   - labels: the query and gallery labels.
  ///   - evaluationProtocol: the protocol.
  ///   - maxRank: the CMC depth, and the depth searched (at most the gallery's size: ranks
  ///     past it add nothing, and a larger depth would only allocate).
  ///   - threads: worker threads.
  ///   - lsh: where the LSH index comes from, or `nil` for exact search only.
  ///   - probeSweep: further numbers of LSH probes per table to score (speed curves).
  ///   - rerank: also score k-reciprocal re-ranking of the exact ranking (`exact+rerank`), or
  ///     `nil`.
  ///   - listDepth: how many items of each query's ranking the entries' metrics record as
  ///     `QueryOutcome`s (0: none; `exact top-D` never records them: it repeats `exact`).
  ///   - progress: status output.
  /// - Returns: the entries, the index settings and the sweep.
  /// - Throws: `LSHError` for bad settings, or storage errors from a stored gallery.
  static func evaluateSearches(
    prefix: String = "", queries: Matrix, gallery: Matrix, metric: DistanceMetric,
    labels: (queries: LabelSet, gallery: LabelSet), evaluationProtocol: EvaluationProtocol,
    maxRank: Int, threads: Int, lsh: IndexSource?, probeSweep: [Int] = [],
    rerank: RerankingParameters? = nil, listDepth: Int = 0, progress: any ProgressReporting
  ) throws -> SearchEvaluation {
    let maxRank = min(maxRank, max(1, gallery.rows))
    let scoring = SearchScoring(
      prefix: prefix, queries: queries, gallery: gallery, metric: metric, labels: labels,
      evaluationProtocol: evaluationProtocol, maxRank: maxRank, threads: threads,
      listDepth: listDepth, progress: progress)
    let exact = try scoring.exact(rerank: rerank)
    guard let lsh else {
      return SearchEvaluation(entries: scoring.exactEntries(exact), lsh: nil, sweep: [])
    }
    let rerankStarted = MonotonicClock.now()
    let comparison = try scoring.compare(
      with: lsh, probeSweep: probeSweep, neighbourDepth: rerank.map { $0.neighbourCount })
    var entries = scoring.entries(exact: exact, comparison: comparison)
    if let rerank, let candidates = comparison.galleryCandidates {
      entries.append(
        scoring.lshRerankEntry(
          comparison, parameters: rerank, candidates: candidates, started: rerankStarted))
    }
    return SearchEvaluation(
      entries: entries, lsh: comparison.configuration, sweep: scoring.sweep(comparison))
  }

  /// Each listed item's distance to its query, by the metric: rankings hold only indices.
  ///
  /// - Parameters:
  ///   - rankings: per query, gallery rows.
  ///   - queries: the query vectors.
  ///   - gallery: the gallery vectors.
  ///   - metric: the distance.
  /// - Returns: distances parallel to `rankings`.
  static func distances(
    of rankings: [[Int]], queries: Matrix, gallery: Matrix, metric: DistanceMetric
  ) -> [[Float]] {
    let columns = queries.columns
    return queries.values.withUnsafeBufferPointer { queryValues in
      gallery.values.withUnsafeBufferPointer { galleryValues in
        rankings.enumerated().map { query, ranking in
          let probe = UnsafeBufferPointer(
            rebasing: queryValues[(query * columns)..<((query + 1) * columns)])
          return ranking.map { row in
            Vectors.distance(
              metric, probe,
              UnsafeBufferPointer(rebasing: galleryValues[(row * columns)..<((row + 1) * columns)]))
          }
        }
      }
    }
  }
}
