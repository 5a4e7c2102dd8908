import Embedding
import Evaluation
import LSHIndex
import Plumbing
import RankedLists
import VectorIO
import VectorMath

/// The `benchmark` command: the whole offline re-ID comparison in one run. Trains the triplet
/// embedder (batch-hard, soft margin), the softmax surrogate and the joint recipe (batch-hard +
/// a weighted, label-smoothed softmax head; ``Train/JointRecipe``) with the same trunk and budget
/// on `train/`, embeds `query/` and `gallery/` with each, and scores raw features, triplet and
/// surrogate under the Market-1501 protocol with exact and LSH search; trained rows are means
/// over several seeds.
public enum Benchmark {
  /// What to run.
  public struct Options: Sendable {
    /// The folder holding `train/`, `query/` and `gallery/`.
    public var directory: String
    /// Training iterations of each model.
    public var iterations = 3000
    /// Hidden widths of the shared trunk.
    public var hiddenSizes = [256]
    /// The embedding's width.
    public var outputDimension = 64
    /// One training run per seed for each loss.
    public var seeds: [UInt64] = [1, 2, 3]
    /// The CMC depth, and the depth searched.
    public var maxRank = 50
    /// Worker threads.
    public var threads = Parallel.processorCount
    /// LSH settings; the family follows each model's metric unless chosen.
    public var lsh = LSHChoices()
    /// Probes per table of the speed curves.
    public var probeSweep = [1, 2, 4, 8, 16, 32]
    /// k-reciprocal re-ranking of each exact ranking (`exact+rerank` rows), or `nil` for none.
    public var rerank: RerankingParameters? = RerankingParameters()
    /// Where the trained models are written (`nil`: not kept).
    public var modelDirectory: String?
    /// Which pids are distractors and junk (Market-1501's 0 and −1 by default): left out of
    /// training, skipped as queries, never matches.
    public var pidConventions = PIDConventions.market1501
    /// The training, query and gallery sets, where they are not `train/`, `query/` and
    /// `gallery/` of ``directory`` (each a folder or file in the layouts `build` reads).
    public var trainPath: String?, queryPath: String?, galleryPath: String?
    /// How the embeddings are scored.
    public var scoring = Scoring.asTrained
    /// Already-trained models to compare beside the trained ones, by name (each scored once).
    public var models: [(name: String, path: String)] = []
    /// Write the report, charts, ranked-list page and models into this folder; `nil` for none.
    public var reportFolder: String?
    /// What the ranked-list page lists (the first seed's triplet, surrogate and joint models,
    /// side by side), and its pictures.
    public var rankedList = RankedListChoices()

    /// Creates options.
    ///
    /// - Parameter directory: the folder holding `train/`, `query/` and `gallery/` (or `""` when
    ///   all three are given as paths).
    public init(directory: String) { self.directory = directory }

    /// The three sets' paths.
    ///
    var setPaths: [(name: String, path: String, given: Bool)] {
      [("train", trainPath), ("query", queryPath), ("gallery", galleryPath)].map { name, path in
        (name, path ?? directory + "/" + name, path != nil)
      }
    }
  }

  /// The models compared.
  enum Method: String, CaseIterable {
    case raw, triplet, surrogate, joint
  }

  /// How embeddings are compared when scored.
  public enum Scoring: String, Sendable, CaseIterable {
    /// Each model by its own metric, and the softmax surrogate by cosine as well (as re-ID
    /// practice scores softmax features), in `surrogate-cosine` rows.
    case asTrained = "as-trained"
    /// Every model by squared L2.
    case l2
    /// Every model by 1 − cos (embeddings normalised).
    case cosine
  }

  /// The outcome: a report (table, JSON, CMC chart) and the speed charts, written into
  /// ``Options/reportFolder`` when one was given.
  public struct Result: Sendable {
    /// The report.
    public var report: EvaluationReport
    /// Rank-1 and mAP against queries per second, by file name.
    public var charts: [(String, SVGChart)]
  }

  /// The models whose first-seed rankings the ranked-list page shows side by side.
  static let listedMethods: [Method] = [.triplet, .surrogate, .joint]

  /// The training settings of one compared loss: the same trunk, budget and seed for both; each
  /// loss with the learning rate and weight decay `train` defaults to.
  ///
  /// - Parameters:
  ///   - method: triplet or surrogate.
  ///   - options: the benchmark's options.
  ///   - seed: the run's seed.
  /// - Returns: the training options.
  static func trainingOptions(for method: Method, options: Options, seed: UInt64)
    -> TrainingOptions
  {
    var training = TrainingOptions()
    training.hiddenSizes = options.hiddenSizes
    training.outputDimension = options.outputDimension
    training.iterations = options.iterations
    training.seed = seed
    let kind: LossKind = method == .surrogate ? .softmax : .batchHard
    training.loss = LossConfiguration(
      kind: kind, margin: method == .surrogate ? Train.defaultMargin(for: kind) : .soft,
      distance: .euclidean)
    training.learningRate = Train.defaultLearningRate(for: kind, margin: training.loss.margin)
    training.weightDecay = Train.defaultWeightDecay(for: kind)
    if method == .joint {
      training.loss.softmaxWeight = Train.JointRecipe.softmaxWeight
      training.loss.labelSmoothing = Train.JointRecipe.labelSmoothing
      training.loss.softmaxClasses = Train.JointRecipe.softmaxClasses
      training.weightDecay = Train.JointRecipe.weightDecay
    }
    return training
  }

  /// One model's evaluation in one run.
  struct Run {
    var evaluation: SearchEvaluation
    var trainingSeconds: Double
  }

  /// Runs the benchmark.
  ///
  /// - Parameters:
  ///   - options: what to run.
  ///   - progress: status output.
  /// - Returns: the report and charts.
  /// - Throws: ``TripIndexError`` for a missing folder or labels, `VectorIOError`,
  ///   `TrainingError`, `LSHError`.
  public static func run(_ options: Options, progress: any ProgressReporting) throws -> Result {
    guard !options.seeds.isEmpty else {
      throw TripIndexError("\(option: .seeds) must be at least 1")
    }
    guard options.iterations > 0 else {
      throw TripIndexError("\(option: .iterations) must be at least 1, not \(options.iterations)")
    }
    guard options.maxRank > 0 else {
      throw TripIndexError("\(option: .maxRank) must be at least 1, not \(options.maxRank)")
    }
    let folders = try options.setPaths.map { name, path, given in
      guard given || Directories.isDirectory(path) else {
        throw TripIndexError(
          "\(options.directory) has no \(name)/ folder; benchmark needs train/, query/ and gallery/, or \(option: .train), \(option: .query) and \(option: .gallery) (see \(command: "datasets synth-reid"))"
        )
      }
      return try LabelledVectors.load(path, progress: progress)
    }
    let (training, query, gallery) = (folders[0], folders[1], folders[2])
    guard training.vectors.columns == query.vectors.columns,
      query.vectors.columns == gallery.vectors.columns
    else {
      throw TripIndexError(
        "train/, query/ and gallery/ must share one dimension (got \(training.vectors.columns), \(query.vectors.columns), \(gallery.vectors.columns))"
      )
    }
    let protocolName = Evaluate.ProtocolChoice.market1501.rawValue
    for warning in options.pidConventions.warnings(
      pids: query.labels.compactMap(\.pid), role: "queries", outcome: "are skipped")
    {
      progress.warn(warning)
    }
    // The evaluator counts in Market-1501's convention; the user's pids are renumbered into it.
    let renumbered = options.pidConventions.evaluatorLabelSets([
      try query.labelSet(role: "query", needsCameras: true, protocolName: protocolName),
      try gallery.labelSet(role: "gallery", needsCameras: true, protocolName: protocolName),
    ])
    let labels = (queries: renumbered[0], gallery: renumbered[1])
    try options.rankedList.check()
    let pictures =
      options.reportFolder == nil
      ? PictureSource.tiles
      : try options.rankedList.pictureSource(
        queries: query.vectors, gallery: gallery.vectors, galleryNote: "")
    if let modelDirectory = options.modelDirectory { try Directories.create(modelDirectory) }

    func evaluate(
      _ name: String, queries: Matrix, gallery: Matrix, metric: DistanceMetric, listed: Bool
    ) throws -> SearchEvaluation {
      try Evaluate.evaluateSearches(
        prefix: name + " ", queries: queries, gallery: gallery, metric: metric,
        labels: labels, evaluationProtocol: .market1501, maxRank: options.maxRank,
        threads: options.threads, lsh: .temporary(options.lsh.configuration(metric: metric)),
        probeSweep: options.probeSweep, rerank: options.rerank,
        listDepth: listed && options.reportFolder != nil ? options.rankedList.depth : 0,
        progress: progress)
    }

    // Row groups by name, in the order they are reported.
    var runs: [String: [Run]] = [:]
    var order: [String] = []
    func add(_ name: String, _ run: Run) {
      if runs[name] == nil { order.append(name) }
      runs[name, default: []].append(run)
    }
    /// Embeds with a model and scores the embeddings by `metric`.
    func score(
      _ model: EmbeddingModel, as name: String, metric: DistanceMetric, seconds: Double,
      listed: Bool = false
    ) throws {
      var queries = model.embed(query.vectors)
      var galleryVectors = model.embed(gallery.vectors)
      if metric.normalizesVectors {
        queries.normalizeRows()
        galleryVectors.normalizeRows()
      }
      add(
        name,
        Run(
          evaluation: try evaluate(
            name, queries: queries, gallery: galleryVectors, metric: metric, listed: listed),
          trainingSeconds: seconds))
    }
    func metric(of model: EmbeddingModel) -> DistanceMetric {
      switch options.scoring {
      case .asTrained: model.metric
      case .l2: .l2
      case .cosine: .cosine
      }
    }
    progress.update("raw features", force: true)
    add(
      Method.raw.rawValue,
      Run(
        evaluation: try evaluate(
          Method.raw.rawValue, queries: query.vectors, gallery: gallery.vectors, metric: .l2,
          listed: false),
        trainingSeconds: 0))
    // Models of the user's, checked before any training.
    let given = try options.models.map { name, path in
      let model = try EmbeddingModel.read(from: path)
      guard model.architecture.inputDimension == query.vectors.columns else {
        throw TripIndexError(
          "model \(name) (\(path)) takes \(model.architecture.inputDimension)-dimensional inputs; the benchmark's features have \(query.vectors.columns)"
        )
      }
      return (name: name, path: path, model: model)
    }
    var architectures: [Method: String] = [:]
    for seed in options.seeds {
      for method in [Method.triplet, .surrogate, .joint] {
        progress.update("training \(method.rawValue), seed \(seed)", force: true)
        let started = MonotonicClock.now()
        let fitted = try Train.fit(
          training, training: trainingOptions(for: method, options: options, seed: seed),
          validationFraction: 0.1, pidConventions: options.pidConventions, progress: progress)
        let seconds = MonotonicClock.now() - started
        let model = fitted.result.model
        architectures[method] =
          "\(model.architecture.summary), \(model.training.loss.kind.rawValue), lr \(model.training.learningRate), weight decay \(model.training.weightDecay)"
        if let directory = options.modelDirectory {
          try model.write(to: "\(directory)/\(method.rawValue)-seed\(seed).tpm")
        }
        try score(
          model, as: method.rawValue, metric: metric(of: model), seconds: seconds,
          listed: seed == options.seeds[0] && listedMethods.contains(method))
        if method == .surrogate && options.scoring == .asTrained && model.metric == .l2 {
          try score(model, as: "surrogate-cosine", metric: .cosine, seconds: seconds)
        }
      }
    }
    for model in given {
      progress.update("scoring model \(model.name)", force: true)
      try score(model.model, as: model.name, metric: metric(of: model.model), seconds: 0)
    }
    progress.finish()

    var entries: [EvaluationReport.Entry] = []
    var sweepJSON: [(String, JSONValue)] = []
    var rankOneSeries: [SVGChart.Series] = []
    var mapSeries: [SVGChart.Series] = []
    var widths: [String] = []
    for (slot, method) in order.enumerated() {
      let methodRuns = runs[method] ?? []
      guard let first = methodRuns.first else { continue }
      for (row, entry) in first.evaluation.entries.enumerated() {
        let metrics = methodRuns.map { $0.evaluation.entries[row].metrics }
        var extras = entry.extras.indices.map { column in
          (
            entry.extras[column].0,
            methodRuns.reduce(0) { $0 + $1.evaluation.entries[row].extras[column].1 }
              / Double(methodRuns.count)
          )
        }
        extras.append(
          ("rank-1 sd", 100 * EvaluationMetrics.standardDeviation(metrics) { $0.cmc[0] }))
        extras.append(("mAP sd", 100 * EvaluationMetrics.standardDeviation(metrics, of: \.mAP)))
        var averaged = EvaluationReport.Entry(
          name: entry.name, metrics: EvaluationMetrics.mean(metrics), extras: extras)
        averaged.charted = entry.charted
        averaged.colourSlot = slot
        entries.append(averaged)
      }
      if let width = first.evaluation.lsh?.bucketWidth {
        widths.append("\(method) w\(TextFormatting.fixed(width, 2))")
      }
      // Speed curves: exact top-D as one point, LSH over the probe sweep, averaged over seeds.
      guard
        let exactRow = entries.last(where: { $0.name.hasPrefix(method + " exact top-") })
      else { continue }
      let exactPoint = (
        x: exactRow.extras[0].1, rankOne: exactRow.metrics.cmc[0], map: exactRow.metrics.mAP
      )
      var points: [(probes: Int, qps: Double, rankOne: Double, map: Double, recall: Double)] = []
      for (index, point) in first.evaluation.sweep.enumerated() {
        let all = methodRuns.map { $0.evaluation.sweep[index] }
        let count = Double(all.count)
        points.append(
          (
            point.probes, all.reduce(0) { $0 + $1.queriesPerSecond } / count,
            all.reduce(0) { $0 + $1.metrics.cmc[0] } / count,
            all.reduce(0) { $0 + $1.metrics.mAP } / count,
            all.reduce(0) { $0 + $1.annRecall } / count
          ))
      }
      sweepJSON.append(
        (
          method,
          .array(
            points.map { point in
              .object([
                ("probes", .integer(point.probes)), ("queries_per_second", .number(point.qps)),
                ("rank1", .number(point.rankOne)), ("map", .number(point.map)),
                ("ann_recall", .number(point.recall)),
              ])
            })
        ))
      rankOneSeries += [
        SVGChart.Series(
          name: "\(method) exact", points: [(exactPoint.x, exactPoint.rankOne)],
          colourSlot: slot),
        SVGChart.Series(
          name: "\(method) lsh", points: points.map { ($0.qps, $0.rankOne) }, dashed: true,
          colourSlot: slot),
      ]
      mapSeries += [
        SVGChart.Series(
          name: "\(method) exact top-\(options.maxRank)",
          points: [(exactPoint.x, exactPoint.map)], colourSlot: slot),
        SVGChart.Series(
          name: "\(method) lsh top-\(options.maxRank)",
          points: points.map { ($0.qps, $0.map) }, dashed: true, colourSlot: slot),
      ]
    }

    let lshSummary = runs[Method.raw.rawValue]?.first?.evaluation.lsh?.summary ?? "-"
    let meanTraining = { (method: Method) -> String in
      let seconds = (runs[method.rawValue] ?? []).map(\.trainingSeconds)
      return TextFormatting.seconds(seconds.reduce(0, +) / Double(max(seconds.count, 1)))
    }
    let modelLines = given.map { model in
      (
        "model \(model.name)",
        "\(model.path): \(model.model.architecture.summary), \(model.model.training.loss.kind.rawValue) (scored once, not trained here)"
      )
    }
    var report = EvaluationReport(
      title: "triplet vs softmax surrogate vs joint on \(options.directory)",
      details: [
        (
          "data",
          "train \(TextFormatting.grouped(training.count)) items, query \(TextFormatting.grouped(query.count)), gallery \(TextFormatting.grouped(gallery.count)), \(training.vectors.columns)-d"
        ),
        ("protocol", EvaluationProtocol.market1501.description),
        (
          "triplet",
          (architectures[.triplet] ?? "-") + "; mean training time " + meanTraining(.triplet)
        ),
        (
          "surrogate",
          (architectures[.surrogate] ?? "-") + "; mean training time " + meanTraining(.surrogate)
        ),
        (
          "joint",
          (architectures[.joint] ?? "-")
            + "; + \(Train.JointRecipe.softmaxWeight) × softmax cross-entropy (label smoothing \(Train.JointRecipe.labelSmoothing), \(Train.JointRecipe.softmaxClasses) classes scored per batch); mean training time "
            + meanTraining(.joint)
        ),
        (
          "scoring",
          {
            switch options.scoring {
            case .asTrained:
              return
                "each model by its own metric; the surrogate by cosine as well (surrogate-cosine rows)"
            case .l2: return "every model by squared L2"
            case .cosine: return "every model by 1 − cos"
            }
          }()
        ),
        (
          "budget",
          "\(TextFormatting.grouped(options.iterations)) iterations of 16×4 batches each, 10% of training identities held out for model selection"
        ),
        (
          "seeds",
          options.seeds.map(String.init).joined(separator: ", ")
            + " (trained rows are means; the sd columns are sample standard deviations over seeds, in percentage points)"
        ),
        (
          "search",
          "exact (full ranking); exact and lsh top-\(options.maxRank): the index's top \(options.maxRank) with the rest of the gallery after them in gallery order. LSH \(lshSummary) (bucket width per model: \(widths.joined(separator: ", "))); search q/s is measured on the same vectors (in memory) for both, \(options.threads) threads"
        ),
      ] + modelLines,
      entries: entries)
    report.supplements = [("lsh_probe_sweep", .object(sweepJSON))]
    let items = ReportItems(
      queryNames: query.names, queryLabels: query.labels, galleryNames: gallery.names,
      galleryLabels: gallery.labels)
    func chart(_ title: String, _ label: String, _ series: [SVGChart.Series]) -> SVGChart {
      var chart = SVGChart(
        title: title, xLabel: "queries per second (log scale)", yLabel: label, series: series,
        yRange: 0...1)
      chart.logarithmicX = true
      return chart
    }
    let sweep = options.probeSweep.map(String.init).joined(separator: ", ")
    var result = Result(
      report: report,
      charts: [
        (
          "rank1-vs-qps.svg",
          chart("Rank-1 vs speed (LSH probes per table \(sweep))", "rank-1", rankOneSeries)
        ),
        ("map-vs-qps.svg", chart("mAP vs speed (LSH probes per table \(sweep))", "mAP", mapSeries)),
      ])
    if let folder = options.reportFolder {
      let methods = listedMethods.flatMap { method in
        ReportOutput.methods(of: runs[method.rawValue]?.first?.evaluation.entries ?? [])
      }
      var page: RankedListPage?
      let triplet = methods.firstIndex { $0.name == "\(Method.triplet.rawValue) exact" }
      let surrogate = methods.firstIndex { $0.name == "\(Method.surrogate.rawValue) exact" }
      if let triplet, let surrogate {
        page = RankedListPage(
          title: report.title + ", seed \(options.seeds[0])", details: report.details,
          table: report.table, charts: ["cmc.svg"], items: items, methods: methods,
          order: .largestDifference(triplet, surrogate))
        page?.queryLimit = options.rankedList.queryLimit
      }
      result.report = try ReportOutput.write(
        report, extraCharts: result.charts, page: page, pictures: pictures, to: folder,
        progress: progress)
    }
    return result
  }
}
