import LSHIndex
import Plumbing
import TripIndex
import VectorIO
import VectorMath
import VectorStore

/// The steps of ``ANNBench/run(_:progress:)``: check the options, read the test vectors, build
/// the store from train, measure exact search, then per recall target tune (and build what tune
/// chose) and measure the index at each probe count; write the returned neighbours on request.
extension ANNBench {
  /// Refuses options the run cannot use.
  static func check(_ options: Options) throws {
    guard options.k > 0 else {
      throw TripIndexError("\(option: .k) must be at least 1, not \(options.k)")
    }
    guard !options.recallTargets.isEmpty, options.recallTargets.allSatisfy({ $0 > 0 && $0 <= 1 })
    else {
      throw TripIndexError(
        "\(option: .recall) takes targets in (0, 1], e.g. \(option: .recall) 0.5 0.9 0.99")
    }
    guard options.probeMultipliers.allSatisfy({ $0 > 0 }) else {
      throw TripIndexError("\(option: .probeMultipliers) must be positive")
    }
  }

  /// The file's test vectors (at most `queryLimit`), as read.
  static func testVectors(_ options: Options) throws -> Matrix {
    var queries = try VectorFileReader.readAll(path: options.path, dataset: "test")
    let testRows = queries.values.count / queries.dimension
    let queryCount = min(testRows, options.queryLimit ?? testRows)
    guard queryCount > 0 else { throw TripIndexError("\(option: .queries) must be at least 1") }
    queries.values.removeSubrange((queryCount * queries.dimension)...)
    return Matrix(rows: queryCount, columns: queries.dimension, values: queries.values)
  }

  /// Builds a new store from the file's train vectors.
  ///
  /// - Returns: the build's report and its seconds.
  static func buildStore(
    _ storePath: String, options: Options, metric: DistanceMetric, dimension: Int,
    progress: any ProgressReporting
  ) throws -> (Build.Report, Double) {
    if try StoreView.exists(storePath, redis: options.redis) {
      throw TripIndexError(
        "\(storePath) already holds a store; annbench builds a new one (choose another \(option: .store))"
      )
    }
    progress.update("building the store from \(options.path) (train)", force: true)
    let started = MonotonicClock.now()
    var buildOptions = Build.Options(input: options.path, storePath: storePath, metric: metric)
    buildOptions.dataset = "train"
    buildOptions.batchRows = 8192
    buildOptions.redis = options.redis
    let built = try Build.run(buildOptions, progress: progress)
    let seconds = MonotonicClock.now() - started
    guard built.dimension == dimension else {
      throw TripIndexError(
        "\(options.path): test has dimension \(dimension) but train \(built.dimension)")
    }
    return (built, seconds)
  }

  /// How many queries each of tune's two held-out samples takes: the option's, or fewer when
  /// train is small (with a warning).
  static func tuneSampleSize(
    _ options: Options, trainRows: Int, progress: any ProgressReporting
  ) throws -> Int {
    // Tuning holds two samples out of train and needs 10k + 100 items besides.
    let largestSample = (trainRows - 10 * options.k - 100) / 2
    guard largestSample >= 20 else {
      throw TripIndexError(
        "\(options.path): train holds \(trainRows) vectors; tuning the index for k = \(options.k) needs at least \(40 + 10 * options.k + 100)"
      )
    }
    let sample = min(options.tuneSample, largestSample)
    if sample < options.tuneSample {
      progress.warn("train is small: tuning samples \(sample) queries, not \(options.tuneSample)")
    }
    return sample
  }

  /// Writes each method's returned train rows as an `.npy` of int64 (-1 pads a short row).
  static func writeNeighbors(_ returned: [(name: String, rows: [[Int]])], to folder: String, k: Int)
    throws
  {
    try Directories.create(folder)
    for (name, rows) in returned {
      let writer = try VectorFileWriter(
        path: folder + "/" + name + ".npy", dimension: k, npyElementType: .int64)
      for row in rows {
        try writer.write(row.map(Float.init) + Array(repeating: -1, count: k - row.count))
      }
      try writer.finish()
    }
  }

  /// What every setting's results are scored with, prepared once per run.
  struct Scoring {
    /// The test vectors as read, and prepared for the store's metric (unit length for cosine).
    var probes: Matrix
    var prepared: Matrix
    /// The file's true neighbours and distances.
    var truth: ANNBenchmarksFile.GroundTruth
    /// Each stored id's train row.
    var rowOfID: [UInt64: Int]

    /// Prepares the probes and reads each item's train row (a store built from one file in
    /// one go numbers its items in row order).
    init(
      probes: Matrix, metric: DistanceMetric, truth: ANNBenchmarksFile.GroundTruth,
      storePath: String, redis: RedisAccess
    ) throws {
      self.probes = probes
      self.truth = truth
      var prepared = probes
      if metric.normalizesVectors, let zero = prepared.normalizeRows() {
        throw TripIndexError("test vector \(zero) is all zeros, which has no direction for cosine")
      }
      self.prepared = prepared
      var rowOfID: [UInt64: Int] = [:]
      try StoreView.read(storePath, redis: redis) { snapshot in
        rowOfID.reserveCapacity(snapshot.count)
        for id in snapshot.liveIDs { rowOfID[id] = rowOfID.count }
      }
      self.rowOfID = rowOfID
    }
  }

  /// One run's store and scoring.
  struct Session {
    let storePath: String
    let redis: RedisAccess
    let k: Int
    let scoring: Scoring

    /// Exact search, one probe at a time on one thread.
    func measureExact() throws -> Measured {
      try StoreView.read(storePath, redis: redis) { snapshot in
        var search = snapshot.exactSearch
        search.threads = 1
        let clock = ContinuousClock()
        let prepared = scoring.prepared
        let results = (0..<prepared.rows).map { query in
          let one = Matrix(rows: 1, columns: prepared.columns, values: Array(prepared.row(query)))
          let started = clock.now
          let found = search.search(one, k: k)[0]
          return (neighbors: found, seconds: started.duration(to: clock.now).inSeconds)
        }
        return score(results, in: snapshot, scoring: scoring, k: k)
      }
    }

    /// The index tuning for one target left in the store: its settings and size, the seconds
    /// tuning (and building) took, and a note when tune chose exact search.
    struct TunedIndex {
      var configuration: LSHConfiguration
      var bytes: Int
      var seconds: Double
      var note: String
    }

    /// What tuning for one target gave.
    struct Tuned {
      /// Tune's verdict.
      var verdict: String
      /// The index to measure; `nil` when there is nothing to measure.
      var index: TunedIndex?
    }

    /// Tunes the store for a target. When exact search beat every setting, the one tune chose
    /// (or, when none held the target on both samples, the fastest that reached it on one) is
    /// still built, so the curve shows how far behind it is.
    func tune(for target: Double, sample: Int, progress: any ProgressReporting) throws -> Tuned {
      let started = MonotonicClock.now()
      let outcome = try Tune.run(
        storePath: storePath, target: target, k: k, sampleSize: sample, families: nil,
        redis: redis, progress: progress)
      var seconds = MonotonicClock.now() - started
      var note = ""
      if outcome.exact {
        guard
          let fastest = outcome.report.chosen?.configuration
            ?? outcome.report.fastestReaching?.configuration
        else { return Tuned(verdict: outcome.verdict, index: nil) }
        progress.update(
          "building \(fastest.summary) to measure it beside exact search", force: true)
        let indexStarted = MonotonicClock.now()
        _ = try Index.run(storePath: storePath, configuration: fastest, redis: redis)
        seconds += MonotonicClock.now() - indexStarted
        note = " (slower than exact; tune chose exact)"
      }
      let (configuration, bytes) = try indexSetting(storePath: storePath, redis: redis)
      return Tuned(
        verdict: outcome.verdict,
        index: TunedIndex(configuration: configuration, bytes: bytes, seconds: seconds, note: note))
    }

    /// The tuned index at its probe count times each multiplier (distinct counts), one probe at
    /// a time on one thread; the store is read (and a Redis store's tables built) once for all
    /// of them.
    ///
    /// - Returns: per probe count, its row and the train rows it returned.
    func measureProbes(
      of setting: TunedIndex,
      target: Double, multipliers: [Double], progress: any ProgressReporting
    ) throws -> [(Row, [[Int]])] {
      var probeCounts: [Int] = []
      for multiplier in multipliers {
        let count = max(1, Int((Double(setting.configuration.probes) * multiplier).rounded()))
        if !probeCounts.contains(count) { probeCounts.append(count) }
      }
      let measured = try StoreView.withIndexSearcher(storePath, redis: redis) {
        snapshot, searcher in
        try probeCounts.map { count in
          progress.update("target \(target): searching test with T\(count)", force: true)
          let results = try searcher.search(
            scoring.prepared, k: k, probesPerTable: count, threads: 1, measuringLatency: true)
          return score(
            results.map { (neighbors: $0.neighbors, seconds: $0.seconds) }, in: snapshot,
            scoring: scoring, k: k)
        }
      }
      guard let measured else { throw TripIndexError("\(storePath): the tuned index is missing") }
      return zip(probeCounts, measured).map { count, found in
        var configuration = setting.configuration
        configuration.probes = count
        let row = Row(
          name: "lsh-r\(target)-T\(count)", method: "lsh " + configuration.summary + setting.note,
          target: target, recall: found.recall, strictRecall: found.strict,
          queriesPerSecond: found.qps, p50Milliseconds: found.p50, p99Milliseconds: found.p99,
          indexBytes: setting.bytes, tuneSeconds: setting.seconds)
        return (row, found.returned)
      }
    }
  }
}
