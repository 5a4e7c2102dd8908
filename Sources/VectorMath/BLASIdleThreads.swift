import Glibc

/// How long OpenBLAS's idle threads spin before they sleep.
///
/// OpenBLAS (the pthreads build) starts a thread per core when it is loaded, and after start-up
/// and after every call it ran on several threads, each of them waits for work by calling
/// `sched_yield` in a loop for 2^28 CPU cycles (about 0.1 s here) before it sleeps. Most of
/// this tool's work runs BLAS on one thread per worker of its own, so that spinning only takes
/// a core from those workers: a `query` of 5,000 probes on 2 cores lost about 0.04 s of its 0.5
/// s search to it, and a server would lose 0.1 s of a core after every search that ran BLAS on
/// several threads. ``shorten(toLog2Cycles:)`` restarts the idle threads with a shorter spin.
public enum BLASIdleThreads {
  /// The spin the tool sets: 2^22 cycles (about 1.6 ms at 2.6 GHz), long enough to stay awake
  /// between the back-to-back calls of one product, short enough not to be felt afterwards.
  public static let defaultLog2Cycles = 22

  /// The environment variable OpenBLAS reads the spin from (log2 of the cycles, 4 to 30).
  public static let environmentName = "OPENBLAS_THREAD_TIMEOUT"

  /// The spin OpenBLAS has read, as log2 of the cycles; `nil` when the loaded OpenBLAS does not
  /// say (another build of it, or none read yet: then it uses its compiled-in 2^28).
  public static var log2Cycles: Int? {
    guard let read = function("openblas_thread_timeout", as: ReadTimeout.self) else { return nil }
    let value = Int(read())
    return value > 0 ? value : nil
  }

  /// Sets the spin to 2^`log2Cycles` cycles and restarts OpenBLAS's thread pool so that it takes
  /// effect, unless the user chose one (``environmentName`` set) or the loaded OpenBLAS lacks the
  /// entry points (looked up at run time, so another build of OpenBLAS loads and runs as
  /// before). Call it at start-up, before any BLAS call and before other threads use BLAS.
  ///
  /// - Parameter log2Cycles: log2 of the spin in cycles (OpenBLAS clamps it to 4...30).
  /// - Returns: whether the spin was changed.
  @discardableResult
  public static func shorten(toLog2Cycles log2Cycles: Int = defaultLog2Cycles) -> Bool {
    guard getenv(environmentName) == nil,
      let readEnvironment = function("openblas_read_env", as: Call.self),
      let shutDown = function("blas_thread_shutdown_", as: Status.self),
      let start = function("blas_thread_init", as: Status.self)
    else { return false }
    setenv(environmentName, String(log2Cycles), 0)
    // OpenBLAS reads its variables once, when loaded: read them again (the others are
    // unchanged), then stop the threads and start them anew, as after a fork; they read the
    // spin when they start.
    readEnvironment()
    _ = shutDown()
    _ = start()
    return true
  }

  private typealias Call = @convention(c) () -> Void
  private typealias Status = @convention(c) () -> Int32
  private typealias ReadTimeout = @convention(c) () -> UInt32

  /// A C function of the loaded libraries by name, or `nil`.
  private static func function<F>(_ name: String, as type: F.Type) -> F? {
    guard let address = dlsym(nil, name) else { return nil }
    return unsafeBitCast(address, to: type)
  }
}
