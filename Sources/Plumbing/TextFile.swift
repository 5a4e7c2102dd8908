#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Writing small text files whole, atomically (a temporary file renamed into place).
public enum TextFile {
  /// Writes `text` to `path`, replacing it atomically.
  ///
  /// - Parameters:
  ///   - text: the content.
  ///   - path: the destination.
  /// - Throws: ``FileSystemError`` when the file cannot be written.
  public static func write(_ text: String, to path: String) throws(FileSystemError) {
    let temporary = path + ".partial-\(getpid())"
    let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard descriptor >= 0 else {
      throw FileSystemError(path: path, "cannot create: \(String(cString: strerror(errno)))")
    }
    var copy = text
    let failure = copy.withUTF8 {
      DescriptorWriting.writeAll(UnsafeRawBufferPointer($0), to: descriptor)
    }
    close(descriptor)
    if failure == nil && rename(temporary, path) == 0 { return }
    let reason = DescriptorWriting.message(failure ?? errno)
    unlink(temporary)
    throw FileSystemError(path: path, "cannot write: \(reason)")
  }
}
