import Plumbing
import VectorMath
import VectorStore

/// What `info --blas` says of the machine's matrix products: which kernels OpenBLAS runs, the
/// sgemm speed at `1024 × 1024 × d`, and how fast exact search's product shapes run here (the
/// measurement exact search makes and caches, see `ScanShapeChoice`), measured afresh.
public struct BLASReport: Sendable {
  /// The dimension measured.
  public var dimension: Int
  /// The CPU model.
  public var cpuModel: String
  /// OpenBLAS's kernel set (`Haswell`, `Zen`, `SkylakeX`, …) and build configuration.
  public var openBLAS: (core: String, configuration: String)
  /// The sgemm speed at `1024 × 1024 × dimension`, GFLOP/s, on one thread and on `threads`.
  public var sgemmPeak: (oneThread: Double, allThreads: Double)
  /// Threads of the all-threads figure.
  public var threads: Int
  /// Each exact-search shape's speed on one thread (products and threshold scan), GFLOP/s.
  public var shapes: ScanShapeChoice.Measurement
  /// The shape a forced `TRIPINDEX_SCAN_SHAPE` names, if any.
  public var forced: ScanShape?
  /// Where the choice is cached (`nil`: nowhere to cache it).
  public var cachePath: String?
  /// How long OpenBLAS's idle threads spin before they sleep, log2 of the cycles
  /// (`BLASIdleThreads`); `nil` when the loaded OpenBLAS does not say.
  public var idleSpinLog2Cycles: Int?

  /// Measures (about a second) and records the measured choice in the cache.
  ///
  /// - Parameters:
  ///   - dimension: the vectors' dimension.
  ///   - threads: threads for the all-threads sgemm figure.
  public init(dimension: Int, threads: Int = Parallel.processorCount) {
    self.dimension = dimension
    self.threads = threads
    cpuModel = ScanShapeChoice.cpuModel
    openBLAS = ScanShapeChoice.openBLASDescription
    sgemmPeak = (
      ScanShapeChoice.sgemmPeak(dimension: dimension, threads: 1),
      ScanShapeChoice.sgemmPeak(dimension: dimension, threads: threads)
    )
    shapes = ScanShapeChoice.remeasure(
      dimension: dimension, blockRows: VectorStore.blockRows(forDimension: dimension))
    forced = ScanShapeChoice.forced
    cachePath = ScanShapeChoice.cachePath
    idleSpinLog2Cycles = BLASIdleThreads.log2Cycles
  }

  /// The shape exact search uses from now on.
  public var chosen: ScanShape { forced ?? shapes.best }

  /// The report as one JSON object (keys in snake_case).
  public var json: String {
    JSONValue.object([
      ("dimension", .integer(dimension)), ("cpu_model", .string(cpuModel)),
      ("openblas_core", .string(openBLAS.core)),
      ("openblas_config", .string(openBLAS.configuration)),
      ("sgemm_gflops_one_thread", .number(sgemmPeak.oneThread)),
      ("sgemm_gflops_threads", .number(sgemmPeak.allThreads)), ("threads", .integer(threads)),
      ("idle_spin_log2_cycles", idleSpinLog2Cycles.map { .integer($0) } ?? .null),
      (
        "scan_shapes",
        .array(
          shapes.gflops.map {
            .object([("shape", .string("\($0.shape)")), ("gflops", .number($0.gflops))])
          })
      ),
      ("chosen", .string("\(chosen)")), ("forced", .bool(forced != nil)),
      ("cache", cachePath.map { .string($0) } ?? .null),
    ]).serialized()
  }

  /// The report for people.
  public var text: String {
    var lines = [
      "cpu: \(cpuModel)",
      "OpenBLAS: \(openBLAS.core) kernels (\(openBLAS.configuration))",
      "sgemm 1024 × 1024 × \(dimension): \(TextFormatting.fixed(sgemmPeak.oneThread, 1)) GFLOP/s on one thread, \(TextFormatting.fixed(sgemmPeak.allThreads, 1)) on \(threads)",
      "idle OpenBLAS threads: "
        + (idleSpinLog2Cycles.map { "spin 2^\($0) cycles, then sleep" } ?? "spin as built"),
      "exact search shapes (one thread, products and scan):",
    ]
    for (shape, gflops) in shapes.gflops {
      let name = "  \(shape)"
      lines.append(
        name + String(repeating: " ", count: max(1, 24 - name.count))
          + "\(TextFormatting.fixed(gflops, 1)) GFLOP/s"
          + (shape == chosen ? (forced == nil ? "  (chosen)" : "  (forced)") : ""))
    }
    if let forced, !shapes.gflops.contains(where: { $0.shape == forced }) {
      lines.append("  \(forced) forced by TRIPINDEX_SCAN_SHAPE")
    }
    lines.append("choice cached in \(cachePath ?? "nowhere (no HOME or cache folder)")")
    return lines.joined(separator: "\n")
  }
}
