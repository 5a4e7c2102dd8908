import Evaluation
import LSHIndex
import Plumbing
import TripIndex
import VectorIO
import VectorMath
import VectorStore

/// The `annbench` command: an ann-benchmarks data set run end to end — a store built from `train`,
/// the index tuned to each recall target, `test` queried one query at a time on one thread (as
/// ann-benchmarks measures), recall@k scored against the file's own `neighbors` and `distances`.
public enum ANNBench {
  /// What to run.
  public struct Options: Sendable {
    /// The HDF5 file.
    public var path: String
    /// Recall targets; `tune` fits the index to each in turn.
    public var recallTargets: [Double] = [0.9]
    /// Neighbours per query.
    public var k = 10
    /// Where to keep the store (a directory or a `redis://` address; it must not exist);
    /// `nil` builds it in a temporary folder and removes it afterwards.
    public var storePath: String?
    /// How to reach a store on a Redis Cluster.
    public var redis = RedisAccess()
    /// Query only the first this many test vectors (`nil`: all).
    public var queryLimit: Int?
    /// Probe counts swept on each tuned index, as multiples of the tuned count.
    public var probeMultipliers: [Double] = [0.25, 0.5, 1, 2, 4]
    /// Queries per tuning sample (tuning holds out train items; it never sees `test`).
    public var tuneSample = 400
    /// The metric (`nil`: the file's `distance` attribute).
    public var metric: DistanceMetric?
    /// A folder to write every row's returned train rows to, as `ROW.npy` (int64,
    /// queries × k, −1 where fewer than k came back), for checking the recall independently.
    public var neighborsFolder: String?

    /// Creates options for a file.
    public init(path: String) { self.path = path }
  }

  /// One measured setting.
  public struct Row: Sendable {
    /// A short name for files: `exact`, `lsh-r0.9-T8`.
    public var name: String
    /// `exact`, or `lsh` with the tuned setting and the probes used.
    public var method: String
    /// The recall target the index was tuned to, for LSH rows.
    public var target: Double?
    /// Mean recall@k by ann-benchmarks' rule (a returned item counts when its distance is within
    /// the true k-th distance + 10⁻³, in the file's units).
    public var recall: Double
    /// Mean |returned ∩ true top-k| / k.
    public var strictRecall: Double
    /// Queries per second on one thread (1 / mean latency).
    public var queriesPerSecond: Double
    /// Median and 99th-percentile latency, in milliseconds.
    public var p50Milliseconds: Double, p99Milliseconds: Double
    /// Bytes of the LSH tables and parameters (0 for exact search).
    public var indexBytes: Int
    /// Seconds `tune` took to reach this setting (measuring the grid and building the index).
    public var tuneSeconds: Double?
  }

  /// What a run measured.
  public struct Report: Sendable {
    /// The file.
    public var path: String
    /// Its `distance` attribute.
    public var distance: String?
    /// The metric searched.
    public var metric: DistanceMetric
    /// Train vectors, test vectors queried, and their dimension.
    public var trainRows: Int, queries: Int, dimension: Int
    /// Neighbours per query.
    public var k: Int
    /// Seconds to build the store from `train`.
    public var buildSeconds: Double
    /// One row per setting, exact first.
    public var rows: [Row]
    /// What `tune` said for each target.
    public var verdicts: [String]
  }

  /// Runs the benchmark.
  ///
  /// - Throws: `VectorIOError` for a bad file (named dataset and row), ``TripIndexError`` for
  ///   bad options or an existing store, and whatever building, tuning or searching throws.
  public static func run(_ options: Options, progress: any ProgressReporting) throws -> Report {
    try check(options)
    let file = try ANNBenchmarksFile(path: options.path)
    guard let metric = try options.metric ?? file.metric() else {
      throw TripIndexError(
        "\(options.path) has no distance attribute (euclidean or angular); give \(option: .metric)"
      )
    }
    let probes = try testVectors(options)
    let temporary = options.storePath == nil ? try Directories.temporary(prefix: "annbench") : nil
    defer { if let temporary { try? Directories.removeTree(temporary) } }
    let storePath = options.storePath ?? (temporary ?? "") + "/store"
    let (built, buildSeconds) = try buildStore(
      storePath, options: options, metric: metric, dimension: probes.columns, progress: progress)
    let session = Session(
      storePath: storePath, redis: options.redis, k: options.k,
      scoring: try Scoring(
        probes: probes, metric: metric,
        truth: file.groundTruth(queries: probes.rows, k: options.k, trainRows: built.vectors),
        storePath: storePath, redis: options.redis))
    var report = Report(
      path: options.path, distance: file.distance, metric: metric, trainRows: built.vectors,
      queries: probes.rows, dimension: probes.columns, k: options.k,
      buildSeconds: buildSeconds, rows: [], verdicts: [])
    var returned: [(name: String, rows: [[Int]])] = []
    let exact = try session.measureExact()
    report.rows.append(
      Row(
        name: "exact", method: "exact (brute force)", target: nil, recall: exact.recall,
        strictRecall: exact.strict, queriesPerSecond: exact.qps, p50Milliseconds: exact.p50,
        p99Milliseconds: exact.p99, indexBytes: 0, tuneSeconds: nil))
    returned.append(("exact", exact.returned))
    let tuneSample = try tuneSampleSize(options, trainRows: built.vectors, progress: progress)
    for target in options.recallTargets {
      let tuned = try session.tune(for: target, sample: tuneSample, progress: progress)
      report.verdicts.append(tuned.verdict)
      guard let setting = tuned.index else { continue }
      for (row, rows) in try session.measureProbes(
        of: setting, target: target, multipliers: options.probeMultipliers, progress: progress)
      {
        report.rows.append(row)
        returned.append((row.name, rows))
      }
    }
    if let folder = options.neighborsFolder {
      try writeNeighbors(returned, to: folder, k: options.k)
    }
    progress.finish()
    return report
  }
}

extension ANNBench {
  /// What one setting's search of the test vectors gave.
  struct Measured {
    var recall: Double
    var strict: Double
    var qps: Double
    var p50: Double
    var p99: Double
    /// Per query, the train rows returned, closest first.
    var returned: [[Int]]
  }

  /// The tuned index's setting and its size in bytes.
  static func indexSetting(storePath: String, redis: RedisAccess) throws -> (
    LSHConfiguration, Int
  ) {
    guard let size = try StoreView.indexSize(of: storePath, redis: redis) else {
      throw TripIndexError("\(storePath): tune chose an index but the store has none")
    }
    return size
  }

  /// Scores what a search of the prepared probes returned (each probe's neighbours and the
  /// seconds its search took), reading the returned vectors from the snapshot searched.
  static func score(
    _ results: [(neighbors: [Neighbor], seconds: Double)], in snapshot: some VectorSource,
    scoring: Scoring, k: Int
  ) -> Measured {
    let (probes, truth, rowOfID) = (scoring.probes, scoring.truth, scoring.rowOfID)
    var returned: [[Int]] = []
    var recallSum = 0.0
    var strictSum = 0.0
    for (query, result) in results.enumerated() {
      let found = Array(result.neighbors.prefix(k))
      let rows = found.map { rowOfID[$0.id] ?? -1 }
      returned.append(rows)
      let threshold = truth.distances[query][k - 1] + ANNTolerance.distance
      let probe = probes.row(query)
      let distances = found.map { neighbor in
        fileDistance(
          probe: probe, item: snapshot.vector(id: neighbor.id), metric: snapshot.metric)
      }
      recallSum += Double(distances.filter { $0 <= threshold }.count) / Double(k)
      let trueRows = Set(truth.neighbors[query].prefix(k))
      strictSum += Double(rows.filter { trueRows.contains($0) }.count) / Double(k)
    }
    let latencies = results.map(\.seconds).sorted()
    let total = latencies.reduce(0, +)
    /// The nearest-rank percentile, in milliseconds.
    func percentile(_ fraction: Double) -> Double {
      let rank = max(1, Int((fraction * Double(latencies.count)).rounded(.up)))
      return 1000 * latencies[min(rank, latencies.count) - 1]
    }
    let count = Double(max(results.count, 1))
    return Measured(
      recall: recallSum / count, strict: strictSum / count,
      qps: total > 0 ? Double(results.count) / total : 0, p50: percentile(0.5),
      p99: percentile(0.99), returned: returned)
  }

  /// A returned item's distance in the file's units, in float64: Euclidean (not squared) for
  /// l2, 1 − cosine for cosine (the store holds unit vectors; the probe is normalised here).
  static func fileDistance(
    probe: [Float], item: UnsafeBufferPointer<Float>?, metric: DistanceMetric
  ) -> Double {
    guard let item else { return .infinity }
    switch metric {
    case .l2:
      var sum = 0.0
      for (a, b) in zip(probe, item) {
        let difference = Double(a) - Double(b)
        sum += difference * difference
      }
      return sum.squareRoot()
    case .cosine:
      var dot = 0.0
      var norm = 0.0
      for (a, b) in zip(probe, item) {
        dot += Double(a) * Double(b)
        norm += Double(a) * Double(a)
      }
      return 1 - dot / norm.squareRoot()
    }
  }
}

extension ANNBench.Report {
  /// One line on the data set, then one table row per setting.
  public var table: String {
    let header =
      "\(path): \(TextFormatting.grouped(trainRows)) train × \(dimension), \(TextFormatting.grouped(queries)) test queries, \(distance ?? "no distance attribute") → \(metric.rawValue); store built in \(TextFormatting.fixed(buildSeconds, 1)) s"
    let rendered = TextTable.render(
      header: [
        "method", "recall@\(k)", "strict", "QPS", "p50 ms", "p99 ms", "index MiB", "tune s",
      ],
      rows: rows.map { row in
        [
          row.method, TextFormatting.fixed(row.recall, 4),
          TextFormatting.fixed(row.strictRecall, 4),
          TextFormatting.grouped(Int(row.queriesPerSecond.rounded())),
          TextFormatting.fixed(row.p50Milliseconds, 3),
          TextFormatting.fixed(row.p99Milliseconds, 3),
          TextFormatting.fixed(Double(row.indexBytes) / 1_048_576, 1),
          row.tuneSeconds.map { TextFormatting.fixed($0, 1) } ?? "-",
        ]
      },
      rightAligned: [false, true, true, true, true, true, true, true])
    let verdictLines = verdicts.map { "tune: " + $0 }.joined(separator: "\n")
    let table = rendered.hasSuffix("\n") ? String(rendered.dropLast()) : rendered
    return header + "\n" + table + (verdictLines.isEmpty ? "" : "\n" + verdictLines)
  }

  /// The same as JSON: the data set's facts, then `rows` (one object per setting).
  public var json: JSONValue {
    .object([
      ("file", .string(path)), ("distance", distance.map(JSONValue.string) ?? .null),
      ("metric", .string(metric.rawValue)), ("train", .integer(trainRows)),
      ("queries", .integer(queries)), ("dimension", .integer(dimension)), ("k", .integer(k)),
      ("build_seconds", .number(buildSeconds)),
      (
        "rows",
        .array(
          rows.map { row in
            .object([
              ("name", .string(row.name)), ("method", .string(row.method)),
              ("target", row.target.map(JSONValue.number) ?? .null),
              ("recall", .number(row.recall)), ("strict_recall", .number(row.strictRecall)),
              ("qps", .number(row.queriesPerSecond)), ("p50_ms", .number(row.p50Milliseconds)),
              ("p99_ms", .number(row.p99Milliseconds)), ("index_bytes", .integer(row.indexBytes)),
              ("tune_seconds", row.tuneSeconds.map(JSONValue.number) ?? .null),
            ])
          })
      ),
      ("verdicts", .array(verdicts.map(JSONValue.string))),
    ])
  }

  /// Recall against queries per second, one line per tuned target and a point for exact
  /// search, as ann-benchmarks plots them.
  public var chart: SVGChart {
    var series: [SVGChart.Series] = []
    for row in rows where row.target == nil {
      series.append(.init(name: row.method, points: [(row.queriesPerSecond, row.recall)]))
    }
    var targets: [Double] = []
    for row in rows {
      if let target = row.target, !targets.contains(target) { targets.append(target) }
    }
    for target in targets {
      let points = rows.filter { $0.target == target }.map { ($0.queriesPerSecond, $0.recall) }
      series.append(
        .init(name: "lsh tuned to \(target), probe sweep", points: points, dashed: true))
    }
    let name = path.split(separator: "/").last.map(String.init) ?? path
    var chart = SVGChart(
      title: "\(name): recall@\(k) against queries per second (one thread)",
      xLabel: "queries per second (log scale)", yLabel: "recall@\(k)", series: series,
      yRange: 0...1)
    chart.logarithmicX = true
    return chart
  }
}
