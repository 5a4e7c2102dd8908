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
/// has an address-space limit, every BLAS and LAPACK call goes through ``withBuffer(_:)``: a
/// call that would need one more buffer than have been used so far first checks (by reserving
/// and releasing the room) that one can still be had; when it cannot, the call waits for a
/// running call to give its buffer back, and when none is running, ``outOfAddressSpace`` is
/// called with a message (the default handler prints it and exits with status 1).
public enum BLASBuffers {
  /// The room a new buffer needs: OpenBLAS's buffer and its `malloc` overhead, with margin.
  public static let bufferBytes = (128 + 8) << 20

  /// Whether the process has an address-space limit (read once).
  public static let isLimited: Bool = {
    var limit = rlimit()
    return getrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &limit) == 0
      && limit.rlim_cur != rlim_t.max
  }()

  /// The address-space limit in bytes, or `nil` when there is none.
  public static var limitBytes: Int? {
    var limit = rlimit()
    guard getrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &limit) == 0,
      limit.rlim_cur != rlim_t.max
    else { return nil }
    return Int(clamping: limit.rlim_cur)
  }

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

  private static let counts = Mutex<(running: Int, buffers: Int, full: Bool)>((0, 0, false))

  /// Runs one BLAS or LAPACK call, making sure a buffer can be had for it first when the
  /// address space is limited.
  ///
  /// - Parameter call: the call.
  /// - Returns: what it returns.
  @inline(__always)
  public static func withBuffer<R>(_ call: () -> R) -> R {
    guard isLimited else { return call() }
    acquire()
    defer { counts.withLock { $0.running -= 1 } }
    return call()
  }

  private static func acquire() {
    while true {
      let outcome: Bool? = counts.withLock { counts in
        if counts.running < counts.buffers {
          counts.running += 1
          return true
        }
        if counts.full { return false }
        // One more buffer than ever before: is there room for it?
        let probe = mmap(
          nil, bufferBytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        if probe != MAP_FAILED {
          munmap(probe, bufferBytes)
          counts.buffers += 1
          counts.running += 1
          return true
        }
        guard counts.running > 0 else { return nil }
        counts.full = true
        return false
      }
      switch outcome {
      case true?: return
      case false?: usleep(200)  // wait for a running call to give its buffer back
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
