import LSHIndex
import Plumbing
import RedisStore
import VectorIO
import VectorMath
import VectorStore

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The `tune` command: choose how a store is searched — the LSH setting that reaches a target
/// recall fastest, or exact search when no setting beats it — and build that.
public enum Tune {
  /// The metadata key that records a tuning's verdict.
  public static let verdictKey = "tuned"
  /// The metadata key of the last verdict in words (what was chosen, the recall it reached, on
  /// how many queries, and when), for `info`.
  public static let verdictDetailKey = "tune_verdict"

  /// What tuning decided.
  public struct Outcome: Sendable {
    /// The tuner's measurements.
    public var report: LSHTuner.Report
    /// The built index measured in place on sample B, when an LSH setting was chosen.
    public var built: LSHTuner.Measurement?
    /// Whether the store is now searched exactly (no LSH setting was fast enough).
    public var exact: Bool
    /// One line that says what was decided and why.
    public var verdict: String
  }

  /// Measures the grid, then builds the index with the fastest setting that reaches `target`
  /// (95% lower bound on sample A, mean on sample B) and checks it in place; when exact search
  /// is faster than every such setting, drops any index so that queries search exactly.
  ///
  /// - Parameters:
  ///   - storePath: the store's directory, or a `redis://` address.
  ///   - target: recall@k to reach.
  ///   - k: neighbours per query.
  ///   - sampleSize: queries per sample.
  ///   - families: families to try (`nil`: p-stable, ITQ and, up to 2M items,
  ///     cross-polytope for l2; every family for cosine).
  ///   - queriesPath: a file of the user's own probes to tune on (embedded with the store's
  ///     model), or `nil` to hold sampled items out of the index.
  ///   - redis: how to reach a store on a Redis Cluster.
  ///   - progress: status output.
  /// - Returns: the outcome.
  /// - Throws: `LSHError`, `VectorStoreError`, `VectorIOError` for a bad queries file;
  ///   `RedisError` or `RedisStoreError` for a Redis store.
  public static func run(
    storePath: String, target: Double, k: Int, sampleSize: Int, families: [HashFamily]?,
    queriesPath: String? = nil, redis: RedisAccess = RedisAccess(),
    progress: any ProgressReporting
  ) throws -> Outcome {
    if RedisAccess.isRedis(storePath) {
      return try runOnRedis(
        storePath, target: target, k: k, sampleSize: sampleSize, families: families,
        queriesPath: queriesPath, redis: redis, progress: progress)
    }
    let store = try VectorStore.open(path: storePath)
    let queries = try tuningQueries(
      queriesPath, dimension: store.dimension, metric: store.metric, location: store.path,
      metadata: store.metadata)
    let report = try LSHTuner.tune(
      store: store, target: target, k: k, sampleSize: sampleSize, queries: queries,
      grid: grid(for: store.metric, families: families)
    ) { line in
      progress.update(line, force: true)
    }
    var index: LSHIndex?
    let outcome = try decide(report, target: target, k: k, progress: progress) { encoder in
      let built = try LSHIndex.build(on: store, encoder: encoder)
      index = built
      return try LSHTuner.check(built, against: report)
    }
    if let built = outcome.built, let index, !outcome.exact {
      try index.recordSpeed(
        lsh: built.microsecondsPerQuery, exact: report.exactMicrosecondsPerQuery)
    } else {
      try LSHIndex.drop(from: store)
    }
    try store.write { writer in
      for (key, value) in outcome.recordedVerdict(k: k, target: target) {
        try writer.setMetadata(key, value)
      }
    }
    progress.finish()
    return outcome
  }

  /// ``run(storePath:target:k:sampleSize:families:queriesPath:redis:progress:)`` for a store on
  /// a Redis Cluster: tuned over one snapshot, the chosen setting's tables built in memory over
  /// it (as every query process builds them) and checked, then the index switched, or dropped,
  /// with the verdict in one write.
  private static func runOnRedis(
    _ location: String, target: Double, k: Int, sampleSize: Int, families: [HashFamily]?,
    queriesPath: String?, redis: RedisAccess, progress: any ProgressReporting
  ) throws -> Outcome {
    let store = try redis.open(location)
    let replicas = try redis.replicaCount(for: store)
    let name = "\(store.address)"
    progress.update("reading the store from the cluster", force: true)
    let snapshot = try store.snapshot()
    let queries = try tuningQueries(
      queriesPath, dimension: store.dimension, metric: store.metric, location: name,
      metadata: { snapshot.metadata($0) })
    let report = try LSHTuner.tune(
      over: snapshot, describedAs: "store \(name)", target: target, k: k,
      sampleSize: sampleSize, queries: queries, grid: grid(for: store.metric, families: families)
    ) { line in
      progress.update(line, force: true)
    }
    let outcome = try decide(report, target: target, k: k, progress: progress) { encoder in
      try LSHTuner.check(
        LSHMemoryIndex(encoder: encoder, over: snapshot), over: snapshot, against: report)
    }
    let verdict = outcome.recordedVerdict(k: k, target: target)
    if let built = outcome.built, let encoder = report.encoder, !outcome.exact {
      try RedisIndex.switchTo(
        encoder, on: store, over: snapshot,
        metadata: verdict.merging([
          LSHIndex.speedKey: LSHIndex.speedText(
            lsh: built.microsecondsPerQuery, exact: report.exactMicrosecondsPerQuery)
        ]) { kept, _ in kept }, replicas: replicas, progress: progress)
    } else {
      try RedisIndex.drop(from: store, replicas: replicas, metadata: verdict)
    }
    progress.finish()
    return outcome
  }

  /// The user's own probes to tune on, embedded with the model the store records, or `nil`
  /// without a file.
  private static func tuningQueries(
    _ path: String?, dimension: Int, metric: DistanceMetric, location: String,
    metadata: (String) throws -> String?
  ) throws -> Matrix? {
    guard let path else { return nil }
    return try Query.readProbes(
      path, dimension: dimension, metric: metric, store: location,
      model: try StoreModel.load(metadata: metadata, location: location, override: nil)
    ).vectors
  }

  /// The grid for a store's metric, with the families asked for.
  private static func grid(for metric: DistanceMetric, families: [HashFamily]?) -> LSHTuner.Grid {
    var grid = LSHTuner.Grid(metric: metric)
    if let families, !families.isEmpty {
      // Families asked for are tried whatever the store's size.
      grid.families = families
      grid.familyItemLimits = [:]
    }
    return grid
  }

  /// What the verdict adds about the built index's recall on sample B, measured again in place
  /// (the truth taken anew, over every item, the held-out ones too): nothing at or above the
  /// target; below it by no more than ``LSHTuner/Measurement/recallMargin`` (1.645 standard
  /// errors of that recall over B's queries), that this is within their sampling error (B
  /// confirmed the setting over tables without the held-out items, right at the target, and the
  /// index is kept); further below, that the store changed while tune ran (or chance), and to
  /// run tune again.
  ///
  /// - Parameters:
  ///   - built: the built index's measurement on sample B.
  ///   - target: the recall target.
  /// - Returns: the text to append to the verdict, empty when none.
  static func shortfallNote(_ built: LSHTuner.Measurement, target: Double) -> String {
    guard built.recall < target else { return "" }
    let margin = built.recallMargin
    if target - built.recall <= margin {
      return
        "; that is \(TextFormatting.fixed(target - built.recall, 3)) below the target \(TextFormatting.fixed(target, 2)) on these \(built.queries) queries, within their sampling error (± \(TextFormatting.fixed(margin, 3)))"
    }
    return
      "; that is below the target \(TextFormatting.fixed(target, 2)) (the store changed while tune ran, or the held-out sample differs by chance): run tune again"
  }

  /// What the measurements decide: the chosen setting, built by `buildAndCheck` (which returns
  /// its measurement in place), when it beats exact search by ``LSHTuner/minimumSpeedup``;
  /// exact search otherwise, with the reason.
  private static func decide(
    _ report: LSHTuner.Report, target: Double, k: Int, progress: any ProgressReporting,
    buildAndCheck: (ItemEncoder) throws -> LSHTuner.Measurement
  ) throws -> Outcome {
    let exactTime = TextFormatting.fixed(report.exactMicrosecondsPerQuery, 1)
    if let chosen = report.chosen, let encoder = report.encoder {
      progress.update("building the index with \(chosen.configuration.summary)", force: true)
      let built = try buildAndCheck(encoder)
      let builtTime = TextFormatting.fixed(built.microsecondsPerQuery, 1)
      if built.microsecondsPerQuery * LSHTuner.minimumSpeedup <= report.exactMicrosecondsPerQuery {
        let shortfall = shortfallNote(built, target: target)
        return Outcome(
          report: report, built: built, exact: false,
          verdict:
            "lsh: \(chosen.configuration.summary) reaches recall@\(k) \(TextFormatting.fixed(built.recall, 3)) on \(built.queries) held-out queries at \(builtTime) µs/query on one thread; exact search takes \(exactTime) µs\(shortfall)"
        )
      }
      return Outcome(
        report: report, built: built, exact: true,
        verdict:
          "exact: built in the store, \(chosen.configuration.summary) took \(builtTime) µs/query against \(exactTime) µs for exact search; the index was dropped and queries search exactly"
      )
    }
    let reason: String
    if let fastest = report.fastestReaching {
      reason =
        "the fastest LSH setting reaching recall \(TextFormatting.fixed(target, 2)), \(fastest.configuration.summary), takes \(TextFormatting.fixed(fastest.microsecondsPerQuery, 1)) µs/query against \(exactTime) µs for exact search"
    } else {
      let best = report.measurements.max { $0.recall < $1.recall }
      let bestText =
        best.map {
          "; the best recall measured, \(TextFormatting.fixed($0.recall, 3)) (\($0.configuration.summary)), took \(TextFormatting.fixed($0.microsecondsPerQuery, 1)) µs/query against \(exactTime) µs for exact search"
        } ?? ""
      reason =
        "no LSH setting \(TextFormatting.fixed(LSHTuner.minimumSpeedup, 1))x faster than exact search held recall \(TextFormatting.fixed(target, 2)) on the held-out samples A and B\(bestText)"
    }
    return Outcome(
      report: report, built: nil, exact: true,
      verdict: "exact: \(reason); any index was dropped and queries search exactly")
  }
}

extension Tune.Outcome {
  /// The metadata that records the verdict (``Tune/verdictKey``, ``Tune/verdictDetailKey``).
  func recordedVerdict(k: Int, target: Double) -> [String: String?] {
    [
      Tune.verdictKey: exact ? "exact" : "lsh",
      Tune.verdictDetailKey:
        "\(verdict) (target recall@\(k) \(target), \(Tune.timestamp()))",
    ]
  }
}

extension Tune.Outcome {
  /// The measurements as a table, the chosen row marked.
  public var table: String {
    let rows = report.measurements.map { measurement -> [String] in
      let configuration = measurement.configuration
      return [
        configuration.family.rawValue, String(configuration.tables),
        String(configuration.hashesPerTable),
        configuration.bucketWidth.map { TextFormatting.fixed($0, 1) } ?? "-",
        String(configuration.probes),
        TextFormatting.fixed(measurement.recall, 3),
        TextFormatting.fixed(measurement.microsecondsPerQuery, 1),
        TextFormatting.grouped(Int(measurement.candidates.rounded())),
        TextFormatting.grouped(Int(measurement.exactDistances.rounded())),
        measurement.configuration == report.chosen?.configuration ? "◀ chosen" : "",
      ]
    }
    return TextTable.render(
      header: [
        "family", "L", "K", "w", "T", "recall@\(report.k)", "µs/query", "entries", "exact", "",
      ], rows: rows,
      rightAligned: [false, true, true, true, true, true, true, true, true, false])
  }

  /// A summary: the verdict, the samples and the time taken.
  public var summary: String {
    "\(verdict)\n(tuned on \(report.sampleSize) + \(report.sampleSize) queries from \(report.queriesSource); "
      + "\(report.measurements.count) settings on a quarter sample, \(report.finalists.count) finalists; "
      + "\(TextFormatting.fixed(report.seconds, 1)) s)"
  }

  /// The outcome as JSON.
  public var json: JSONValue {
    func measurementJSON(_ measurement: LSHTuner.Measurement) -> JSONValue {
      .object([
        ("configuration", measurement.configuration.json),
        ("queries", .integer(measurement.queries)),
        ("recall", .number(measurement.recall)),
        ("recall_lower_bound", .number(measurement.recallLowerBound)),
        ("microseconds_per_query", .number(measurement.microsecondsPerQuery)),
        ("candidates", .number(measurement.candidates)),
        ("exact_distances", .number(measurement.exactDistances)),
      ])
    }
    return .object([
      ("search", .string(exact ? "exact" : "lsh")), ("verdict", .string(verdict)),
      ("target", .number(report.target)), ("k", .integer(report.k)),
      ("sample_size", .integer(report.sampleSize)),
      ("queries_source", .string(report.queriesSource)),
      ("exact_microseconds_per_query", .number(report.exactMicrosecondsPerQuery)),
      ("chosen", report.chosen.map { $0.configuration.json } ?? .null),
      ("held_out_recall", report.heldOutRecall.map { .number($0) } ?? .null),
      ("built", built.map(measurementJSON) ?? .null),
      ("seconds", .number(report.seconds)),
      ("finalists", .array(report.finalists.map(measurementJSON))),
      ("measurements", .array(report.measurements.map(measurementJSON))),
    ])
  }
}

extension Tune {
  /// The current time as an ISO 8601 UTC timestamp.
  static func timestamp() -> String {
    var seconds = time(nil)
    var parts = tm()
    gmtime_r(&seconds, &parts)
    func padded(_ value: Int32, _ width: Int) -> String {
      let digits = String(value)
      return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
    let date = [
      padded(parts.tm_year + 1900, 4), padded(parts.tm_mon + 1, 2), padded(parts.tm_mday, 2),
    ]
    let clock = [padded(parts.tm_hour, 2), padded(parts.tm_min, 2), padded(parts.tm_sec, 2)]
    return date.joined(separator: "-") + "T" + clock.joined(separator: ":") + "Z"
  }
}
