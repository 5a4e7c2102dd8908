import Plumbing
import VectorMath

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A buffered, forward-only reader over a file descriptor. Memory use is the buffer, whatever the
/// file's size.
final class FileByteSource {
  let path: String
  private let descriptor: Int32
  /// The file's size in bytes when it was opened.
  let sizeBytes: Int
  private var buffer: UnsafeMutableRawBufferPointer
  private var start = 0
  private var end = 0
  private var reachedEnd = false
  /// Bytes consumed so far.
  private(set) var offset = 0

  init(path: String, bufferBytes: Int = 1 << 20) throws(VectorIOError) {
    self.path = path
    let descriptor = open(path, O_RDONLY)
    guard descriptor >= 0 else {
      throw VectorIOError(path: path, "cannot open: \(String(cString: strerror(errno)))")
    }
    var status = stat()
    guard fstat(descriptor, &status) == 0 else {
      let reason = String(cString: strerror(errno))
      close(descriptor)
      throw VectorIOError(path: path, "cannot read its size: \(reason)")
    }
    guard (status.st_mode & S_IFMT) == S_IFREG else {
      close(descriptor)
      throw VectorIOError(path: path, "is not a regular file")
    }
    self.descriptor = descriptor
    self.sizeBytes = Int(status.st_size)
    self.buffer = .allocate(byteCount: bufferBytes, alignment: 16)
  }

  deinit {
    buffer.deallocate()
    close(descriptor)
  }

  /// Bytes buffered and not yet consumed.
  var available: Int { end - start }

  /// Refills so that at least `count` bytes are buffered, if the file has them.
  ///
  /// - Returns: whether `count` bytes are now available.
  @discardableResult
  func fill(atLeast count: Int) throws(VectorIOError) -> Bool {
    if available >= count { return true }
    // Never grow past what the file can still hand out: a header announcing 4 GB in a small
    // file must not allocate 4 GB (the caller finds the file too short instead).
    let reachable = min(count, max(available, sizeBytes - offset))
    if reachable > buffer.count {
      let larger = UnsafeMutableRawBufferPointer.allocate(
        byteCount: max(reachable, min(buffer.count * 2, max(available, sizeBytes - offset))),
        alignment: 16)
      larger.copyMemory(from: bufferedBytes)
      buffer.deallocate()
      buffer = larger
      end = available
      start = 0
    } else if start > 0 {
      let pending = available
      // Regions may overlap: copyMemory is memmove.
      UnsafeMutableRawBufferPointer(rebasing: buffer[0..<pending]).copyMemory(from: bufferedBytes)
      start = 0
      end = pending
    }
    while available < count && !reachedEnd {
      let free = UnsafeMutableRawBufferPointer(rebasing: buffer[end...])
      let got = read(descriptor, free.baseAddress, free.count)
      if got < 0 {
        if errno == EINTR { continue }
        throw VectorIOError(path: path, "read failed: \(String(cString: strerror(errno)))")
      }
      if got == 0 { reachedEnd = true }
      end += got
    }
    return available >= count
  }

  /// The buffered, unconsumed bytes.
  var bufferedBytes: UnsafeRawBufferPointer {
    UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[start..<end])
  }

  /// Marks `count` buffered bytes as consumed.
  func consume(_ count: Int) {
    precondition(count <= available)
    start += count
    offset += count
  }

  /// Whether every byte of the file has been consumed.
  var isAtEnd: Bool {
    get throws(VectorIOError) {
      if available > 0 { return false }
      try fill(atLeast: 1)
      return available == 0
    }
  }
}
