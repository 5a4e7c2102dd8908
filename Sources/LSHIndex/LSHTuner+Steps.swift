import Plumbing
import VectorMath
import VectorStore

/// The steps of ``LSHTuner/tune(store:target:k:sampleSize:queries:grid:base:progress:)``, in
/// order: check the request, fit the projection every setting shares, time exact search, screen
/// the grid on a quarter of sample A, measure the finalists on all of A, confirm on sample B.
extension LSHTuner {
  /// Refuses a request tuning cannot answer.
  static func checkRequest(
    count: Int, describedAs name: String, target: Double, k: Int, sampleSize: Int,
    queries: Matrix?
  ) throws {
    guard target > 0 && target <= 1 else {
      throw LSHError(.invalidSetting("target"), "must be in (0, 1], not \(target)")
    }
    guard k >= 1 else { throw LSHError(.invalidSetting("k"), "must be at least 1") }
    guard sampleSize >= 20 else {
      throw LSHError(.invalidSetting("sampleSize"), "must be at least 20, not \(sampleSize)")
    }
    let heldOutCount = queries == nil ? 2 * sampleSize : 0
    guard count >= heldOutCount + 10 * k + 100 else {
      throw LSHError(
        .tooFewItems,
        "\(name) holds \(count) items; tuning needs at least \(heldOutCount + 10 * k + 100) (use smaller samples, or give queries of your own)"
      )
    }
    if let queries, queries.rows < 40 {
      throw LSHError(.tooFewItems, "tuning needs at least 40 queries, not \(queries.rows)")
    }
  }

  /// What every setting shares: the base settings, the projection and codes fitted once on a
  /// sample of the store, and the sample's projection (for p-stable bucket widths).
  struct BaseFit {
    let configuration: LSHConfiguration
    let encoder: ItemEncoder
    let projectedSample: Matrix

    init(source: some VectorSource, describedAs name: String, base: LSHConfiguration) throws {
      let sample = LSHIndex.sampleVectors(source, limit: LSHIndex.fittingSampleSize)
      configuration = try base.validated(forDimension: source.dimension)
      encoder = try LSHIndex.fitEncoder(
        configuration, sample: sample, metric: source.metric, describedAs: name)
      projectedSample = encoder.model.transform.project(sample)
    }
  }

  /// Exact search's single-threaded microseconds per query on a sample (best of
  /// ``decisiveRuns``).
  static func exactMicroseconds(in source: some VectorSource, sample: Sample, k: Int) -> Double {
    var exact = source.exactSearch
    exact.threads = 1
    let seconds = fastest(of: decisiveRuns) { exact.search(sample.queries, k: k + 1) }.seconds
    return seconds * 1e6 / Double(sample.queries.rows)
  }

  /// One tuning run over a snapshot: the shared fit, the encoded items, exact search's time.
  struct Run<Source: VectorSource> {
    let source: Source
    let fitted: BaseFit
    let target: Double
    let k: Int
    let encoded: BulkEncoding
    let exactMicroseconds: Double
    /// The tables of the hash draw searched last.
    let drawTables = DrawTables()

    /// Whether a setting could still beat exact search by ``LSHTuner/minimumSpeedup``.
    func isAffordable(_ measurement: Measurement) -> Bool {
      measurement.microsecondsPerQuery * minimumSpeedup <= exactMicroseconds
    }

    /// A searcher for a screened setting over its hash draw's first L tables, built in memory
    /// (for the few settings measured again, rather than keeping every draw's tables), or the
    /// tables held of the same draw when they are at least as many.
    func searcher(_ setting: LSHConfiguration, in screened: Screened) -> LSHSearcher? {
      guard let (encoder, draw) = screened.settings[Screened.key(setting)] else { return nil }
      let memory = drawTables.tables(of: draw, count: encoder.model.configuration.tables) {
        encoded.memoryTables(
          hasher: encoder.model.hasher, configuration: encoder.model.configuration)
      }
      return LSHSearcher(encoder: encoder, source: source, tables: .memory(memory))
    }

    /// Every setting of the grid on a quick sample: one table build per hash draw (the
    /// largest L; smaller L use its first tables), probes raised until the recall's lower
    /// bound passes the target.
    ///
    /// - Returns: the measurements in the order tried, and each setting's encoder and draw.
    func screen(_ grid: Grid, on quick: Sample, progress: (String) -> Void) throws -> (
      [Measurement], Screened
    ) {
      var measurements: [Measurement] = []
      var screened = Screened()
      var widths: [Int: Double] = [:]
      func widthBase(_ dimensions: Int) -> Double {
        if let width = widths[dimensions] { return width }
        let width = Double(
          LSHIndex.estimateWidth(fitted.projectedSample, dimensions: dimensions))
        widths[dimensions] = width
        return width
      }
      let base = fitted.configuration
      let largestL = grid.tables.max() ?? base.tables
      for family in grid.families(forItems: source.count) {
        for (hashDimensions, hashes) in grid.shapes(of: family, codeSize: base.sketchDimensions) {
          for multiplier in family == .pstable ? grid.widthMultipliers : [1] {
            var configuration = base
            configuration.family = family
            configuration.hashesPerTable = hashes
            configuration.hashDimensions = hashDimensions
            configuration.tables = largestL
            configuration.bucketWidth =
              family == .pstable ? widthBase(hashDimensions) * multiplier : nil
            guard
              let valid = try? configuration.validated(
                forDimension: source.dimension),
              valid.hashDimensions == hashDimensions
            else { continue }
            try screenDraw(
              valid, tables: grid.tables.sorted(), probes: grid.probes.sorted(), on: quick,
              into: &measurements, screened: &screened)
            progress("\(valid.summary): \(grid.tables.count) table counts measured")
          }
        }
      }
      return (measurements, screened)
    }

    /// One hash draw (`draw` with its largest L) at every L and T of the grid, as
    /// ``LSHTuner/screeningStep(after:fewestProbes:target:exactMicroseconds:)`` says.
    private func screenDraw(
      _ draw: LSHConfiguration, tables: [Int], probes: [Int], on quick: Sample,
      into measurements: inout [Measurement], screened: inout Screened
    ) throws {
      let hasher = BucketHasher(drawing: draw, projectedSample: fitted.projectedSample)
      let memory = drawTables.tables(of: draw, count: draw.tables) {
        encoded.memoryTables(hasher: hasher, configuration: draw)
      }
      for tableCount in tables {
        var setting = draw
        setting.tables = tableCount
        let prefix = hasher.prefix(tables: tableCount)
        for probeCount in probes {
          setting.probes = probeCount
          setting.candidateBudget = 0
          let encoder = ItemEncoder(
            model: LSHModel(
              configuration: setting, transform: fitted.encoder.model.transform, hasher: prefix,
              metric: source.metric), coder: fitted.encoder.coder)
          let measurement = try measure(
            LSHSearcher(encoder: encoder, source: source, tables: .memory(memory)),
            setting: setting, sample: quick, k: k)
          measurements.append(measurement)
          screened.settings[Screened.key(setting)] = (encoder, draw)
          let step = LSHTuner.screeningStep(
            after: measurement, fewestProbes: probeCount == probes.first, target: target,
            exactMicroseconds: exactMicroseconds)
          if step == .nextDraw { return }
          if step == .moreTables { break }
        }
      }
    }

    /// The settings that came near the target on the quick sample, measured on all of sample A
    /// (400 queries time far more steadily than the quarter sample) in
    /// ``LSHTuner/finalistOrder(of:target:isAffordable:)``'s order; the slower ones only while
    /// none holds the recall's lower bound (so that the verdict can still name the fastest
    /// setting that reaches the target); at most 4 that hold the bound.
    ///
    /// - Returns: every finalist measured, and those whose lower bound reached the target.
    func finalists(
      of measurements: [Measurement], screened: Screened, on sampleA: Sample
    ) throws -> (all: [Measurement], passing: [Measurement]) {
      var finalists: [Measurement] = []
      var passing: [Measurement] = []
      for candidate in LSHTuner.finalistOrder(
        of: measurements, target: target, isAffordable: isAffordable)
      {
        if !passing.isEmpty && !isAffordable(candidate) { break }
        guard let searcher = searcher(candidate.configuration, in: screened) else {
          continue
        }
        let full = try measure(
          searcher, setting: candidate.configuration, sample: sampleA, k: k, runs: decisiveRuns)
        finalists.append(full)
        if full.recallLowerBound >= target { passing.append(full) }
        if passing.count >= 4 { break }
      }
      return (finalists, passing)
    }

    /// The chosen setting at other code sizes (see ``LSHTuner/Grid/codeSizes``): each one's
    /// items encoded again and its tables built in memory, then timed on sample A back to back
    /// with the setting as chosen (the fastest of ``LSHTuner/decisiveRuns`` each); a size is
    /// taken when it is ``LSHTuner/codeSizeGain`` faster at no lower recall. Skipped above
    /// ``LSHTuner/codeSizeItemLimit`` items, where encoding them again costs too long.
    ///
    /// - Returns: the measurement and encoder to keep.
    func weighCodeSizes(
      _ codeSizes: [Int], of chosen: Measurement, encoder: ItemEncoder, screened: Screened,
      excluding heldOut: Set<UInt64>, on sampleA: Sample, progress: (String) -> Void
    ) throws -> (Measurement, ItemEncoder) {
      let setting = chosen.configuration
      let transform = fitted.encoder.model.transform
      // The setting's own code keeps every component the fit kept (`outputDimension`).
      let sizes = Set(codeSizes).filter {
        $0 >= setting.hashDimensions && $0 < transform.outputDimension
      }.sorted()
      guard !sizes.isEmpty, source.count <= LSHTuner.codeSizeItemLimit,
        let current = searcher(setting, in: screened)
      else { return (chosen, encoder) }
      let sample = LSHIndex.sampleVectors(source, limit: LSHIndex.fittingSampleSize)
      var kept = (measurement: chosen, encoder: encoder)
      for size in sizes {
        var resized = setting
        resized.sketchDimensions = size
        let model = LSHModel(
          configuration: resized, transform: transform.leading(size), hasher: encoder.model.hasher,
          metric: source.metric)
        let candidate = ItemEncoder(
          model: model, coder: LSHIndex.fitCoder(model: model, sample: sample))
        let items = BulkEncoding(
          source, encoder: candidate, excluding: heldOut, codes: false,
          projections: setting.hashDimensions)
        let tables = items.memoryTables(hasher: model.hasher, configuration: resized)
        let shorter = try measure(
          LSHSearcher(encoder: candidate, source: source, tables: .memory(tables)),
          setting: resized, sample: sampleA, k: k, runs: decisiveRuns)
        let asChosen = try measure(
          current, setting: setting, sample: sampleA, k: k, runs: decisiveRuns)
        progress(
          "\(setting.summary): \(size)-component codes \(TextFormatting.fixed(shorter.microsecondsPerQuery, 1)) µs/query, \(setting.sketchDimensions) \(TextFormatting.fixed(asChosen.microsecondsPerQuery, 1))"
        )
        if shorter.microsecondsPerQuery * LSHTuner.codeSizeGain
          <= min(asChosen.microsecondsPerQuery, kept.measurement.microsecondsPerQuery),
          shorter.recall >= asChosen.recall
        {
          kept = (shorter, candidate)
        }
      }
      return kept
    }

    /// The chosen setting with a cap on the table entries a query reads, when a cap reaches
    /// the target faster. Caps are the fractions `fractions` of the mean entries the setting
    /// reads on sample A, with its own probes and with twice as many (under a cap, more probes
    /// spend the entries on the nearest buckets of more of them); each is measured on sample A
    /// (the fastest of ``LSHTuner/decisiveRuns``, back to back with the uncapped setting), and
    /// the fastest whose recall's lower bound reaches the target and that is `gain` times
    /// faster is kept when its recall on sample B reaches the target too, as every choice must
    /// (else the next fastest).
    ///
    /// - Returns: the measurement and its recall on sample B to keep (`chosen` when no cap is
    ///   faster at the target).
    func weighBudgets(
      _ fractions: [Double], gain: Double,
      of chosen: (measurement: Measurement, heldOutRecall: Double),
      screened: Screened, on sampleA: Sample, checkingOn sampleB: Sample,
      progress: (String) -> Void
    ) throws -> (measurement: Measurement, heldOutRecall: Double) {
      let setting = chosen.measurement.configuration
      guard !fractions.isEmpty, setting.candidateBudget == 0,
        let searcher = searcher(setting, in: screened)
      else { return chosen }
      let uncapped = try measure(
        searcher, setting: setting, sample: sampleA, k: k, runs: decisiveRuns)
      var reaching: [Measurement] = []
      for probes in [setting.probes, 2 * setting.probes] {
        var open = setting
        open.probes = probes
        let entries =
          probes == setting.probes
          ? uncapped.candidates
          : try measure(searcher, setting: open, sample: sampleA, k: k).candidates
        for fraction in fractions {
          var capped = open
          capped.candidateBudget = max(1, Int((entries * fraction).rounded()))
          let measurement = try measure(
            searcher, setting: capped, sample: sampleA, k: k, runs: decisiveRuns)
          if measurement.recallLowerBound >= target { reaching.append(measurement) }
        }
      }
      progress(
        "\(setting.summary): \(reaching.count) of \(2 * fractions.count) caps on the entries read reach the target on A; uncapped \(TextFormatting.fixed(uncapped.microsecondsPerQuery, 1)) µs/query"
      )
      for capped in reaching.sorted(by: { $0.microsecondsPerQuery < $1.microsecondsPerQuery })
      where capped.microsecondsPerQuery * gain <= uncapped.microsecondsPerQuery {
        let check = try measure(
          searcher, setting: capped.configuration, sample: sampleB, k: k)
        progress(
          "\(capped.configuration.summary): \(TextFormatting.fixed(capped.microsecondsPerQuery, 1)) µs/query, recall \(TextFormatting.fixed(capped.recall, 3)) on A, \(TextFormatting.fixed(check.recall, 3)) on B"
        )
        if check.recall >= target { return (capped, check.recall) }
      }
      return chosen
    }

    /// The fastest passing finalist whose recall on sample B (no part in choosing) also
    /// reaches the target, with that recall; `nil` when none does.
    func confirm(
      _ passing: [Measurement], screened: Screened, on sampleB: Sample,
      progress: (String) -> Void
    ) throws -> (measurement: Measurement, heldOutRecall: Double)? {
      for full in passing.sorted(by: { $0.microsecondsPerQuery < $1.microsecondsPerQuery }) {
        let summary = full.configuration.summary
        guard let searcher = searcher(full.configuration, in: screened) else { continue }
        let check = try measure(searcher, setting: full.configuration, sample: sampleB, k: k)
        progress(
          "\(summary): recall \(TextFormatting.fixed(full.recall, 3)) on A, \(TextFormatting.fixed(check.recall, 3)) on B"
        )
        if check.recall >= target { return (full, check.recall) }
      }
      return nil
    }
  }
}

extension LSHTuner {
  /// What screening leaves for the later steps: by the summary of a setting's tables
  /// (``key(_:)``), its encoder (its draw's first L tables) and the draw it came from (the
  /// largest L).
  struct Screened {
    var settings: [String: (encoder: ItemEncoder, draw: LSHConfiguration)] = [:]

    /// The key of a setting's entry: the summary of its tables and hashes, without the
    /// query-time settings (probes and candidate budget, which a search takes as it runs): the
    /// settings of one draw and L share their tables.
    static func key(_ setting: LSHConfiguration) -> String {
      var tables = setting
      tables.probes = 1
      tables.candidateBudget = 0
      return tables.summary
    }
  }

  /// The first tables of one hash draw, kept until other tables are wanted: a setting of the
  /// same draw with as many tables or fewer (another T, a smaller L) searches them as they are.
  /// At 10 million items a draw's 16 tables take ~20 s to build and ~650 MB to hold, so one set
  /// is kept, and dropped before the next is built.
  final class DrawTables {
    private var held: (draw: String, count: Int, tables: MemoryTables)?

    /// The first `count` (or more) tables of `draw`, built by `build` unless held.
    func tables(
      of draw: LSHConfiguration, count: Int, build: () -> MemoryTables
    ) -> MemoryTables {
      if let held, held.draw == draw.summary, held.count >= count { return held.tables }
      held = nil
      let tables = build()
      held = (draw.summary, count, tables)
      return tables
    }
  }
}
