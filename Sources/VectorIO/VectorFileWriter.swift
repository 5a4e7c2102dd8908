import Plumbing
import VectorMath

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Writes vectors to a `.vec`, `.fvecs`, `.ivecs` or `.npy` file, streaming.
///
/// The data goes to a temporary file beside `path` that replaces `path` only in ``finish()``, so
/// a failed or interrupted write never leaves a half-written file behind.
public final class VectorFileWriter {
  /// The destination path.
  public let path: String
  /// The format written.
  public let format: VectorFileFormat
  /// The number of values per vector.
  public let dimension: Int
  /// The `.npy` element type (ignored for other formats).
  public let npyElementType: NpyElementType
  /// The number of vectors written so far.
  public private(set) var rowsWritten = 0

  private let temporaryPath: String
  private var descriptor: Int32
  private var pending: [UInt8] = []
  private static let headerBytes = 128
  private static let flushBytes = 1 << 20

  /// Creates the writer and its temporary file.
  ///
  /// - Parameters:
  ///   - path: the file to produce; its extension chooses the format.
  ///   - dimension: values per vector.
  ///   - npyElementType: for `.npy`, the element type to write (integers must be whole).
  /// - Throws: ``VectorIOError`` for an unsupported extension or when the file cannot be created.
  public init(path: String, dimension: Int, npyElementType: NpyElementType = .float32)
    throws(VectorIOError)
  {
    guard let format = VectorFileFormat(path: path), format != .bvecs, format != .hdf5 else {
      throw VectorIOError(
        path: path, "cannot write this extension; expected .vec, .fvecs, .ivecs or .npy")
    }
    guard dimension > 0 else {
      throw VectorIOError(path: path, "cannot write vectors of dimension \(dimension)")
    }
    self.path = path
    self.format = format
    self.dimension = dimension
    self.npyElementType = npyElementType
    temporaryPath = path + ".partial-\(getpid())"
    descriptor = open(temporaryPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard descriptor >= 0 else {
      throw VectorIOError(path: path, "cannot create: \(String(cString: strerror(errno)))")
    }
    if format == .npy { pending = Array(repeating: 0, count: Self.headerBytes) }
  }

  deinit {
    if descriptor >= 0 {
      close(descriptor)
      unlink(temporaryPath)
    }
  }

  /// Appends vectors.
  ///
  /// - Parameter values: `rows × dimension` values, row after row.
  /// - Throws: ``VectorIOError`` when the count is not a whole number of rows, an integer format
  ///   receives a fractional or out-of-range value, or the disk write fails.
  public func write(_ values: UnsafeBufferPointer<Float>) throws(VectorIOError) {
    guard descriptor >= 0 else { throw VectorIOError(path: path, "write after finish()") }
    guard values.count % dimension == 0 else {
      throw VectorIOError(
        path: path, "received \(values.count) values, not a whole number of \(dimension)-value rows"
      )
    }
    let rows = values.count / dimension
    for row in 0..<rows {
      let slice = UnsafeBufferPointer(rebasing: values[(row * dimension)..<((row + 1) * dimension)])
      try encode(row: slice, index: rowsWritten)
      rowsWritten += 1
      if pending.count >= Self.flushBytes { try flush() }
    }
  }

  /// Appends vectors from an array.
  ///
  /// - Parameter values: `rows × dimension` values, row after row.
  /// - Throws: as ``write(_:)-(UnsafeBufferPointer<Float>)``.
  public func write(_ values: [Float]) throws(VectorIOError) {
    var failure: VectorIOError?
    values.withUnsafeBufferPointer { buffer in
      do throws(VectorIOError) { try write(buffer) } catch { failure = error }
    }
    if let failure { throw failure }
  }

  /// Completes the file (writing the `.npy` header's row count) and moves it into place.
  ///
  /// - Throws: ``VectorIOError`` when nothing was written (an empty vector file cannot be read
  ///   back) or the disk write fails.
  public func finish() throws(VectorIOError) {
    guard descriptor >= 0 else { return }
    guard rowsWritten > 0 else {
      throw VectorIOError(path: path, "no vectors were written; refusing to create an empty file")
    }
    try flush()
    if format == .npy {
      let header = NpyHeader.encode(
        elementType: npyElementType, rows: rowsWritten, dimension: dimension,
        totalBytes: Self.headerBytes)
      let written = header.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
      guard written == header.count else { throw systemError("write the header") }
    }
    close(descriptor)
    descriptor = -1
    guard rename(temporaryPath, path) == 0 else {
      let error = systemError("move into place")
      unlink(temporaryPath)
      throw error
    }
  }

  private func systemError(_ action: String) -> VectorIOError {
    VectorIOError(path: path, "cannot \(action): \(String(cString: strerror(errno)))")
  }

  private func flush() throws(VectorIOError) {
    if let failure = pending.withUnsafeBytes({ DescriptorWriting.writeAll($0, to: descriptor) }) {
      throw VectorIOError(path: path, "cannot write: \(DescriptorWriting.message(failure))")
    }
    pending.removeAll(keepingCapacity: true)
  }

  private func encode(row: UnsafeBufferPointer<Float>, index: Int) throws(VectorIOError) {
    switch format {
    case .text:
      for (column, value) in row.enumerated() {
        if column > 0 { pending.append(UInt8(ascii: " ")) }
        pending.append(contentsOf: value.description.utf8)
      }
      pending.append(UInt8(ascii: "\n"))
    case .fvecs:
      appendLittleEndian(UInt32(bitPattern: Int32(dimension)))
      for value in row { appendLittleEndian(value.bitPattern) }
    case .ivecs:
      appendLittleEndian(UInt32(bitPattern: Int32(dimension)))
      for (column, value) in row.enumerated() {
        appendLittleEndian(
          UInt32(bitPattern: try integer(value, column: column, row: index, as: Int32.self)))
      }
    case .npy:
      switch npyElementType {
      case .float16: for value in row { appendLittleEndian(Float16(value).bitPattern) }
      case .float32: for value in row { appendLittleEndian(value.bitPattern) }
      case .float64: for value in row { appendLittleEndian(Double(value).bitPattern) }
      case .int32:
        for (column, value) in row.enumerated() {
          appendLittleEndian(
            UInt32(bitPattern: try integer(value, column: column, row: index, as: Int32.self)))
        }
      case .int64:
        for (column, value) in row.enumerated() {
          appendLittleEndian(
            UInt64(bitPattern: try integer(value, column: column, row: index, as: Int64.self)))
        }
      }
    case .bvecs, .hdf5:
      preconditionFailure("rejected in init")
    }
  }

  private func integer<I: FixedWidthInteger>(
    _ value: Float, column: Int, row: Int, as type: I.Type
  ) throws(VectorIOError) -> I {
    guard let exact = I(exactly: value) else {
      throw VectorIOError(
        path: path, location: format == .npy ? .row(row) : .record(row),
        "value \(column) is \(value); an integer format needs whole numbers in range")
    }
    return exact
  }

  @inline(__always)
  private func appendLittleEndian<I: FixedWidthInteger>(_ value: I) {
    withUnsafeBytes(of: value.littleEndian) { pending.append(contentsOf: $0) }
  }
}
