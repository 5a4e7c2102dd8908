import Plumbing

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

  /// Writes bytes unbuffered.
  ///
  /// - Parameter bytes: the bytes.
  public func write(_ bytes: UnsafeRawBufferPointer) {
    // A failure (a closed pipe) leaves nothing more to say, so it is ignored.
    DescriptorWriting.writeAll(bytes, to: rawValue)
  }

  /// Whether the stream is a terminal.
  public var isTerminal: Bool { isatty(rawValue) == 1 }
}
