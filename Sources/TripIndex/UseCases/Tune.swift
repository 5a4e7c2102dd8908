import LSHIndex
import Plumbing
import VectorIO
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
  ///   - storePath: the store's directory.
  ///   - target: recall@k to reach.
  ///   - k: neighbours per query.
  ///   - sampleSize: queries per sample.
  ///   - families: families to try (`nil`: p-stable for l2, all three for cosine).
  ///   - queriesPath: a file of the user's own probes to tune on (embedded with the store's
  ///     model), or `nil` to hold sampled items out of the index.
  ///   - progress: status output.
  /// - Returns: the outcome.
  /// - Throws: `LSHError`, `VectorStoreError`, `VectorIOError` for a bad queries file.
  public static func run(
    storePath: String, target: Double, k: Int, sampleSize: Int, families: [HashFamily]?,
    queriesPath: String? = nil, progress: any ProgressReporting
  ) throws -> Outcome {
    try RedisAccess.requireLMDB(storePath, for: "tune")
    let store = try VectorStore.open(path: storePath)
    var grid = LSHTuner.Grid(metric: store.metric)
    if let families, !families.isEmpty { grid.families = families }
    let queries = try queriesPath.map { path in
      try Query.readProbes(
        path, dimension: store.dimension, metric: store.metric, store: store.path,
        model: try StoreModel.load(for: store, override: nil)
      ).vectors
    }
    let report = try LSHTuner.tune(
      store: store, target: target, k: k, sampleSize: sampleSize, queries: queries, grid: grid
    ) { line in
      progress.update(line, force: true)
    }
    let exactTime = TextFormatting.fixed(report.exactMicrosecondsPerQuery, 1)
    /// Records the verdict in the store (dropping any index for exact search) and returns it.
    func decide(exact: Bool, built: LSHTuner.Measurement?, _ verdict: String) throws -> Outcome {
      if exact { try LSHIndex.drop(from: store) }
      try store.write { writer in
        try writer.setMetadata(verdictKey, exact ? "exact" : "lsh")
        try writer.setMetadata(
          verdictDetailKey, "\(verdict) (target recall@\(k) \(target), \(Self.timestamp()))")
      }
      progress.finish()
      return Outcome(report: report, built: built, exact: exact, verdict: verdict)
    }
    if let chosen = report.chosen, let encoder = report.encoder {
      progress.update("building the index with \(chosen.configuration.summary)", force: true)
      let index = try LSHIndex.build(on: store, encoder: encoder)
      let built = try LSHTuner.check(index, against: report)
      let builtTime = TextFormatting.fixed(built.microsecondsPerQuery, 1)
      if built.microsecondsPerQuery * LSHTuner.minimumSpeedup <= report.exactMicrosecondsPerQuery {
        try index.recordSpeed(
          lsh: built.microsecondsPerQuery, exact: report.exactMicrosecondsPerQuery)
        // Measured again in place (the truth taken anew): a store changed by another process
        // meanwhile, or chance, can leave it under the target, which the verdict then says.
        let shortfall =
          built.recall < target
          ? "; that is below the target \(TextFormatting.fixed(target, 2)) (the store changed while tune ran, or the held-out sample differs by chance): run tune again"
          : ""
        return try decide(
          exact: false, built: built,
          "lsh: \(chosen.configuration.summary) reaches recall@\(k) \(TextFormatting.fixed(built.recall, 3)) on \(built.queries) held-out queries at \(builtTime) µs/query on one thread; exact search takes \(exactTime) µs\(shortfall)"
        )
      }
      return try decide(
        exact: true, built: built,
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
    return try decide(
      exact: true, built: nil,
      "exact: \(reason); any index was dropped and queries search exactly")
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
