import Plumbing
import Synchronization

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The process's standard output and error, written through their file descriptors.
public enum StandardStream: Int32, Sendable {
  /// Standard output (results).
  case output = 1
  /// Standard error (progress, warnings, errors).
  case error = 2

  /// Writes text unbuffered.
  ///
  /// - Parameter text: the text.
  public func write(_ text: String) {
    var copy = text
    copy.withUTF8 { write(UnsafeRawBufferPointer($0)) }
  }

  /// Writes bytes unbuffered. A failed write to standard output is remembered (see
  /// ``outputFailure``) and nothing more is written there; one to standard error is ignored
  /// (there is nowhere left to say it).
  ///
  /// - Parameter bytes: the bytes.
  public func write(_ bytes: UnsafeRawBufferPointer) {
    guard self == .error || Self.failedOutput.load(ordering: .relaxed) == 0 else { return }
    if let code = DescriptorWriting.writeAll(bytes, to: rawValue), self == .output {
      _ = Self.failedOutput.compareExchange(
        expected: 0, desired: code, ordering: .relaxed)
    }
  }

  private static let failedOutput = Atomic<Int32>(0)

  /// The `errno` of the first failed write to standard output (`EPIPE` when the reader closed
  /// the pipe, `ENOSPC` on a full disk), or `nil` when every write succeeded: a front end
  /// checks it before it reports success.
  public static var outputFailure: Int32? {
    let code = failedOutput.load(ordering: .relaxed)
    return code == 0 ? nil : code
  }

  /// Whether the stream is a terminal.
  public var isTerminal: Bool { isatty(rawValue) == 1 }
}
