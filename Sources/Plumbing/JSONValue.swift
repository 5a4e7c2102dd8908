/// A JSON document, built in code and serialised without Foundation.
///
/// Object keys keep the order they were given in, so output is stable and readable.
public indirect enum JSONValue: Sendable, Equatable {
  /// `null`
  case null
  /// `true` or `false`
  case bool(Bool)
  /// An integer.
  case integer(Int)
  /// A number; non-finite values are written as `null`, which JSON requires.
  case number(Double)
  /// A string.
  case string(String)
  /// An array.
  case array([JSONValue])
  /// An object, keys in order.
  case object([(String, JSONValue)])

  /// Compares two values (objects by their ordered keys).
  public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
    lhs.serialized() == rhs.serialized()
  }

  /// The JSON text.
  ///
  /// - Parameter indent: spaces per level for pretty output; `nil` for one line.
  /// - Returns: the serialised value.
  public func serialized(indent: Int? = nil) -> String {
    var bytes: [UInt8] = []
    write(into: &bytes, indent: indent, level: 0)
    return String(decoding: bytes, as: UTF8.self)
  }

  private func write(into bytes: inout [UInt8], indent: Int?, level: Int) {
    func newline(_ level: Int) {
      guard let indent else { return }
      bytes.append(0x0A)
      bytes.append(contentsOf: repeatElement(0x20, count: indent * level))
    }
    switch self {
    case .null: bytes.append(contentsOf: "null".utf8)
    case .bool(let value): bytes.append(contentsOf: (value ? "true" : "false").utf8)
    case .integer(let value): bytes.append(contentsOf: String(value).utf8)
    case .number(let value):
      bytes.append(contentsOf: (value.isFinite ? String(value) : "null").utf8)
    case .string(let value): JSONValue.appendString(value, to: &bytes)
    case .array(let values):
      bytes.append(UInt8(ascii: "["))
      for (index, value) in values.enumerated() {
        if index > 0 { bytes.append(contentsOf: indent == nil ? ", ".utf8 : ",".utf8) }
        newline(level + 1)
        value.write(into: &bytes, indent: indent, level: level + 1)
      }
      if !values.isEmpty { newline(level) }
      bytes.append(UInt8(ascii: "]"))
    case .object(let members):
      bytes.append(UInt8(ascii: "{"))
      for (index, (key, value)) in members.enumerated() {
        if index > 0 { bytes.append(contentsOf: indent == nil ? ", ".utf8 : ",".utf8) }
        newline(level + 1)
        JSONValue.appendString(key, to: &bytes)
        bytes.append(contentsOf: ": ".utf8)
        value.write(into: &bytes, indent: indent, level: level + 1)
      }
      if !members.isEmpty { newline(level) }
      bytes.append(UInt8(ascii: "}"))
    }
  }

  /// Appends `text` as a JSON string literal, quotes included, escaping what JSON requires.
  ///
  /// - Parameters:
  ///   - text: the string.
  ///   - bytes: the output.
  public static func appendString(_ text: String, to bytes: inout [UInt8]) {
    bytes.append(UInt8(ascii: "\""))
    // Most strings (item names) need no escape: copied at once.
    if !text.utf8.contains(where: {
      $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\")
    }) {
      bytes.append(contentsOf: text.utf8)
      bytes.append(UInt8(ascii: "\""))
      return
    }
    for byte in text.utf8 {
      switch byte {
      case UInt8(ascii: "\""): bytes.append(contentsOf: [0x5C, 0x22])
      case UInt8(ascii: "\\"): bytes.append(contentsOf: [0x5C, 0x5C])
      case 0x0A: bytes.append(contentsOf: [0x5C, UInt8(ascii: "n")])
      case 0x0D: bytes.append(contentsOf: [0x5C, UInt8(ascii: "r")])
      case 0x09: bytes.append(contentsOf: [0x5C, UInt8(ascii: "t")])
      case 0..<0x20:
        let hex = Array("0123456789abcdef".utf8)
        bytes.append(contentsOf: Array("\\u00".utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 15)]])
      default: bytes.append(byte)
      }
    }
    bytes.append(UInt8(ascii: "\""))
  }
}
