import COpenBLAS
import Synchronization

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Keeps OpenBLAS from hanging when the address space is limited (`ulimit -v`).
///
/// OpenBLAS takes a work buffer (128 MiB in Debian's 0.3.21 on x86-64) for every call running
/// at once, and when `malloc` cannot give it one it retries forever. So, only when the process
/// has an address-space limit, every BLAS and LAPACK call goes through ``withBuffer(_:)``, which
/// lets one call run at a time: OpenBLAS then never needs more than one buffer.
/// ``reserveAtStart()`` makes OpenBLAS take that buffer while the process is still small (before
/// stores are mapped and data read), so that nothing can take its room between a check and
/// OpenBLAS's own allocation; when there is no room for it even then, the first BLAS call
/// calls ``outOfAddressSpace`` with a message (the default handler prints it and exits with
/// status 1). Without a limit, calls run as they come.
public enum BLASBuffers {
  /// The room a new buffer needs: OpenBLAS's buffer and its `malloc` overhead, with margin.
  public static let bufferBytes = (128 + 8) << 20

  /// The address-space limit in bytes, or `nil` when there is none.
  public static var limitBytes: Int? {
    var limit = rlimit()
    guard getrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &limit) == 0,
      limit.rlim_cur != rlim_t.max
    else { return nil }
    return Int(clamping: limit.rlim_cur)
  }

  /// Whether the process has an address-space limit (read once).
  public static let isLimited = limitBytes != nil

  /// What happens when not even one BLAS buffer fits: receives the message. The default writes
  /// it to standard error and exits with status 1 (OpenBLAS would otherwise hang); a front end
  /// may set its own (it must not return).
  public static let outOfAddressSpace = Mutex<@Sendable (String) -> Never>({ message in
    let line = "Error: \(message)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    exit(1)
  })

  /// Calls running, buffers known to exist, and whether the room for another was found
  /// wanting (then calls wait for a buffer instead of asking again).
  private static let reported = Atomic<Bool>(false)

  /// Calls running, and whether OpenBLAS has its buffer (then at most one call runs at once).
  private static let state = Mutex<(running: Int, hasBuffer: Bool)>((0, false))

  /// Under an address-space limit, has OpenBLAS take its one work buffer now, if there is room
  /// for it (call it first thing, on one thread); without a limit, does nothing.
  public static func reserveAtStart() {
    guard isLimited else { return }
    let probe = mmap(
      nil, bufferBytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
    guard probe != MAP_FAILED else { return }
    munmap(probe, bufferBytes)
    var a: Float = 1
    var b: Float = 1
    var c: Float = 0
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 1, 1, 1, 1, &a, 1, &b, 1, 0, &c, 1)
    state.withLock { $0.hasBuffer = true }
  }

  /// Runs one BLAS or LAPACK call; under an address-space limit, one at a time, and only when
  /// OpenBLAS has its buffer.
  ///
  /// - Parameter call: the call.
  /// - Returns: what it returns.
  @inline(__always)
  public static func withBuffer<R>(_ call: () -> R) -> R {
    guard isLimited else { return call() }
    acquire()
    defer { state.withLock { $0.running -= 1 } }
    return call()
  }

  private static func acquire() {
    while true {
      let outcome: Bool? = state.withLock { state in
        guard state.hasBuffer else { return nil }
        guard state.running == 0 else { return false }
        state.running = 1
        return true
      }
      switch outcome {
      case true?: return
      case false?: usleep(100)  // wait for the running call to give the buffer back
      case nil:
        // Said once: another worker that finds the same waits for the process to end.
        if reported.exchange(true, ordering: .relaxed) {
          while true { pause() }
        }
        let limit = (limitBytes ?? 0) >> 20
        outOfAddressSpace.withLock { $0 }(
          "the address-space limit (ulimit -v, \(limit) MiB) leaves no room for OpenBLAS's \(bufferBytes >> 20) MiB work buffer; raise the limit by at least that much"
        )
      }
    }
  }
}
