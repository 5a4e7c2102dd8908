import Plumbing
import VectorMath

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Decodes `.vec` text: one vector per line, values separated by whitespace and/or a single comma.
/// Blank lines and lines starting with `#` are skipped; every other line must be a vector.
struct TextDecoder: RowDecoder {
  private let source: FileByteSource
  private(set) var dimension: Int
  let rowCount: Int? = nil
  private var lineNumber = 0
  private var firstLine = 0
  /// The first row, read while finding the dimension and not yet handed out.
  private var pendingRow: [Float]?
  private(set) var lastBatchLines: [Int] = []

  init(source: FileByteSource) throws(VectorIOError) {
    self.source = source
    guard source.sizeBytes > 0 else {
      throw VectorIOError(path: source.path, "the file is empty; expected one vector per line")
    }
    var first: [Float] = []
    dimension = 0
    guard try readRow(into: &first, expectedDimension: nil) else {
      throw VectorIOError(
        path: source.path,
        "holds no vectors (only blank or # comment lines); expected one vector per line")
    }
    dimension = first.count
    firstLine = lineNumber
    pendingRow = first
  }

  mutating func decode(maxRows: Int, into values: inout [Float]) throws(VectorIOError) -> Int {
    var decoded = 0
    lastBatchLines.removeAll(keepingCapacity: true)
    if let pending = pendingRow, maxRows > 0 {
      values.append(contentsOf: pending)
      pendingRow = nil
      decoded = 1
      lastBatchLines.append(firstLine)
    }
    while decoded < maxRows {
      guard try readRow(into: &values, expectedDimension: dimension) else { break }
      decoded += 1
      lastBatchLines.append(lineNumber)
    }
    return decoded
  }

  /// Reads lines until one holds a vector and appends its values.
  ///
  /// - Returns: `false` at the end of the file.
  private mutating func readRow(into values: inout [Float], expectedDimension: Int?)
    throws(VectorIOError) -> Bool
  {
    while true {
      guard let length = try bufferNextLine() else { return false }
      lineNumber += 1
      let line = UnsafeRawBufferPointer(rebasing: source.bufferedBytes[0..<length])
      let start = values.count
      let isVector: Bool
      do throws(VectorIOError) {
        isVector = try parse(line: line, into: &values)
      } catch {
        values.removeSubrange(start...)
        throw error
      }
      source.consume(min(length + 1, source.available))
      guard isVector else { continue }
      let count = values.count - start
      if let expectedDimension, count != expectedDimension {
        values.removeSubrange(start...)
        throw VectorIOError(
          path: source.path, location: .line(lineNumber),
          "has \(count) values; expected \(expectedDimension) as on line \(firstLine)")
      }
      return true
    }
  }

  /// Makes sure a whole line is buffered.
  ///
  /// - Returns: the line's length without its newline, or `nil` at the end of the file.
  private func bufferNextLine() throws(VectorIOError) -> Int? {
    var searched = 0
    while true {
      let bytes = source.bufferedBytes
      if bytes.count > searched,
        let unsearched = UnsafeRawBufferPointer(rebasing: bytes[searched...]).baseAddress,
        let found = memchr(unsearched, 0x0A, bytes.count - searched)
      {
        return Int(bitPattern: found) - Int(bitPattern: bytes.baseAddress)
      }
      searched = bytes.count
      if !(try source.fill(atLeast: bytes.count + 1)) {
        return source.available > 0 ? source.available : nil
      }
    }
  }

  /// Parses one line's values.
  ///
  /// - Returns: `false` for a blank or comment line.
  private func parse(line: UnsafeRawBufferPointer, into values: inout [Float]) throws(VectorIOError)
    -> Bool
  {
    let location = FileLocation.line(lineNumber)
    let path = source.path
    var index = 0
    let count = line.count
    @inline(__always) func isSpace(_ byte: UInt8) -> Bool {
      byte == 0x20 || byte == 0x09 || byte == 0x0D || byte == 0x0B || byte == 0x0C
    }
    while index < count && isSpace(line[index]) { index += 1 }
    if index == count || line[index] == UInt8(ascii: "#") { return false }
    var column = 0
    var commaPending = false
    while index < count {
      let byte = line[index]
      if byte == 0x0D, line[(index + 1)...].contains(where: { !isSpace($0) }) {
        throw VectorIOError(
          path: path, location: location,
          "has a carriage return inside the line after \(column) values (old Mac line endings?); expected lines ending in \\n or \\r\\n"
        )
      }
      if isSpace(byte) {
        index += 1
        continue
      }
      if byte == UInt8(ascii: ",") {
        if column == 0 || commaPending {
          throw VectorIOError(
            path: path, location: location,
            column == 0
              ? "starts with a comma; expected a number first"
              : "has an empty value between commas after value \(column - 1)")
        }
        commaPending = true
        index += 1
        continue
      }
      var end = index
      while end < count && !isSpace(line[end]) && line[end] != UInt8(ascii: ",") { end += 1 }
      let token = UnsafeRawBufferPointer(rebasing: line[index..<end])
      guard let value = parseFloat(token) else {
        let text = String(decoding: token.prefix(40), as: UTF8.self)
        throw VectorIOError(
          path: path, location: location, "value \(column) is '\(text)'; expected a number")
      }
      guard value.isFinite else {
        throw VectorIOError(
          path: path, location: location,
          "value \(column) is \(String(decoding: token.prefix(40), as: UTF8.self)); vectors must hold finite numbers only"
        )
      }
      guard column < VectorLimits.maximumDimension else {
        throw VectorIOError(
          path: path, location: location,
          "has more than \(VectorLimits.maximumDimension) values; at most \(VectorLimits.maximumDimension) values per vector are supported"
        )
      }
      values.append(value)
      column += 1
      commaPending = false
      index = end
    }
    if commaPending {
      throw VectorIOError(
        path: path, location: location, "ends with a comma; expected another number after it")
    }
    return true
  }
}

/// Parses a whole token as a `Float` (decimal or hexadecimal, as `strtof` reads them).
///
/// - Returns: the value (infinite when out of range), or `nil` when the token is not a number.
func parseFloat(_ token: UnsafeRawBufferPointer) -> Float? {
  guard !token.isEmpty && token.count < 64 else { return nil }
  return withUnsafeTemporaryAllocation(of: CChar.self, capacity: 64) { buffer -> Float? in
    UnsafeMutableRawBufferPointer(buffer).copyMemory(from: token)
    buffer[token.count] = 0
    guard let start = buffer.baseAddress else { return nil }
    var end: UnsafeMutablePointer<CChar>?
    let value = strtof(start, &end)
    guard let end, end == start + token.count else { return nil }
    // strtof also reads "nan" and "inf"; the caller reports those as non-finite.
    return value
  }
}
