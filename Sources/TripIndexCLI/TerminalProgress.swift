import Plumbing
import Synchronization
import TripIndex

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Reports progress of long work on one self-overwriting stderr line: the command-line tool's
/// ``ProgressReporting``.
///
/// Silent when asked to be quiet or when stderr is not a terminal, so logs and pipes stay clean;
/// warnings are written in any case.
final class TerminalProgress: ProgressReporting {
  /// Whether the status line is shown.
  let isEnabled: Bool
  /// What the status line last showed; workers may report at once, so it sits behind a lock.
  private struct Line {
    var lastUpdate: Double = 0
    var length = 0
  }
  private let status = Mutex(Line())

  /// Creates a reporter.
  ///
  /// - Parameter quiet: suppress all output.
  init(quiet: Bool) {
    isEnabled = !quiet && StandardStream.error.isTerminal
  }

  /// Shows `message`, at most ten times a second unless `force`.
  ///
  /// - Parameters:
  ///   - message: one line of status.
  ///   - force: show it even if the last update was very recent.
  func update(_ message: @autoclosure () -> String, force: Bool) {
    guard isEnabled else { return }
    let now = MonotonicClock.now()
    status.withLock { line in
      guard force || now - line.lastUpdate >= 0.1 else { return }
      line.lastUpdate = now
      let text = message()
      let padding = String(repeating: " ", count: max(0, line.length - text.count))
      line.length = text.count
      StandardStream.error.write("\r" + text + padding)
    }
  }

  /// Clears the status line.
  func finish() {
    guard isEnabled else { return }
    status.withLock { line in
      guard line.length > 0 else { return }
      StandardStream.error.write("\r" + String(repeating: " ", count: line.length) + "\r")
      line.length = 0
    }
  }

  /// Prints a finished status line on stderr (one that stays), when progress is shown.
  ///
  /// - Parameter message: the line.
  func line(_ message: String) {
    guard isEnabled else { return }
    finish()
    StandardStream.error.write(message + "\n")
  }

  /// Prints a warning line on stderr (always, even when quiet: warnings are not progress).
  ///
  /// - Parameter message: the warning.
  func warn(_ message: UserText) {
    finish()
    StandardStream.error.write("warning: \(message.worded(ErrorAdvice.wording))\n")
  }

  /// Writes `text` to stderr (after clearing the status line), quiet or not.
  func log(_ text: String) {
    finish()
    StandardStream.error.write(text)
  }
}
