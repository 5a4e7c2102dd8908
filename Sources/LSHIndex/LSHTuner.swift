import Plumbing
import VectorMath
import VectorStore

/// Chooses how a store is searched: the fastest LSH setting whose recall@k reaches a target on
/// queries the index under test does not hold, or exact search when no setting is faster.
///
/// 1. Queries: the user's own probes (`queries`), or items sampled from the store and held out
///    of the tables being measured (and of the ground truth), in two disjoint samples A and B.
/// 2. Successive halving: every setting of the grid on the first quarter of A (cheap); of the
///    settings that could beat exact search, up to 8 whose recall's lower bound reached the
///    target there and up to 8 others within 0.02 of it, fastest first, on all of A, where the
///    one-sided 95% lower confidence bound of the recall must reach the target (up to 4 that
///    do); those, fastest on A first, on B, where the mean must reach it too (B takes no part in
///    choosing, so the winner's luck on A does not carry over).
/// 3. Exact search is a contender: its single-threaded time on A is measured the same way, and
///    an LSH setting is chosen only when it is faster by ``minimumSpeedup``.
public enum LSHTuner {
  /// An LSH setting must be at least this much faster than exact search to be chosen.
  public static let minimumSpeedup = 1.2
  /// Finalists of each kind (the quick recall's lower bound at the target, and the recall near
  /// it) measured on all of sample A.
  static let finalistsPerKind = 8

  /// Where screening a hash draw goes after measuring one setting.
  enum ScreeningStep: Equatable {
    /// The same L with more probes.
    case moreProbes
    /// The next L (from its fewest probes).
    case moreTables
    /// No more of this draw.
    case nextDraw
  }

  /// Where screening a draw goes after a setting: each L's T is raised until the recall's lower
  /// bound reaches the target (more probes only cost more after that), or until a setting is
  /// slower than exact search itself — not merely short of ``minimumSpeedup``, so that the quick
  /// sample's timing noise cannot cut a chain that could still pass; then more probes only cost
  /// more, and when the fewest probes already do, more tables do too, so the draw's larger L are
  /// skipped. It spares measuring settings that cannot be chosen; at 10M it did not shorten
  /// tuning measurably (920 s against 911 s with cross-polytope in the grid: the draws' table
  /// builds cost the time, not the hopeless chains).
  ///
  /// - Parameters:
  ///   - measurement: the setting just measured on the quick sample.
  ///   - fewestProbes: whether it had the grid's fewest probes.
  ///   - target: the recall target.
  ///   - exactMicroseconds: exact search's time per query.
  /// - Returns: the next step.
  static func screeningStep(
    after measurement: Measurement, fewestProbes: Bool, target: Double, exactMicroseconds: Double
  ) -> ScreeningStep {
    if measurement.recallLowerBound >= target { return .moreTables }
    if measurement.microsecondsPerQuery >= exactMicroseconds {
      return fewestProbes ? .nextDraw : .moreTables
    }
    return .moreProbes
  }

  /// The screened settings to measure on all of sample A, in order: of those that could beat
  /// exact search, up to ``finalistsPerKind`` whose recall's lower bound on the quick sample
  /// reached the target (where screening stopped raising a draw's probes) and as many others
  /// whose recall came within 0.02 of it (the quick sample's noise), fastest first; then up to
  /// 4 slower ones.
  ///
  /// Settings near the target are cheaper than those that pass it comfortably, so a grid of
  /// many families has many of them: taken by speed alone (the 12 fastest, before) they filled
  /// every place and none held the bound on all of A (patchescn100k with cross-polytope in the
  /// grid: exact search kept in one run of two), though slower settings of the same draws did.
  /// Places of their own for each kind keep both.
  ///
  /// - Parameters:
  ///   - measurements: the quick sample's measurements.
  ///   - target: the recall to reach.
  ///   - isAffordable: whether a setting could still beat exact search.
  /// - Returns: the finalists in the order to measure them.
  static func finalistOrder(
    of measurements: [Measurement], target: Double, isAffordable: (Measurement) -> Bool
  ) -> [Measurement] {
    let hopeful = measurements.filter { $0.recall >= target - 0.02 }
      .sorted { $0.microsecondsPerQuery < $1.microsecondsPerQuery }
    let affordable = hopeful.filter(isAffordable)
    let reaching = affordable.filter { $0.recallLowerBound >= target }.prefix(finalistsPerKind)
    let near = affordable.filter { $0.recallLowerBound < target }.prefix(finalistsPerKind)
    let slower = hopeful.filter { !isAffordable($0) }.prefix(4)
    return (reaching + near).sorted { $0.microsecondsPerQuery < $1.microsecondsPerQuery }
      + slower
  }

  /// One measured setting.
  public struct Measurement: Sendable {
    /// The setting.
    public var configuration: LSHConfiguration
    /// Queries measured.
    public var queries: Int
    /// Recall@k (ann-benchmarks' definition).
    public var recall: Double
    /// The standard error of that recall (over queries).
    public var recallStandardError: Double
    /// How far the one-sided 95% confidence bound lies below the recall: 1.645 standard errors.
    public var recallMargin: Double { 1.645 * recallStandardError }
    /// The one-sided 95% lower confidence bound on the recall.
    public var recallLowerBound: Double { max(0, recall - recallMargin) }
    /// Mean single-threaded microseconds per query.
    public var microsecondsPerQuery: Double
    /// Mean table entries examined per query.
    public var candidates: Double
    /// Mean exact distances per query.
    public var exactDistances: Double
  }

  /// What tuning found.
  public struct Report: Sendable {
    /// Every setting measured on the first quarter of sample A, in the order tried.
    public var measurements: [Measurement]
    /// The finalists measured on all of sample A, fastest first.
    public var finalists: [Measurement]
    /// The chosen LSH setting (measured on A), or `nil` when exact search is the answer.
    public var chosen: Measurement?
    /// The fastest setting that reached the target, even when exact search beat it.
    public var fastestReaching: Measurement?
    /// The fastest reaching setting's recall on sample B.
    public var heldOutRecall: Double?
    /// The encoder of the fastest setting that reached the target (projection, hash functions,
    /// codes), so the index can be built with exactly what was measured.
    public var encoder: ItemEncoder?
    /// The target.
    public var target: Double
    /// Neighbours per query.
    public var k: Int
    /// Queries in each of the samples A and B.
    public var sampleSize: Int
    /// Where the queries came from.
    public var queriesSource: String
    /// Exact search's single-threaded microseconds per query on sample A.
    public var exactMicrosecondsPerQuery: Double
    /// Seconds the tuning took.
    public var seconds: Double
    /// Sample B, to check the built index on.
    var check: Sample
  }

  /// The settings to try.
  public struct Grid: Sendable {
    /// Families.
    public var families: [HashFamily]
    /// K values per family. ITQ's stop at 16 = the largest m, so that tuning keeps 16
    /// components of every item (at 10M items, four more would take 160 MB more).
    public var hashesPerTable: [HashFamily: [Int]] = [
      .pstable: [6, 8, 10], .hyperplane: [10, 14, 18], .crosspolytope: [1, 2, 3],
      .itq: [12, 16],
    ]
    /// Multipliers of the estimated p-stable width.
    public var widthMultipliers: [Double] = [0.7, 1.0, 1.4]
    /// m: principal components fed to the hashes (clustered data wants more than smooth data).
    public var hashDimensions: [Int] = [8, 16]
    /// L values (tables of one hash draw: the smaller settings use the first tables).
    public var tables: [Int] = [4, 8, 16]
    /// T values (query time).
    public var probes: [Int] = [1, 2, 4, 8, 16]
    /// Code sizes (principal components per table entry, ``LSHConfiguration/sketchDimensions``)
    /// weighed for the chosen setting besides the base's own; sizes above the base's or below
    /// the setting's hash dimensions are skipped. The buckets, and so the answers, stay the
    /// same: a shorter code is read faster and bounds less tightly.
    public var codeSizes: [Int] = [16]
    /// Caps on the table entries a query reads (``LSHConfiguration/candidateBudget``) weighed
    /// for the chosen setting, as fractions of the mean entries it reads uncapped; empty to
    /// weigh none. A query's cost is heavy-tailed (a probe that lands in dense buckets reads many
    /// times the mean), and a cap trims the tail for a little recall.
    public var budgetFractions: [Double] = [0.5, 0.6, 0.7, 0.85]
    /// How much faster a capped search must be to replace the uncapped one (timing noise
    /// between two measurements of one setting is a few per cent, as for code sizes).
    public var budgetGain = 1.05

    /// The (m, K) pairs tried for a family: every m of ``hashDimensions`` (at most the code
    /// size) with every K of the family, except ITQ, whose K bits rotate the top K components
    /// (m = K: more components would be hashed by no bit).
    ///
    /// - Parameters:
    ///   - family: the family.
    ///   - codeSize: the base's ``LSHConfiguration/sketchDimensions`` (m cannot exceed it).
    /// - Returns: the pairs, m ascending.
    func shapes(of family: HashFamily, codeSize: Int) -> [(hashDimensions: Int, hashes: Int)] {
      let hashes = hashesPerTable[family] ?? []
      if family == .itq {
        return hashes.filter { $0 <= codeSize }.sorted().map { ($0, $0) }
      }
      return Set(hashDimensions.map { min($0, codeSize) }).sorted().flatMap { m in
        hashes.map { (m, $0) }
      }
    }

    /// Families skipped on stores of more items than their limit (only the default grid sets
    /// any: ``Grid/init(metric:)``).
    public var familyItemLimits: [HashFamily: Int] = [:]

    /// The default grid for a metric: p-stable, ITQ and cross-polytope for l2 (cross-polytope
    /// buckets split data on a sphere, such as contrast-normalised patches, far better than
    /// p-stable ones: 1.6× the speed at recall 0.92 on patchescn100k) — cross-polytope only up
    /// to 2M items, since its six draws took a 10M tune from about 9-12 to 15.3 minutes (the
    /// bar is 15); every family for cosine.
    ///
    /// - Parameter metric: the store's metric.
    public init(metric: DistanceMetric) {
      if metric == .cosine {
        families = [.hyperplane, .crosspolytope, .pstable, .itq]
      } else {
        families = [.pstable, .itq, .crosspolytope]
        familyItemLimits = [.crosspolytope: 2_000_000]
      }
    }

    /// The families screened on a store of `count` items.
    func families(forItems count: Int) -> [HashFamily] {
      families.filter { count <= familyItemLimits[$0] ?? Int.max }
    }
  }

  /// Queries with their true neighbours.
  struct Sample {
    /// Per query, the store id to leave out of its answers (a held-out item), if any.
    var excluded: [UInt64?]
    var queries: Matrix
    /// Per query, the true k-th distance (squared L2) among the items searched.
    var kthDistances: [Float]

    /// The same queries with their true k-th distances among the items of `source` (each
    /// query's own held-out id left out).
    func withTruth(in source: some VectorSource, k: Int) -> Sample {
      var exact = ExactSearch(dimension: source.dimension, metric: .l2, blocks: source.blocks)
      exact.threads = Parallel.processorCount
      let found = exact.search(queries, k: k + 1)
      var updated = self
      updated.kthDistances = found.enumerated().map { index, neighbors in
        neighbors.lazy.filter { $0.id != excluded[index] }.prefix(k).reduce(-Float.infinity) {
          max($0, $1.distance)
        }
      }
      return updated
    }

    func prefix(_ count: Int) -> Sample {
      let count = min(count, queries.rows)
      return Sample(
        excluded: Array(excluded.prefix(count)),
        queries: Matrix(
          rows: count, columns: queries.columns,
          values: Array(queries.values.prefix(count * queries.columns))),
        kthDistances: Array(kthDistances.prefix(count)))
    }
  }

  /// Measures the grid and returns the choice (the store is not changed).
  ///
  /// - Parameters:
  ///   - store: the store.
  ///   - target: the recall@k to reach, in (0, 1].
  ///   - k: neighbours per query.
  ///   - sampleSize: queries in each of samples A and B.
  ///   - queries: the user's own probes (prepared for the store's metric), or `nil` to hold out
  ///     sampled items.
  ///   - grid: the settings to try.
  ///   - base: settings not searched (dimensions, seed).
  ///   - progress: receives status lines.
  /// - Returns: the measurements and the choice.
  /// - Throws: ``LSHError`` for a store too small to tune, ``VectorStoreError``.
  public static func tune(
    store: VectorStore, target: Double, k: Int = 10, sampleSize: Int = 400,
    queries: Matrix? = nil, grid: Grid,
    base: LSHConfiguration = LSHConfiguration.defaults(for: .pstable),
    progress: (String) -> Void = { _ in }
  ) throws -> Report {
    try store.read { snapshot in
      try tune(
        over: snapshot, describedAs: "store \(store.path)", target: target, k: k,
        sampleSize: sampleSize, queries: queries, grid: grid, base: base, progress: progress)
    }
  }

  /// Measures the grid over one consistent view of a store's vectors (an LMDB snapshot, or a
  /// Redis store's) and returns the choice.
  ///
  /// - Parameters:
  ///   - source: the vectors, whole and unchanging while tuning runs.
  ///   - name: where they are, in messages (`store PATH`).
  ///   - target: the recall@k to reach, in (0, 1].
  ///   - k: neighbours per query.
  ///   - sampleSize: queries in each of samples A and B.
  ///   - queries: the user's own probes (prepared for the store's metric), or `nil` to hold out
  ///     sampled items.
  ///   - grid: the settings to try.
  ///   - base: settings not searched (dimensions, seed).
  ///   - progress: receives status lines.
  /// - Returns: the measurements and the choice.
  /// - Throws: ``LSHError`` for a store too small to tune.
  public static func tune(
    over source: some VectorSource, describedAs name: String, target: Double, k: Int = 10,
    sampleSize: Int = 400, queries: Matrix? = nil, grid: Grid,
    base: LSHConfiguration = LSHConfiguration.defaults(for: .pstable),
    progress: (String) -> Void = { _ in }
  ) throws -> Report {
    let clock = ContinuousClock()
    let started = clock.now
    try checkRequest(
      count: source.count, describedAs: name, target: target, k: k, sampleSize: sampleSize,
      queries: queries)
    let fitted = try BaseFit(source: source, describedAs: name, base: base)
    let (sampleA, sampleB, heldOut) = samples(source, size: sampleSize, k: k, queries: queries)
    progress("encoding \(source.count - heldOut.count) items")
    let run = Run(
      source: source, fitted: fitted, target: target, k: k,
      encoded: BulkEncoding(
        source, encoder: fitted.encoder, excluding: heldOut, codes: false,
        projections: grid.families.flatMap {
          grid.shapes(of: $0, codeSize: fitted.configuration.sketchDimensions)
        }.map(\.hashDimensions).max() ?? fitted.configuration.hashDimensions),
      exactMicroseconds: exactMicroseconds(in: source, sample: sampleA, k: k))
    let (measurements, screened) = try run.screen(
      grid, on: sampleA.prefix(max(40, sampleA.queries.rows / 4)), progress: progress)
    let (finalists, passing) = try run.finalists(
      of: measurements, screened: screened, on: sampleA)
    var confirmed = try run.confirm(
      passing, screened: screened, on: sampleB, progress: progress)
    var encoder = confirmed.flatMap {
      screened.settings[Screened.key($0.measurement.configuration)]?.encoder
    }
    if let screenedChoice = confirmed, let screenedEncoder = encoder {
      let found = try run.weighBudgets(
        grid.budgetFractions, gain: grid.budgetGain, of: screenedChoice, screened: screened,
        on: sampleA, checkingOn: sampleB, progress: progress)
      // The screened encoder holds the tables' settings; the chosen probes and cap go with it.
      let (measurement, weighed) = try run.weighCodeSizes(
        grid.codeSizes, of: found.measurement,
        encoder: screenedEncoder.searching(with: found.measurement.configuration),
        screened: screened, excluding: heldOut, on: sampleA, progress: progress)
      confirmed = (measurement, found.heldOutRecall)
      encoder = weighed
    }
    let chosen = confirmed.flatMap { run.isAffordable($0.measurement) ? $0.measurement : nil }
    return Report(
      measurements: measurements, finalists: finalists, chosen: chosen,
      fastestReaching: confirmed?.measurement, heldOutRecall: confirmed?.heldOutRecall,
      encoder: encoder,
      target: target, k: k, sampleSize: sampleA.queries.rows,
      queriesSource: queries == nil ? "items held out of the index" : "the given queries",
      exactMicrosecondsPerQuery: run.exactMicroseconds,
      seconds: (clock.now - started).inSeconds, check: sampleB)
  }

  /// Measures a built index on sample B, as it will be searched (in place, one thread).
  ///
  /// - Parameters:
  ///   - index: the index built with the report's choice.
  ///   - report: the tuning report.
  /// - Returns: the measurement.
  /// - Throws: ``LSHError``, ``VectorStoreError``.
  public static func check(_ index: LSHIndex, against report: Report) throws -> Measurement {
    try index.store.read { snapshot in
      try check(
        try index.searcher(in: snapshot), setting: index.configuration, over: snapshot,
        against: report)
    }
  }

  /// Measures tables built in memory over `source` (a Redis store's index: the tables every
  /// query process builds from its parameters) on sample B, in one thread.
  ///
  /// - Parameters:
  ///   - index: tables of the report's choice over `source`.
  ///   - source: the vectors the index was built over.
  ///   - report: the tuning report.
  /// - Returns: the measurement.
  /// - Throws: ``LSHError``.
  public static func check(
    _ index: LSHMemoryIndex, over source: some VectorSource, against report: Report
  ) throws -> Measurement {
    try index.withSearcher(over: source) { searcher in
      try check(searcher, setting: index.configuration, over: source, against: report)
    }
  }

  /// Sample B searched by `searcher` over `source`, the truth taken again there: items deleted
  /// or added since the samples were drawn (by another process) change the true neighbours,
  /// not the index's recall.
  private static func check(
    _ searcher: borrowing LSHSearcher, setting: LSHConfiguration, over source: some VectorSource,
    against report: Report
  ) throws -> Measurement {
    try measure(
      searcher, setting: setting, sample: report.check.withTruth(in: source, k: report.k),
      k: report.k, runs: decisiveRuns)
  }

  /// Single-threaded microseconds per query of an index at its stored settings and of exact
  /// search, on the same stored items used as queries (k 10): whether the index pays its way.
  ///
  /// - Parameters:
  ///   - index: the index.
  ///   - queries: how many stored items to search for.
  /// - Returns: the two times.
  /// - Throws: ``LSHError``, ``VectorStoreError``.
  public static func speed(of index: LSHIndex, queries: Int = 200) throws -> (
    lsh: Double, exact: Double
  ) {
    try index.store.read { snapshot in
      try index.withSearcher(in: snapshot) { searcher in
        try speed(of: searcher, over: snapshot, queries: queries)
      }
    }
  }

  /// ``speed(of:queries:)`` for tables built in memory over `source` (a Redis store's index).
  ///
  /// - Parameters:
  ///   - index: the tables.
  ///   - source: the vectors they were built over.
  ///   - queries: how many stored items to search for.
  /// - Returns: the two times.
  /// - Throws: ``LSHError``.
  public static func speed(
    of index: LSHMemoryIndex, over source: some VectorSource, queries: Int = 200
  ) throws -> (lsh: Double, exact: Double) {
    try index.withSearcher(over: source) { searcher in
      try speed(of: searcher, over: source, queries: queries)
    }
  }

  private static func speed(
    of searcher: borrowing LSHSearcher, over source: some VectorSource, queries: Int
  ) throws -> (lsh: Double, exact: Double) {
    let sample = LSHIndex.sampleVectors(source, limit: queries)
    guard sample.rows > 0 else { return (0, 0) }
    let lsh = try fastest(of: decisiveRuns) { try searcher.search(sample, k: 10, threads: 1) }
    var exact = source.exactSearch
    exact.threads = 1
    let scan = fastest(of: decisiveRuns) { exact.search(sample, k: 10) }
    let count = Double(sample.rows)
    return (lsh.seconds * 1e6 / count, scan.seconds * 1e6 / count)
  }

  /// Samples A and B with their ground truth, and the held-out ids (empty with `queries`).
  static func samples(
    _ source: some VectorSource, size: Int, k: Int, queries: Matrix?
  ) -> (Sample, Sample, Set<UInt64>) {
    let dimension = source.dimension
    var random = SeededRandom(seed: 0x7475_6e65)
    var rows: [[Float]] = []
    var heldOut: [UInt64] = []
    if let queries {
      var order = Array(0..<queries.rows)
      random.shuffle(&order)
      for row in order.prefix(2 * size) {
        rows.append(Array(queries.values[(row * dimension)..<((row + 1) * dimension)]))
      }
    } else {
      var ids = source.liveIDs
      random.shuffle(&ids)
      heldOut = Array(ids.prefix(2 * size))
      for id in heldOut { rows.append(source.vector(id: id).map(Array.init) ?? []) }
    }
    let excludedSet = Set(heldOut)
    var all = Matrix(rows: 0, columns: dimension)
    for row in rows { all.append(rows: row) }
    var exact = ExactSearch(dimension: dimension, metric: .l2, blocks: source.blocks)
    exact.threads = Parallel.processorCount
    let found = exact.search(all, k: k + excludedSet.count)
    let kth = found.map { neighbors -> Float in
      neighbors.lazy.filter { !excludedSet.contains($0.id) }.prefix(k).reduce(-Float.infinity) {
        max($0, $1.distance)
      }
    }
    let half = rows.count / 2
    func sample(_ range: Range<Int>) -> Sample {
      var matrix = Matrix(rows: 0, columns: dimension)
      for row in range { matrix.append(rows: rows[row]) }
      return Sample(
        excluded: range.map { heldOut.isEmpty ? nil : heldOut[$0] }, queries: matrix,
        kthDistances: range.map { kth[$0] })
    }
    return (sample(0..<half), sample(half..<(2 * half)), excludedSet)
  }

  /// Timed runs of the decisive measurements (finalists, exact search, the built index): the
  /// fastest run counts, as ann-benchmarks does, so a run that was preempted (other processes,
  /// parallel tests) cannot decide between LSH and exact search.
  static let decisiveRuns = 3
  /// How much faster another code size must be to replace the base's (timing noise between two
  /// measurements of one setting is a few per cent).
  static let codeSizeGain = 1.05
  /// The most items for which tune weighs code sizes (each size encodes every item again).
  static let codeSizeItemLimit = 2_000_000

  /// The fastest of `runs` runs of `work`, in seconds, and the last run's result.
  static func fastest<R>(of runs: Int, _ work: () throws -> R) rethrows -> (seconds: Double, R) {
    let clock = ContinuousClock()
    var start = clock.now
    var result = try work()
    var best = (clock.now - start).inSeconds
    for _ in 1..<max(1, runs) {
      start = clock.now
      result = try work()
      best = min(best, (clock.now - start).inSeconds)
    }
    return (best, result)
  }

  /// Recall (ann-benchmarks' definition: returned items within the true k-th distance, in the
  /// metric's own units, + 1e-3) and single-threaded speed (the fastest of `runs`) of one
  /// setting.
  static func measure(
    _ searcher: borrowing LSHSearcher, setting: LSHConfiguration, sample: Sample, k: Int,
    runs: Int = 1
  ) throws -> Measurement {
    let (seconds, results) = try fastest(of: runs) {
      try searcher.search(
        sample.queries, k: k + 1, probesPerTable: setting.probes,
        candidateBudget: setting.candidateBudget, threads: 1)
    }
    var hits = 0
    var sumOfSquares = 0.0
    var candidates = 0
    var exact = 0
    let cosine = searcher.model.metric == .cosine
    for (index, result) in results.enumerated() {
      let kth = sample.kthDistances[index]
      let returned = result.neighbors.filter { $0.id != sample.excluded[index] }.prefix(k)
      var queryHits = 0
      for neighbor in returned {
        let squared = cosine ? 2 * neighbor.distance : neighbor.distance
        if ANNTolerance.within(squared: squared, kthSquared: kth, cosine: cosine) {
          queryHits += 1
        }
      }
      hits += queryHits
      sumOfSquares += Double(queryHits * queryHits) / Double(k * k)
      candidates += result.candidates
      exact += result.exactDistances
    }
    let queries = Double(max(results.count, 1))
    let recall = Double(hits) / (queries * Double(k))
    // Sample variance of the per-query recalls, then the standard error of their mean.
    let variance =
      results.count > 1 ? max(0, (sumOfSquares - queries * recall * recall) / (queries - 1)) : 0
    return Measurement(
      configuration: setting, queries: results.count, recall: recall,
      recallStandardError: (variance / queries).squareRoot(),
      microsecondsPerQuery: seconds * 1e6 / queries, candidates: Double(candidates) / queries,
      exactDistances: Double(exact) / queries)
  }
}

extension BulkEncoding {
  /// Tables of a hasher over these items, in memory, hashed from the kept projections a group
  /// of tables at a time (see ``MemoryTables`` for their layout).
  func memoryTables(hasher: BucketHasher, configuration: LSHConfiguration) -> MemoryTables {
    let hashDimensions = configuration.hashDimensions
    precondition(hashDimensions <= width, "the hashes see components that were not kept")
    return MemoryTables(
      tables: hasher.tables, entryBytes: entryBytes, items: count, itemEntries: entries,
      codeBytesPerGroup: BulkEncoding.rehashedCodeBytesPerGroup
    ) { group in
      let groupHasher = hasher.tables(group)
      let tables = group.count
      var codes = [UInt64](repeating: 0, count: count * tables)
      projections.withUnsafeBufferPointer { projections in
        codes.withUnsafeMutableBufferPointer { codes in
          let shared = UncheckedSendable(codes)
          Parallel.forEachChunk(of: count, count: Parallel.processorCount) { _, range in
            for item in range {
              groupHasher.codes(
                UnsafeBufferPointer(
                  rebasing: projections[(item * width)..<(item * width + hashDimensions)]),
                into: UnsafeMutableBufferPointer(
                  rebasing: shared.value[(item * tables)..<((item + 1) * tables)]))
            }
          }
        }
      }
      return codes
    }
  }
}
