import Plumbing
import Synchronization

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Reports progress of long work on one self-overwriting stderr line.
///
/// Silent when asked to be quiet or when stderr is not a terminal, so logs and pipes stay clean.
public final class Progress: Sendable {
  /// Whether anything is shown.
  public let isEnabled: Bool
  /// What the status line last showed; workers may report at once, so it sits behind a lock.
  private struct Line {
    var lastUpdate: Double = 0
    var length = 0
  }
  private let status = Mutex(Line())
  private let start = Progress.now()

  /// Creates a reporter.
  ///
  /// - Parameter quiet: suppress all output.
  public init(quiet: Bool) {
    isEnabled = !quiet && StandardStream.error.isTerminal
  }

  /// Seconds since the reporter was created.
  public var elapsedSeconds: Double { Progress.now() - start }

  /// Shows `message`, at most ten times a second unless `force`.
  ///
  /// - Parameters:
  ///   - message: one line of status.
  ///   - force: show it even if the last update was very recent.
  public func update(_ message: @autoclosure () -> String, force: Bool = false) {
    guard isEnabled else { return }
    let now = Progress.now()
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
  public func finish() {
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
  public func line(_ message: String) {
    guard isEnabled else { return }
    finish()
    StandardStream.error.write(message + "\n")
  }

  /// Prints a warning line on stderr (always, even when quiet: warnings are not progress).
  ///
  /// - Parameter message: the warning.
  public func warn(_ message: String) {
    finish()
    StandardStream.error.write("warning: \(message)\n")
  }

  /// Seconds on a monotonic clock (`ContinuousClock`) since the first call, for timing spans.
  static func now() -> Double {
    clockStart.duration(to: ContinuousClock.now).inSeconds
  }

  private static let clockStart = ContinuousClock.now
}
