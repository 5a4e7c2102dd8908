import VectorIO
import VectorMath
import VectorStore

/// Chooses LSH settings for a store: the fastest setting (single-threaded time per query) whose
/// recall@k on a sample of stored vectors — each searched with itself excluded, against exact
/// search — reaches a target with 95% confidence (the mean per-query recall less 1.645 standard
/// errors), so that the promise holds on queries tuning never saw; then reports the setting's
/// recall on a second, held-out sample.
public enum LSHTuner {
  /// One measured setting.
  public struct Measurement: Sendable {
    /// The setting.
    public var configuration: LSHConfiguration
    /// Recall@k on the tuning sample.
    public var recall: Double
    /// The standard error of that recall (over queries).
    public var recallStandardError: Double
    /// The one-sided 95% lower confidence bound on the recall: what tuning compares with the
    /// target.
    public var recallLowerBound: Double { max(0, recall - 1.645 * recallStandardError) }
    /// Mean single-threaded microseconds per query.
    public var microsecondsPerQuery: Double
    /// Mean distinct candidates per query.
    public var candidates: Double
    /// Mean exact distances per query.
    public var exactDistances: Double
  }

  /// What tuning found.
  public struct Report: Sendable {
    /// Every setting measured, in the order tried.
    public var measurements: [Measurement]
    /// The chosen setting, or `nil` when none reached the target.
    public var chosen: Measurement?
    /// The chosen setting's recall on the held-out sample.
    public var heldOutRecall: Double?
    /// The target.
    public var target: Double
    /// Neighbours per query.
    public var k: Int
    /// Queries in each sample.
    public var sampleSize: Int
    /// Exact search's single-threaded microseconds per query on the same sample, for reference.
    public var exactMicrosecondsPerQuery: Double
  }

  /// The settings to try.
  public struct Grid: Sendable {
    /// Families.
    public var families: [HashFamily]
    /// K values per family.
    public var hashesPerTable: [HashFamily: [Int]] = [
      .pstable: [6, 8, 10], .hyperplane: [10, 14, 18], .crosspolytope: [1, 2, 3],
    ]
    /// Multipliers of the estimated p-stable width.
    public var widthMultipliers: [Double] = [0.6, 0.8, 1.0, 1.3]
    /// L values.
    public var tables: [Int] = [4, 8, 12]
    /// T values (query time).
    public var probes: [Int] = [1, 2, 4, 8]
    /// Candidate budgets (query time; 0 = none).
    public var budgets: [Int] = [1000, 3000, 10000, 0]

    /// The default grid for a metric: p-stable for l2; all three families for cosine.
    ///
    /// - Parameter metric: the store's metric.
    public init(metric: DistanceMetric) {
      families = metric == .cosine ? [.hyperplane, .crosspolytope, .pstable] : [.pstable]
    }
  }

  /// Measures the grid and returns the fastest setting reaching `target` (the index is not
  /// changed; build it with ``LSHIndex/build(on:configuration:sampleSize:)``).
  ///
  /// - Parameters:
  ///   - store: the store.
  ///   - target: the recall@k to reach, in (0, 1].
  ///   - k: neighbours per query.
  ///   - sampleSize: queries per sample (two samples are drawn).
  ///   - grid: the settings to try.
  ///   - base: settings not searched (dimensions, seed).
  ///   - progress: receives one line per table setting measured.
  /// - Returns: the measurements and the choice.
  /// - Throws: ``LSHError`` for a store too small to tune, ``VectorStoreError``.
  public static func tune(
    store: VectorStore, target: Double, k: Int = 10, sampleSize: Int = 400, grid: Grid,
    base: LSHConfiguration = LSHConfiguration.defaults(for: .pstable),
    progress: (String) -> Void = { _ in }
  ) throws -> Report {
    guard target > 0 && target <= 1 else {
      throw LSHError("--recall must be in (0, 1], not \(target)")
    }
    guard k >= 1 else { throw LSHError("-k must be at least 1") }
    let count = try store.count()
    guard count > 2 * sampleSize + k else {
      throw LSHError(
        "store \(store.path) holds \(count) items; tuning needs more than \(2 * sampleSize + k) (lower --sample)"
      )
    }
    let training = try LSHIndex.sampleVectors(store, limit: 20_000)
    let baseConfiguration = try base.validated(forDimension: store.dimension)
    guard
      let transform = DataTransform.fit(training, components: baseConfiguration.sketchDimensions)
    else {
      throw LSHError("the principal components of store \(store.path) could not be computed")
    }
    let widthBase = Double(
      LSHIndex.estimateWidth(
        transform.project(training), dimensions: baseConfiguration.hashDimensions))
    return try store.read { snapshot in
      let sketches = InMemorySketches(snapshot: snapshot, transform: transform)
      let (tuning, heldOut) = try samples(snapshot, size: sampleSize, k: k)
      var measurements: [Measurement] = []
      var exact = ExactSearch(
        dimension: store.dimension, metric: store.metric, blocks: snapshot.blocks)
      exact.threads = 1
      let exactStart = now()
      _ = exact.search(tuning.queries, k: k + 1)
      let exactMicroseconds = (now() - exactStart) * 1e6 / Double(tuning.queries.rows)
      var best: Measurement?
      for family in grid.families {
        for hashes in grid.hashesPerTable[family] ?? [] {
          for multiplier in family == .pstable ? grid.widthMultipliers : [1] {
            for tables in grid.tables {
              var configuration = baseConfiguration
              configuration.family = family
              configuration.hashesPerTable = hashes
              configuration.tables = tables
              configuration.bucketWidth = family == .pstable ? widthBase * multiplier : nil
              guard let valid = try? configuration.validated(forDimension: store.dimension) else {
                continue
              }
              let searcher = sketches.searcher(for: valid, metric: store.metric)
              var reached = false
              settings: for probes in grid.probes {
                for budget in grid.budgets {
                  var setting = valid
                  setting.probes = probes
                  setting.candidateBudget = budget
                  let measurement = measure(searcher, setting: setting, sample: tuning, k: k)
                  measurements.append(measurement)
                  if measurement.recallLowerBound >= target {
                    reached = true
                    if best.map({ measurement.microsecondsPerQuery < $0.microsecondsPerQuery })
                      ?? true
                    {
                      best = measurement
                    }
                    break settings
                  }
                }
              }
              progress(
                "\(valid.summary): " + (reached ? "reaches" : "misses")
                  + " recall \(TextFormatting.fixed(target, 2))")
            }
          }
        }
      }
      var heldOutRecall: Double?
      if let chosen = best {
        let searcher = sketches.searcher(for: chosen.configuration, metric: store.metric)
        heldOutRecall =
          measure(searcher, setting: chosen.configuration, sample: heldOut, k: k).recall
      }
      return Report(
        measurements: measurements, chosen: best, heldOutRecall: heldOutRecall, target: target,
        k: k,
        sampleSize: sampleSize, exactMicrosecondsPerQuery: exactMicroseconds)
    }
  }

  /// Queries drawn from the store, with their exact neighbours (themselves excluded).
  struct Sample {
    var ids: [UInt64]
    var queries: Matrix
    /// Per query, the true k-th distance (squared L2).
    var kthDistances: [Float]
  }

  static func samples(_ snapshot: StoreSnapshot, size: Int, k: Int) throws -> (Sample, Sample) {
    var ids: [UInt64] = []
    try snapshot.forEachItem { item, _ in ids.append(item.id) }
    var random = SeededRandom(seed: 0x7475_6e65)
    random.shuffle(&ids)
    let dimension = snapshot.store.dimension
    func sample(_ chosen: ArraySlice<UInt64>) -> Sample {
      var queries = Matrix(rows: 0, columns: dimension)
      for id in chosen {
        if let vector = snapshot.vector(id: id) { queries.append(rows: Array(vector)) }
      }
      var exact = ExactSearch(dimension: dimension, metric: .l2, blocks: snapshot.blocks)
      exact.threads = Parallel.processorCount
      let found = exact.search(queries, k: k + 1)
      let kth = zip(chosen, found).map { id, neighbors -> Float in
        let others = neighbors.filter { $0.id != id }
        return others.prefix(k).last?.distance ?? .infinity
      }
      return Sample(ids: Array(chosen), queries: queries, kthDistances: kth)
    }
    return (sample(ids[0..<size]), sample(ids[size..<(2 * size)]))
  }

  /// Recall (ann-benchmarks' definition: returned items within the true k-th distance) and
  /// single-threaded speed of one setting.
  static func measure(_ searcher: LSHSearcher, setting: LSHConfiguration, sample: Sample, k: Int)
    -> Measurement
  {
    let start = now()
    let results = searcher.search(
      sample.queries, k: k + 1, probesPerTable: setting.probes,
      candidateBudget: setting.candidateBudget, threads: 1)
    let seconds = now() - start
    var hits = 0
    var sumOfSquares = 0.0
    var candidates = 0
    var exact = 0
    let cosine = searcher.model.metric == .cosine
    for (index, result) in results.enumerated() {
      let kth = sample.kthDistances[index]
      let returned = result.neighbors.filter { $0.id != sample.ids[index] }.prefix(k)
      var queryHits = 0
      for neighbor in returned {
        let squared = cosine ? 2 * neighbor.distance : neighbor.distance
        if squared <= kth * (1 + 1e-5) + 1e-3 { queryHits += 1 }
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
      configuration: setting, recall: recall,
      recallStandardError: (variance / queries).squareRoot(),
      microsecondsPerQuery: seconds * 1e6 / queries, candidates: Double(candidates) / queries,
      exactDistances: Double(exact) / queries)
  }

  static func now() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
  }
}

/// Every stored item's sketch computed in memory (block layout), so settings can be tried
/// without writing tables to the store.
final class InMemorySketches: @unchecked Sendable {
  let snapshot: StoreSnapshot
  let transform: DataTransform
  /// One allocation per block, owned here and freed in `deinit`.
  private var blocks: [UnsafeMutableBufferPointer<Float>] = []

  init(snapshot: StoreSnapshot, transform: DataTransform) {
    self.snapshot = snapshot
    self.transform = transform
    let dimension = snapshot.store.dimension
    for block in snapshot.blocks {
      let vectors = Matrix(
        rows: block.rowCount, columns: dimension,
        values: Array(UnsafeBufferPointer(start: block.values, count: block.rowCount * dimension)))
      let projected = transform.project(vectors).values
      let storage = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(projected.count, 1))
      _ = storage.initialize(from: projected)
      blocks.append(storage)
    }
  }

  deinit {
    for block in blocks { block.deallocate() }
  }

  /// A searcher over tables built in memory with `configuration`.
  func searcher(for configuration: LSHConfiguration, metric: DistanceMetric) -> LSHSearcher {
    let hasher = BucketHasher(
      family: configuration.family, tables: configuration.tables,
      hashesPerTable: configuration.hashesPerTable,
      dimensions: configuration.hashDimensions, bucketWidth: Float(configuration.bucketWidth ?? 1),
      seed: configuration.seed)
    let model = LSHModel(
      configuration: configuration, transform: transform, hasher: hasher, metric: metric)
    var pairs = [[(code: UInt64, id: UInt32)]](repeating: [], count: configuration.tables)
    let width = transform.outputDimension
    for (blockIndex, block) in snapshot.blocks.enumerated() {
      let values = UnsafeBufferPointer(blocks[blockIndex])
      for row in 0..<block.rowCount where !block.isDeleted(row) {
        let codes = model.codes(
          ofProjection: UnsafeBufferPointer(rebasing: values[(row * width)..<((row + 1) * width)]))
        let id = UInt32(truncatingIfNeeded: block.firstID + UInt64(row))
        for table in 0..<configuration.tables { pairs[table].append((codes[table], id)) }
      }
    }
    let pointers: [UnsafePointer<Float>?] = blocks.map { $0.baseAddress.map { UnsafePointer($0) } }
    return LSHSearcher(
      model: model, snapshot: snapshot, maps: pairs.map { BucketMap(pairs: $0) },
      sketches: pointers, keepAlive: self)
  }
}

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif
