import Plumbing

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Accumulates output text and writes it to a stream in large chunks.
public struct OutputBuffer {
  private var bytes: [UInt8] = []
  private let stream: StandardStream?
  private let flushBytes: Int

  /// Creates a buffer that writes to `stream` (nil keeps everything in memory).
  ///
  /// - Parameters:
  ///   - stream: where to write.
  ///   - flushBytes: write once this much has accumulated.
  public init(stream: StandardStream?, flushBytes: Int = 1 << 20) {
    self.stream = stream
    self.flushBytes = flushBytes
    bytes.reserveCapacity(stream == nil ? 256 : flushBytes + 4096)
  }

  /// Appends text.
  ///
  /// - Parameter text: the text.
  public mutating func write(_ text: String) {
    bytes.append(contentsOf: text.utf8)
    if stream != nil && bytes.count >= flushBytes { flush() }
  }

  /// Appends an integer in decimal, digit by digit (no string made for it).
  ///
  /// - Parameter value: the integer.
  public mutating func write(_ value: some BinaryInteger) {
    if value < 0 { bytes.append(UInt8(ascii: "-")) }
    // The magnitude's digits, least significant first, then reversed in place.
    var rest = value.magnitude
    let start = bytes.count
    repeat {
      let (quotient, digit) = rest.quotientAndRemainder(dividingBy: 10)
      bytes.append(UInt8(ascii: "0") + UInt8(truncatingIfNeeded: digit))
      rest = quotient
    } while rest != 0
    bytes[start...].reverse()
  }

  /// Appends an integer in decimal, or `null` for none (JSON).
  ///
  /// - Parameter value: the integer, or `nil`.
  public mutating func write(optional value: (some BinaryInteger)?) {
    if let value { write(value) } else { write("null") }
  }

  /// Appends text as a JSON string literal, quotes included.
  ///
  /// - Parameter text: the string to encode.
  public mutating func writeJSONString(_ text: String) {
    JSONValue.appendString(text, to: &bytes)
  }

  /// Writes a number as JSON (as `description` spells it: `765.0`, `1e-05`): `null` when it
  /// is not finite (JSON has no infinity or NaN).
  ///
  /// - Parameter value: the number.
  public mutating func writeJSONNumber(_ value: Float) {
    write(value.isFinite ? value.description : "null")
  }

  /// The text accumulated and not yet written.
  public var text: String { String(decoding: bytes, as: UTF8.self) }

  /// Writes everything accumulated to the stream.
  public mutating func flush() {
    guard let stream, !bytes.isEmpty else { return }
    bytes.withUnsafeBytes { stream.write($0) }
    bytes.removeAll(keepingCapacity: true)
  }
}
