#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Small files read whole, and text files written whole, atomically (a temporary file renamed
/// into place).
public enum TextFile {
  /// Every byte of a file, read until its end (so `/proc` files, whose size says 0, read too).
  ///
  /// - Parameter path: the file.
  /// - Returns: its bytes.
  /// - Throws: ``FileSystemError`` with `cannot open: REASON` or `read failed: REASON`.
  public static func contents(of path: String) throws(FileSystemError) -> [UInt8] {
    let descriptor = open(path, O_RDONLY)
    guard descriptor >= 0 else {
      throw FileSystemError(path: path, "cannot open: \(DescriptorWriting.message(errno))")
    }
    defer { close(descriptor) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
      let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
      if count < 0 {
        if errno == EINTR { continue }
        throw FileSystemError(path: path, "read failed: \(DescriptorWriting.message(errno))")
      }
      if count == 0 { return bytes }
      bytes += chunk[0..<count]
    }
  }

  /// Writes `text` to `path`, replacing it atomically.
  ///
  /// - Parameters:
  ///   - text: the content.
  ///   - path: the destination.
  /// - Throws: ``FileSystemError`` when the file cannot be written.
  public static func write(_ text: String, to path: String) throws(FileSystemError) {
    var copy = text
    try replace(path) { descriptor in
      copy.withUTF8 { DescriptorWriting.writeAll(UnsafeRawBufferPointer($0), to: descriptor) }
    }
  }

  /// Writes `bytes` to `path`, replacing it atomically (pictures, copied files).
  ///
  /// - Parameters:
  ///   - bytes: the content.
  ///   - path: the destination.
  /// - Throws: ``FileSystemError`` when the file cannot be written.
  public static func write(bytes: [UInt8], to path: String) throws(FileSystemError) {
    try replace(path) { descriptor in
      bytes.withUnsafeBytes { DescriptorWriting.writeAll($0, to: descriptor) }
    }
  }

  /// Writes through `body` into a temporary file renamed over `path`.
  private static func replace(_ path: String, _ body: (Int32) -> Int32?) throws(FileSystemError) {
    let temporary = path + ".partial-\(getpid())"
    let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard descriptor >= 0 else {
      throw FileSystemError(path: path, "cannot create: \(String(cString: strerror(errno)))")
    }
    let failure = body(descriptor)
    close(descriptor)
    if failure == nil && rename(temporary, path) == 0 { return }
    let reason = DescriptorWriting.message(failure ?? errno)
    unlink(temporary)
    throw FileSystemError(path: path, "cannot write: \(reason)")
  }
}
