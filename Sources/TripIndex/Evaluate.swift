import Embedding
import Evaluation
import VectorIO
import VectorMath

/// `tripindex eval`: score the ranking of a gallery for a set of queries, as re-ID papers report it.
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
    /// CUHK03 repeats.
    public var repeats = 10
    /// CUHK03 sampling seed.
    public var seed: UInt64 = 0
    /// Worker threads.
    public var threads = Parallel.processorCount

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
  /// - Throws: ``VectorIOError`` or ``TripIndexError`` for bad input (missing labels, mismatched
  ///   dimensions, bad options).
  public static func run(_ options: Options, progress: Progress) throws -> EvaluationReport {
    guard options.maxRank > 0 else {
      throw TripIndexError("--max-rank must be at least 1, not \(options.maxRank)")
    }
    guard options.repeats > 0 else {
      throw TripIndexError("--repeats must be at least 1, not \(options.repeats)")
    }
    let model = try options.modelPath.map { path in try EmbeddingModel.read(from: path) }
    let metric = options.metric ?? model?.metric ?? .l2
    progress.update("reading queries from \(options.queryPath)", force: true)
    var queries = try LabelledVectors.load(options.queryPath, progress: progress)
    let excludeSelf = options.galleryPath == nil
    if excludeSelf && options.protocolChoice != .retrieval {
      throw TripIndexError(
        "--gallery is required for the \(options.protocolChoice.rawValue) protocol (only retrieval can rank the queries against themselves)"
      )
    }
    var gallery = queries
    if let galleryPath = options.galleryPath {
      progress.update("reading gallery from \(galleryPath)", force: true)
      gallery = try LabelledVectors.load(galleryPath, progress: progress)
    }
    guard queries.vectors.columns == gallery.vectors.columns else {
      throw TripIndexError(
        "queries (\(options.queryPath)) have dimension \(queries.vectors.columns) but the gallery (\(gallery.source)) has \(gallery.vectors.columns)"
      )
    }
    if let model {
      progress.update("embedding with \(options.modelPath ?? "the model")", force: true)
      queries.vectors = try StoreModel.embed(queries.vectors, with: model, source: queries.source)
      gallery.vectors =
        excludeSelf
        ? queries.vectors
        : try StoreModel.embed(gallery.vectors, with: model, source: gallery.source)
    }
    let evaluationProtocol: EvaluationProtocol
    switch options.protocolChoice {
    case .market1501: evaluationProtocol = .market1501
    case .market1501AllCameras: evaluationProtocol = .market1501AllCameras
    case .cuhk03: evaluationProtocol = .cuhk03(repeats: options.repeats, seed: options.seed)
    case .retrieval: evaluationProtocol = .retrieval(excludeSelf: excludeSelf)
    }
    let name = options.protocolChoice.rawValue
    let queryLabels = try queries.labelSet(
      role: "query", needsCameras: evaluationProtocol.isReID, protocolName: name)
    let galleryLabels = try gallery.labelSet(
      role: "gallery", needsCameras: evaluationProtocol.isReID, protocolName: name)
    if metric.normalizesVectors {
      try normalize(&queries)
      if !excludeSelf { try normalize(&gallery) } else { gallery = queries }
    }
    progress.update(
      "ranking \(TextFormatting.grouped(queries.count)) queries against \(TextFormatting.grouped(gallery.count)) gallery items",
      force: true)
    var evaluator = Evaluator(evaluationProtocol: evaluationProtocol, maxRank: options.maxRank)
    evaluator.threads = options.threads
    let started = Progress.now()
    let metrics = evaluator.evaluate(
      queryVectors: queries.vectors, galleryVectors: gallery.vectors, metric: metric,
      queries: queryLabels, gallery: galleryLabels)
    let seconds = Progress.now() - started
    progress.finish()
    return EvaluationReport(
      title: "\(name) evaluation",
      details: [
        ("queries", "\(options.queryPath) (\(TextFormatting.grouped(queries.count)) items)"),
        (
          "gallery",
          options.galleryPath.map { "\($0) (\(TextFormatting.grouped(gallery.count)) items)" }
            ?? "the queries themselves, each query excluded from its own ranking"
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
      ],
      entries: [
        EvaluationReport.Entry(
          name: "exact", metrics: metrics,
          extras: [("queries/s", Double(queries.count) / max(seconds, 1e-9))])
      ])
  }
}
