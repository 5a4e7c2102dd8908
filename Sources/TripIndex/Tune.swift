import LSHIndex
import VectorIO
import VectorStore

/// `tripindex tune`: choose and build the LSH settings that reach a target recall fastest.
public enum Tune {
  /// Measures the grid, builds the index with the fastest setting that reaches `target` (with 95%
  /// confidence: see ``LSHTuner``), and
  /// stores that setting (including T and the budget) as the index's defaults.
  ///
  /// - Parameters:
  ///   - storePath: the store's directory.
  ///   - target: recall@k to reach.
  ///   - k: neighbours per query.
  ///   - sampleSize: queries per sample.
  ///   - families: families to try (`nil`: p-stable for l2, all three for cosine).
  ///   - progress: status output.
  /// - Returns: the tuning report.
  /// - Throws: ``TripIndexError`` when no setting reaches the target (the index is left as it
  ///   was), ``LSHError``, ``VectorStoreError``.
  public static func run(
    storePath: String, target: Double, k: Int, sampleSize: Int, families: [HashFamily]?,
    progress: Progress
  ) throws -> LSHTuner.Report {
    let store = try Index.openForWriting(storePath)
    var grid = LSHTuner.Grid(metric: store.metric)
    if let families, !families.isEmpty { grid.families = families }
    let report = try LSHTuner.tune(
      store: store, target: target, k: k, sampleSize: sampleSize, grid: grid
    ) { line in
      progress.update(line, force: true)
    }
    guard let chosen = report.chosen else {
      let best = report.measurements.max { $0.recallLowerBound < $1.recallLowerBound }
      throw TripIndexError(
        "no setting reached recall \(TextFormatting.fixed(target, 2)) with 95% confidence (best: \(TextFormatting.fixed(best?.recall ?? 0, 3)), lower bound \(TextFormatting.fixed(best?.recallLowerBound ?? 0, 3))); the index was left as it was. Try a lower --recall, a larger --sample or a larger grid"
      )
    }
    progress.update("building the index with \(chosen.configuration.summary)", force: true)
    try LSHIndex.build(on: store, configuration: chosen.configuration)
    progress.finish()
    return report
  }
}

extension LSHTuner.Report {
  /// The measurements as a table, the chosen row marked.
  public var table: String {
    let rows = measurements.map { measurement -> [String] in
      let configuration = measurement.configuration
      return [
        configuration.family.rawValue, String(configuration.tables),
        String(configuration.hashesPerTable),
        configuration.bucketWidth.map { TextFormatting.fixed($0, 1) } ?? "-",
        String(configuration.probes),
        configuration.candidateBudget == 0 ? "none" : String(configuration.candidateBudget),
        TextFormatting.fixed(measurement.recall, 3),
        TextFormatting.fixed(measurement.recallLowerBound, 3),
        TextFormatting.fixed(measurement.microsecondsPerQuery, 1),
        TextFormatting.grouped(Int(measurement.candidates.rounded())),
        measurement.configuration == chosen?.configuration ? "◀ chosen" : "",
      ]
    }
    return TextTable.render(
      header: [
        "family", "L", "K", "w", "T", "budget", "recall@\(k)", "95% lower", "µs/query",
        "candidates", "",
      ], rows: rows,
      rightAligned: [false, true, true, true, true, true, true, true, true, true, false])
  }

  /// A summary line.
  public var summary: String {
    guard let chosen else { return "no setting reached the target" }
    return
      "chose \(chosen.configuration.summary): recall@\(k) \(TextFormatting.fixed(chosen.recall, 3)) (95% lower bound \(TextFormatting.fixed(chosen.recallLowerBound, 3))) on \(sampleSize) sampled queries, "
      + "\(TextFormatting.fixed(heldOutRecall ?? 0, 3)) on \(sampleSize) held-out ones; "
      + "\(TextFormatting.fixed(chosen.microsecondsPerQuery, 1)) µs/query on one thread "
      + "(exact search: \(TextFormatting.fixed(exactMicrosecondsPerQuery, 1)) µs/query)"
  }

  /// The report as JSON.
  public var json: JSONValue {
    .object([
      ("target", .number(target)), ("k", .integer(k)), ("sample_size", .integer(sampleSize)),
      ("exact_microseconds_per_query", .number(exactMicrosecondsPerQuery)),
      ("chosen", chosen.map { $0.configuration.json } ?? .null),
      ("held_out_recall", heldOutRecall.map { .number($0) } ?? .null),
      (
        "measurements",
        .array(
          measurements.map { measurement in
            .object([
              ("configuration", measurement.configuration.json),
              ("recall", .number(measurement.recall)),
              ("recall_lower_bound", .number(measurement.recallLowerBound)),
              ("microseconds_per_query", .number(measurement.microsecondsPerQuery)),
              ("candidates", .number(measurement.candidates)),
              ("exact_distances", .number(measurement.exactDistances)),
            ])
          })
      ),
    ])
  }
}
