#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Writing whole buffers to file descriptors, the one place that handles short writes and `EINTR`.
public enum DescriptorWriting {
  /// Writes every byte of `bytes` to `descriptor`.
  ///
  /// - Parameters:
  ///   - bytes: what to write.
  ///   - descriptor: an open file descriptor.
  /// - Returns: `nil` on success, or the `errno` of the failed write.
  @discardableResult
  public static func writeAll(_ bytes: UnsafeRawBufferPointer, to descriptor: Int32) -> Int32? {
    var offset = 0
    while offset < bytes.count {
      let rest = UnsafeRawBufferPointer(rebasing: bytes[offset...])
      let written = write(descriptor, rest.baseAddress, rest.count)
      if written < 0 {
        if errno == EINTR { continue }
        return errno
      }
      offset += written
    }
    return nil
  }

  /// The system's message for an `errno` value.
  ///
  /// - Parameter code: an `errno` value.
  /// - Returns: `strerror`'s text.
  public static func message(_ code: Int32) -> String {
    String(cString: strerror(code))
  }
}
