import Glibc
import VectorMath

/// Start-up under an address-space limit (`ulimit -v`).
///
/// OpenBLAS starts one thread per core when it is loaded, before `main`, and each of them may
/// need a 128 MiB work buffer; under a tight limit one of them retries its allocation forever
/// and the process never exits. So when the process has such a limit and the user has not
/// chosen `OPENBLAS_NUM_THREADS`, the tool starts itself again with OpenBLAS on one thread
/// (``BLASBuffers`` then admits BLAS calls only as buffers can be had). glibc's `malloc` is
/// also kept to one arena: each new thread's arena reserves 128 MiB, and under a tight limit
/// every allocation of a new thread would try, fail and fall back again (measured: `index` on
/// 20k × 32 under `ulimit -v 400000` took 3.1 s instead of 0.4, 2.4 s of it in mmap calls).
enum AddressSpaceLimit {
  /// Re-executes the tool with `OPENBLAS_NUM_THREADS=1` and `MALLOC_ARENA_MAX=1` when the
  /// address space is limited;
  /// returns when there is nothing to do (or the re-execution failed, which leaves things as
  /// they were).
  static func prepare() {
    guard BLASBuffers.isLimited else { return }
    // Both are read when the libraries load, so they take effect in a new image; a value the
    // user chose is kept (and once both are set, nothing is re-executed).
    var changed = false
    for (name, value) in [("OPENBLAS_NUM_THREADS", "1"), ("MALLOC_ARENA_MAX", "1")]
    where getenv(name) == nil {
      setenv(name, value, 1)
      changed = true
    }
    if changed { execv("/proc/self/exe", CommandLine.unsafeArgv) }
    BLASBuffers.reserveAtStart()
  }
}
