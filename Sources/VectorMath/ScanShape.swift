import COpenBLAS
import Plumbing
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// How exact search lays out its matrix products: which side is the BLAS call's left operand,
/// and how many probes one call takes.
///
/// The speed of one shape differs by CPU and by the kernels OpenBLAS picks for it (measured from
/// 13.5 to 100 GFLOP/s for the same product on machines of one family), so no constant is right
/// everywhere: ``ScanShapeChoice`` measures the candidates on the machine at hand and remembers
/// the fastest (see there).
public struct ScanShape: Sendable, Equatable, CustomStringConvertible {
  /// The orientation of a product.
  public enum Orientation: String, Sendable, CaseIterable {
    /// A tile of probes times a block's rows: `C = probes · blockᵀ`, one row of C per probe.
    case probesByRows = "probes-by-rows"
    /// A block's rows times a tile of probes: `C = block · probesᵀ`, one row of C per base row,
    /// scanned against every probe's threshold eight at a time.
    case rowsByProbes = "rows-by-probes"
  }

  /// The orientation.
  public var orientation: Orientation
  /// Probes per BLAS call.
  public var probeTile: Int

  /// Creates a shape.
  public init(orientation: Orientation, probeTile: Int) {
    self.orientation = orientation
    self.probeTile = probeTile
  }

  /// The shape used without a measurement (small searches, or when measuring is turned off).
  public static let standard = ScanShape(orientation: .probesByRows, probeTile: 1024)

  /// The shapes a measurement compares.
  public static let candidates: [ScanShape] = [
    standard, ScanShape(orientation: .rowsByProbes, probeTile: 1024),
    ScanShape(orientation: .probesByRows, probeTile: 256),
    ScanShape(orientation: .rowsByProbes, probeTile: 256),
  ]

  /// `ORIENTATION/TILE`, e.g. `rows-by-probes/1024`.
  public var description: String { "\(orientation.rawValue)/\(probeTile)" }

  /// Parses ``description``'s form.
  ///
  /// - Parameter text: `ORIENTATION/TILE`, the tile between 8 and 65,536.
  public init?(_ text: some StringProtocol) {
    let parts = text.split(separator: "/")
    guard parts.count == 2, let orientation = Orientation(rawValue: String(parts[0])),
      let tile = Int(parts[1]), (8...65_536).contains(tile)
    else { return nil }
    self.init(orientation: orientation, probeTile: tile)
  }
}

/// The exact-search shape for this machine: measured once per CPU, OpenBLAS kernel set and
/// dimension, then remembered in a per-user cache file, so that exact search runs at the speed
/// of the fastest shape whatever kernels OpenBLAS picks.
///
/// - `TRIPINDEX_SCAN_SHAPE=ORIENTATION/TILE` (e.g. `rows-by-probes/1024`) uses that shape;
///   `TRIPINDEX_SCAN_SHAPE=standard` uses ``ScanShape/standard`` without measuring.
/// - The cache is `$TRIPINDEX_CACHE_DIR/scan-shapes.tsv`, else
///   `$XDG_CACHE_HOME/tripindex/…`, else `~/.cache/tripindex/…`: one line per
///   key (CPU model, OpenBLAS core and configuration, dimension, rows per block) with the
///   chosen shape and the measured GFLOP/s of each candidate. A cache that cannot be read or
///   written costs a measurement, never an error.
/// - Only searches large enough to repay it (``measurementWorthwhile(probes:rows:dimension:)``)
///   measure; smaller ones use the cached choice if there is one, else the standard shape.
public enum ScanShapeChoice {
  /// What a measurement found: the candidates' speeds and the fastest.
  public struct Measurement: Sendable {
    /// GFLOP/s of each candidate (products and the threshold scan), in ``ScanShape/candidates``
    /// order.
    public var gflops: [(shape: ScanShape, gflops: Double)]
    /// The fastest candidate.
    public var best: ScanShape {
      gflops.max { $0.gflops < $1.gflops }?.shape ?? .standard
    }
  }

  /// Searches at least this many floating-point operations (2 · probes · rows · dimension) long
  /// measure the shapes when no choice is cached (about 1 s of products at 100 GFLOP/s; a
  /// measurement costs about 0.3 s at that speed: 4 shapes × 3 runs of 2 GFLOP, plus making its data).
  public static let worthwhileOperations = 1e11

  /// Whether a search of this size should measure the shapes when none is cached.
  public static func measurementWorthwhile(probes: Int, rows: Int, dimension: Int) -> Bool {
    2 * Double(probes) * Double(rows) * Double(dimension) >= worthwhileOperations
  }

  /// `TRIPINDEX_SCAN_SHAPE` as set (non-empty), valid or not.
  public static var forcedSetting: String? {
    guard let text = getenv("TRIPINDEX_SCAN_SHAPE").map({ String(cString: $0) }), !text.isEmpty
    else { return nil }
    return text
  }

  /// The forced shape from `TRIPINDEX_SCAN_SHAPE`, if set and valid (`standard` gives the
  /// standard shape; the command line refuses an invalid setting).
  public static var forced: ScanShape? {
    guard let text = forcedSetting else { return nil }
    return text == "standard" ? .standard : ScanShape(text)
  }

  /// The shape for a search: forced, cached, measured (and cached) when worthwhile, else the
  /// standard one. Exact search's workers each call BLAS on one thread (except on stores of
  /// fewer blocks than threads), so shapes are measured on one thread.
  ///
  /// - Parameters:
  ///   - dimension: values per vector.
  ///   - blockRows: base rows per block (one BLAS call's rows).
  ///   - worthwhile: whether this search may pay for a measurement.
  /// - Returns: the shape.
  public static func shape(dimension: Int, blockRows: Int, worthwhile: Bool) -> ScanShape {
    if let forced { return forced }
    let key = cacheKey(dimension: dimension, blockRows: blockRows)
    return lock.withLock { known in
      // The cache file is read once per process and key (a miss is remembered as nil); a
      // measurement is remembered too.
      let cached: ScanShape?
      if let entry = known[key] {
        cached = entry
      } else {
        cached = readCache()[key]
        known.updateValue(cached, forKey: key)
      }
      if let cached { return cached }
      guard worthwhile else { return .standard }
      let measured = measure(dimension: dimension, blockRows: blockRows)
      writeCache(key: key, measurement: measured)
      known[key] = measured.best
      return measured.best
    }
  }

  /// Measures the candidates now and caches the choice, whatever is cached (what `info --blas`
  /// shows).
  ///
  /// - Parameters:
  ///   - dimension: values per vector.
  ///   - blockRows: base rows per block.
  /// - Returns: the measurement.
  public static func remeasure(dimension: Int, blockRows: Int) -> Measurement {
    lock.withLock { known in
      let measured = measure(dimension: dimension, blockRows: blockRows)
      let key = cacheKey(dimension: dimension, blockRows: blockRows)
      writeCache(key: key, measurement: measured)
      known[key] = measured.best
      return measured
    }
  }

  /// Measures every candidate on random data of this dimension, on one thread: 1,024 probes
  /// against whole blocks (2 to 32 of them, about 2 GFLOP of products), each candidate timed
  /// three times (interleaved), the fastest run kept.
  ///
  /// - Parameters:
  ///   - dimension: values per vector.
  ///   - blockRows: base rows per block.
  /// - Returns: each candidate's speed.
  public static func measure(dimension: Int, blockRows: Int) -> Measurement {
    var random = SeededRandom(seed: 1)
    let probeCount = 1024
    let probes = Matrix(
      rows: probeCount, columns: dimension,
      values: (0..<(probeCount * dimension)).map { _ in Float(random.normal()) })
    let blockCount = max(
      2, min(32, Int(2e9 / (2 * Double(probeCount) * Double(blockRows) * Double(dimension)))))
    let rows = blockCount * blockRows
    let base = Matrix(
      rows: rows, columns: dimension,
      values: (0..<(rows * dimension)).map { _ in Float(random.normal()) })
    var best = [Double](repeating: .infinity, count: ScanShape.candidates.count)
    base.withVectorSource(metric: .l2, blockRows: blockRows) { source in
      for _ in 0..<3 {
        for (index, shape) in ScanShape.candidates.enumerated() {
          var search = source.exactSearch
          search.shape = shape
          search.threads = 1
          let clock = ContinuousClock()
          let started = clock.now
          _ = search.search(probes, k: 10)
          best[index] = min(best[index], started.duration(to: clock.now).inSeconds)
        }
      }
    }
    let operations = 2 * Double(probes.rows) * Double(rows) * Double(dimension)
    return Measurement(
      gflops: zip(ScanShape.candidates, best).map { ($0, operations / max($1, 1e-9) / 1e9) })
  }

  /// The machine's single-call sgemm speed at `1024 × 1024 × dimension`, in GFLOP/s (the best
  /// of three calls), with `threads` BLAS threads.
  public static func sgemmPeak(dimension: Int, threads: Int) -> Double {
    var random = SeededRandom(seed: 2)
    let a = (0..<(1024 * dimension)).map { _ in Float(random.normal()) }
    let b = (0..<(1024 * dimension)).map { _ in Float(random.normal()) }
    var c = [Float](repeating: 0, count: 1024 * 1024)
    let previous = BLAS.threadCount
    BLAS.setThreadCount(threads)
    defer { BLAS.setThreadCount(previous) }
    var best = Double.infinity
    let clock = ContinuousClock()
    for _ in 0..<3 {
      let started = clock.now
      a.withUnsafeBufferPointer { a in
        b.withUnsafeBufferPointer { b in
          c.withUnsafeMutableBufferPointer { c in
            guard let a = a.baseAddress, let b = b.baseAddress, let c = c.baseAddress else {
              return
            }
            BLAS.gemm(
              transposeB: true, m: 1024, n: 1024, k: dimension, a: a, lda: dimension, b: b,
              ldb: dimension, c: c, ldc: 1024)
          }
        }
      }
      best = min(best, started.duration(to: clock.now).inSeconds)
    }
    return 2 * 1024 * 1024 * Double(dimension) / max(best, 1e-9) / 1e9
  }

  /// What OpenBLAS says of itself: its kernel set (`Haswell`, `Zen`, `SkylakeX`, …) and build.
  public static var openBLASDescription: (core: String, configuration: String) {
    (
      openblas_get_corename().map { String(cString: $0) } ?? "unknown",
      openblas_get_config().map { String(cString: $0) } ?? "unknown"
    )
  }

  /// The CPU's model name (from `/proc/cpuinfo`), or `unknown`.
  public static var cpuModel: String { cpuModelOnce }

  private static let cpuModelOnce: String = {
    let text = String(decoding: (try? TextFile.contents(of: "/proc/cpuinfo")) ?? [], as: UTF8.self)
    for line in text.split(separator: "\n") where line.hasPrefix("model name") {
      guard let colon = line.firstIndex(of: ":") else { continue }
      return String(line[line.index(after: colon)...].drop { $0 == " " || $0 == "\t" })
    }
    return "unknown"
  }()

  /// The cache line's key for a search of this dimension.
  static func cacheKey(dimension: Int, blockRows: Int) -> String {
    let blas = openBLASDescription
    return "\(cpuModel)|\(blas.core)|\(blas.configuration)|d=\(dimension)|rows=\(blockRows)"
      .replacingTabsAndNewlines
  }

  /// The cache file's path, or `nil` when no folder can be named.
  public static var cachePath: String? {
    func variable(_ name: String) -> String? {
      guard let value = getenv(name).map({ String(cString: $0) }), !value.isEmpty else {
        return nil
      }
      return value
    }
    if let directory = variable("TRIPINDEX_CACHE_DIR") { return directory + "/scan-shapes.tsv" }
    if let directory = variable("XDG_CACHE_HOME") {
      return directory + "/tripindex/scan-shapes.tsv"
    }
    if let home = variable("HOME") { return home + "/.cache/tripindex/scan-shapes.tsv" }
    return nil
  }

  /// The choices this process has read or measured, by cache key.
  private static let lock = Mutex<[String: ScanShape?]>([:])

  /// The cache file's lines (none when there is no readable cache).
  private static func cacheLines() -> [Substring] {
    guard let path = cachePath, let bytes = try? TextFile.contents(of: path) else { return [] }
    return String(decoding: bytes, as: UTF8.self).split(separator: "\n")
  }

  /// The cached choices by key (empty when there is no readable cache).
  static func readCache() -> [String: ScanShape] {
    var choices: [String: ScanShape] = [:]
    for line in cacheLines() {
      let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
      if fields.count >= 2, let shape = ScanShape(fields[1]) { choices[String(fields[0])] = shape }
    }
    return choices
  }

  /// Adds (or replaces) a key's line in the cache file, written whole and renamed into place
  /// (`TextFile`). Failures are ignored (the next search measures again).
  static func writeCache(key: String, measurement: Measurement) {
    guard let path = cachePath else { return }
    try? Directories.create(String(path[..<(path.lastIndex(of: "/") ?? path.endIndex)]))
    var lines = cacheLines().filter { !$0.hasPrefix(key + "\t") }.map(String.init)
    let speeds = measurement.gflops.map { "\($0.shape)=\(Int($0.gflops.rounded()))" }
    lines.append("\(key)\t\(measurement.best)\t\(speeds.joined(separator: " "))")
    try? TextFile.write(lines.joined(separator: "\n") + "\n", to: path)
  }
}

extension String {
  /// The string with tabs and line breaks turned into spaces (a cache key on one line).
  fileprivate var replacingTabsAndNewlines: String {
    String(map { $0 == "\t" || $0 == "\n" || $0 == "\r" ? " " : $0 })
  }
}
