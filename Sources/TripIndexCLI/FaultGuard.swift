#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The last line of defence around LMDB's memory map (and the HDF5 library, which trusts the
/// files it reads): a store's pages are read in place, and
/// a page damaged so that it points outside the file (or a file cut short after it was opened,
/// or a full disk under a mapping) faults instead of returning an error. tripindex checks what
/// it can before it reads (file length against the meta page, value sizes, checksums in
/// `check`), and this guard turns any fault that still happens into an error message and exit
/// status 1, instead of a signal and a core dump.
enum FaultGuard {
  /// The message, prepared before any fault (a signal handler may not allocate).
  nonisolated(unsafe) private static var message: UnsafeMutablePointer<CChar>?

  /// Installs the handlers for `SIGBUS` and `SIGSEGV`.
  static func install() {
    message = strdup(
      "Error: tripindex stopped on a memory fault while reading a store's memory map (usually a damaged or truncated data.mdb, or a full disk; `tripindex check --store DIR` says what is damaged) or an HDF5 input through the HDF5 library (a damaged file); if neither is damaged, this is a bug: please report it\n"
    )
    var action = sigaction()
    action.__sigaction_handler.sa_handler = { _ in
      if let message = FaultGuard.message { _ = write(2, message, strlen(message)) }
      _exit(1)
    }
    sigemptyset(&action.sa_mask)
    action.sa_flags = 0
    sigaction(SIGBUS, &action, nil)
    sigaction(SIGSEGV, &action, nil)
  }
}
