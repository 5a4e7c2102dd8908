import Plumbing

/// Several evaluations of the same queries and gallery side by side (say exact and approximate
/// search, or raw features, a triplet embedder and a softmax surrogate), written as Markdown,
/// JSON, a CMC table in CSV and a CMC chart in SVG.
public struct EvaluationReport: Sendable {
  /// One evaluated method.
  public struct Entry: Sendable {
    /// The method's name (a table row, a legend entry).
    public var name: String
    /// Its metrics.
    public var metrics: EvaluationMetrics
    /// Further numbers for this row, in order, e.g. ("ANN recall@10", 0.93) or ("queries/s", 812).
    public var extras: [(String, Double)]
    /// Whether the CMC chart shows this method (a method whose curve repeats another's, such as
    /// exact search cut to its top D, is left out).
    public var charted = true
    /// The chart colour's palette slot; methods of one model share it. `nil`: by position.
    public var colourSlot: Int?

    /// Creates an entry.
    ///
    /// - Parameters:
    ///   - name: the method's name.
    ///   - metrics: its metrics.
    ///   - extras: further numbers.
    public init(name: String, metrics: EvaluationMetrics, extras: [(String, Double)] = []) {
      self.name = name
      self.metrics = metrics
      self.extras = extras
    }
  }

  /// The report's title.
  public var title: String
  /// Facts about the run, in order (query set, gallery set, protocol, dimension, …).
  public var details: [(String, String)]
  /// The methods.
  public var entries: [Entry]
  /// Further top-level members of the JSON form (say a speed sweep), after the methods.
  public var supplements: [(String, JSONValue)] = []
  /// The queries' and gallery's names and labels, when the entries' metrics carry
  /// per-query outcomes.
  public var items: ReportItems?
  /// Whether the JSON form lists each method's per-query outcomes (`per_query`), where the
  /// metrics carry them and ``items`` names them.
  public var listsQueries = false

  /// Creates a report.
  ///
  /// - Parameters:
  ///   - title: the title.
  ///   - details: facts about the run.
  ///   - entries: the methods.
  public init(title: String, details: [(String, String)], entries: [Entry]) {
    self.title = title
    self.details = details
    self.entries = entries
  }

  /// The CMC ranks shown in tables.
  public static let tableRanks = [1, 5, 10, 20]

  private var isRetrieval: Bool {
    entries.first.map { !$0.metrics.evaluationProtocol.isReID } ?? false
  }

  /// Column titles and cells of the summary table (percentages with one decimal).
  public var table: (header: [String], rows: [[String]]) {
    let retrieval = isRetrieval
    var header = ["method"]
    header += Self.tableRanks.map { retrieval ? "R@\($0)" : "rank-\($0)" }
    header += retrieval ? ["mAP", "R-prec", "MAP@R"] : ["mAP", "mINP"]
    header += ["valid", "skipped"]
    let extraNames = entries.first?.extras.map(\.0) ?? []
    header += extraNames
    // One number format per column: whole numbers with separators where any value reaches 100
    // (candidates, queries/s), three decimals otherwise (recalls).
    let wholeColumns = extraNames.indices.map { column in
      entries.contains { entry in column < entry.extras.count && abs(entry.extras[column].1) >= 100
      }
    }
    let rows = entries.map { entry -> [String] in
      let metrics = entry.metrics
      var row = [entry.name]
      row += Self.tableRanks.map { rank in metrics.cmc(at: rank).map(Self.percent) ?? "-" }
      row +=
        retrieval
        ? [
          Self.percent(metrics.mAP), Self.percent(metrics.rPrecision), Self.percent(metrics.mapAtR),
        ]
        : [Self.percent(metrics.mAP), Self.percent(metrics.mINP)]
      row += [String(metrics.validQueries), String(metrics.skippedQueries)]
      row += entry.extras.enumerated().map { column, extra in
        column < wholeColumns.count && wholeColumns[column]
          ? TextFormatting.grouped(Int(extra.1.rounded())) : TextFormatting.fixed(extra.1, 3)
      }
      return row
    }
    return (header, rows)
  }

  static func percent(_ value: Double) -> String { TextFormatting.fixed(value * 100, 1) }

  /// The report as Markdown: title, details, the table, and the CMC chart's file name.
  public var markdown: String {
    var text = "# \(title)\n\n"
    for (key, value) in details { text += "- **\(key)**: \(value)\n" }
    text += "\nMetrics in percent; rank-k is the CMC (the fraction of queries with a true match "
    text +=
      isRetrieval
      ? "in the first k, i.e. recall@k as metric-learning papers define it).\n\n"
      : "in the first k).\n\n"
    let (header, rows) = table
    text += "| " + header.joined(separator: " | ") + " |\n"
    text += "|" + header.map { _ in "---" }.joined(separator: "|") + "|\n"
    for row in rows { text += "| " + row.joined(separator: " | ") + " |\n" }
    text += "\n![CMC curves](cmc.svg)\n"
    return text
  }

  /// The report as JSON: details, and per method every metric with the full CMC array (and,
  /// with ``listsQueries``, every query's outcome).
  public var json: JSONValue {
    .object(
      [
        ("title", .string(title)),
        ("details", .object(details.map { ($0.0, .string($0.1)) })),
        (
          "methods",
          .array(
            entries.map { entry in
              var members: [(String, JSONValue)] = [("name", .string(entry.name))]
              members += Self.metricsMembers(entry.metrics)
              members += entry.extras.map { (Self.jsonKey($0.0), .number($0.1)) }
              if listsQueries, let items, !entry.metrics.queryOutcomes.isEmpty {
                members.append(
                  ("per_query", .array(entry.metrics.queryOutcomes.map(items.json))))
              }
              return .object(members)
            })
        ),
      ] + supplements)
  }

  /// A column title as a JSON key, in snake_case: `queries/s` → `queries_per_second`,
  /// `candidates/q` → `candidates_per_query`, `ANN recall@10` → `ann_recall_at_10`.
  ///
  /// - Parameter title: the table's column title.
  /// - Returns: the key.
  public static func jsonKey(_ title: String) -> String {
    var key = title.lowercased().replacing("/s", with: "_per_second").replacing(
      "/q", with: "_per_query"
    ).replacing("@", with: "_at_")
    key = String(key.map { $0.isLetter || $0.isNumber ? $0 : "_" })
    while key.contains("__") { key = key.replacing("__", with: "_") }
    return key
  }

  /// One evaluation's metrics as JSON members: protocol, query counts, rank-1/5/10/20, mAP, mINP,
  /// R-precision, MAP@R and the full CMC.
  ///
  /// - Parameter metrics: the metrics.
  /// - Returns: the members, in that order.
  public static func metricsMembers(_ metrics: EvaluationMetrics) -> [(String, JSONValue)] {
    var members: [(String, JSONValue)] = [
      ("protocol", .string(metrics.evaluationProtocol.description)),
      ("valid_queries", .integer(metrics.validQueries)),
      ("skipped_queries", .integer(metrics.skippedQueries)),
    ]
    for rank in tableRanks {
      if let value = metrics.cmc(at: rank) { members.append(("rank\(rank)", .number(value))) }
    }
    members += [
      ("map", .number(metrics.mAP)), ("minp", .number(metrics.mINP)),
      ("r_precision", .number(metrics.rPrecision)), ("map_at_r", .number(metrics.mapAtR)),
      ("cmc", .array(metrics.cmc.map { .number($0) })),
    ]
    return members
  }

  /// The CMC curves as CSV: a `rank` column, then one column per method.
  public var cmcCSV: String {
    var text = "rank," + entries.map { Self.csvField($0.name) }.joined(separator: ",") + "\n"
    let depth = entries.map(\.metrics.cmc.count).max() ?? 0
    for rank in 0..<depth {
      text += String(rank + 1)
      for entry in entries {
        text += "," + (rank < entry.metrics.cmc.count ? String(entry.metrics.cmc[rank]) : "")
      }
      text += "\n"
    }
    return text
  }

  private static func csvField(_ text: String) -> String {
    text.contains(where: { $0 == "," || $0 == "\"" })
      ? "\"" + text.replacing("\"", with: "\"\"") + "\"" : text
  }

  /// The CMC curves of every charted method on one chart.
  public var cmcChart: SVGChart {
    let shown = entries.filter(\.charted)
    return SVGChart(
      title: "CMC — \(title)", xLabel: "rank",
      yLabel: isRetrieval ? "recall@k (hit rate)" : "matching rate",
      series: shown.map { entry in
        SVGChart.Series(
          name: entry.name,
          points: entry.metrics.cmc.enumerated().map { (x: Double($0.offset + 1), y: $0.element) },
          dashed: entry.name.lowercased().contains("lsh"), colourSlot: entry.colourSlot)
      }, yRange: 0...1)
  }

  /// Writes `report.md`, `metrics.json`, `cmc.csv` and `cmc.svg` into `directory` (created if
  /// missing), plus any extra charts given.
  ///
  /// - Parameters:
  ///   - directory: the output folder.
  ///   - extraCharts: further charts by file name (e.g. `"speed.svg"`), linked from the Markdown.
  /// - Throws: ``VectorIOError`` when a file cannot be written.
  public func write(to directory: String, extraCharts: [(String, SVGChart)] = []) throws {
    try Directories.create(directory)
    var markdown = self.markdown
    for (file, chart) in extraCharts { markdown += "\n![\(chart.title)](\(file))\n" }
    try TextFile.write(markdown, to: directory + "/report.md")
    try TextFile.write(json.serialized(indent: 2) + "\n", to: directory + "/metrics.json")
    try TextFile.write(cmcCSV, to: directory + "/cmc.csv")
    try TextFile.write(cmcChart.svg, to: directory + "/cmc.svg")
    for (file, chart) in extraCharts { try TextFile.write(chart.svg, to: directory + "/" + file) }
  }
}
