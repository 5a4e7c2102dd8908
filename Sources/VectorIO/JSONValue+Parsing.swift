extension JSONValue {
  /// A JSON syntax error with the byte offset where parsing stopped.
  public struct ParseError: Error, Sendable, CustomStringConvertible {
    /// The 0-based byte offset.
    public let offset: Int
    /// What was expected.
    public let message: String
    /// `message at byte N`.
    public var description: String { "\(message) at byte \(offset)" }
  }

  /// Parses JSON text (RFC 8259). Integers without a fraction or exponent become ``integer(_:)``.
  ///
  /// - Parameter text: the JSON text.
  /// - Returns: the value.
  /// - Throws: ``ParseError`` naming the byte offset.
  public static func parse(_ text: String) throws(ParseError) -> JSONValue {
    var parser = Parser(bytes: Array(text.utf8))
    let value = try parser.value(depth: 0)
    parser.skipSpaces()
    guard parser.position == parser.bytes.count else {
      throw parser.failure("unexpected text after the value")
    }
    return value
  }

  /// The member `key` of an object, or `nil`.
  public subscript(key: String) -> JSONValue? {
    guard case .object(let members) = self else { return nil }
    return members.first { $0.0 == key }?.1
  }

  /// The value as an integer (also from a whole-numbered ``number(_:)``), or `nil`.
  public var intValue: Int? {
    switch self {
    case .integer(let value): return value
    case .number(let value) where value == value.rounded() && abs(value) < 9e15: return Int(value)
    default: return nil
    }
  }

  /// The value as a number, or `nil`.
  public var doubleValue: Double? {
    switch self {
    case .integer(let value): return Double(value)
    case .number(let value): return value
    default: return nil
    }
  }

  /// The value as a string, or `nil`.
  public var stringValue: String? {
    if case .string(let value) = self { return value }
    return nil
  }

  /// The value as a Boolean, or `nil`.
  public var boolValue: Bool? {
    if case .bool(let value) = self { return value }
    return nil
  }

  /// The value's elements when it is an array, or `nil`.
  public var arrayValue: [JSONValue]? {
    if case .array(let values) = self { return values }
    return nil
  }

  private struct Parser {
    let bytes: [UInt8]
    var position = 0

    func failure(_ message: String) -> ParseError { ParseError(offset: position, message: message) }

    mutating func skipSpaces() {
      while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) {
        position += 1
      }
    }

    mutating func value(depth: Int) throws(ParseError) -> JSONValue {
      guard depth < 256 else { throw failure("nesting deeper than 256 levels") }
      skipSpaces()
      guard position < bytes.count else { throw failure("expected a value") }
      switch bytes[position] {
      case UInt8(ascii: "{"): return try object(depth: depth)
      case UInt8(ascii: "["): return try array(depth: depth)
      case UInt8(ascii: "\""): return .string(try string())
      case UInt8(ascii: "t"): return try literal("true", .bool(true))
      case UInt8(ascii: "f"): return try literal("false", .bool(false))
      case UInt8(ascii: "n"): return try literal("null", .null)
      default: return try number()
      }
    }

    mutating func literal(_ word: String, _ value: JSONValue) throws(ParseError) -> JSONValue {
      let expected = Array(word.utf8)
      guard position + expected.count <= bytes.count,
        Array(bytes[position..<(position + expected.count)]) == expected
      else { throw failure("expected \(word)") }
      position += expected.count
      return value
    }

    mutating func object(depth: Int) throws(ParseError) -> JSONValue {
      position += 1
      var members: [(String, JSONValue)] = []
      skipSpaces()
      if position < bytes.count && bytes[position] == UInt8(ascii: "}") {
        position += 1
        return .object(members)
      }
      while true {
        skipSpaces()
        guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else {
          throw failure("expected a key")
        }
        let key = try string()
        skipSpaces()
        guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else {
          throw failure("expected ':'")
        }
        position += 1
        members.append((key, try value(depth: depth + 1)))
        skipSpaces()
        guard position < bytes.count else { throw failure("unterminated object") }
        if bytes[position] == UInt8(ascii: ",") {
          position += 1
          continue
        }
        guard bytes[position] == UInt8(ascii: "}") else { throw failure("expected ',' or '}'") }
        position += 1
        return .object(members)
      }
    }

    mutating func array(depth: Int) throws(ParseError) -> JSONValue {
      position += 1
      var values: [JSONValue] = []
      skipSpaces()
      if position < bytes.count && bytes[position] == UInt8(ascii: "]") {
        position += 1
        return .array(values)
      }
      while true {
        values.append(try value(depth: depth + 1))
        skipSpaces()
        guard position < bytes.count else { throw failure("unterminated array") }
        if bytes[position] == UInt8(ascii: ",") {
          position += 1
          continue
        }
        guard bytes[position] == UInt8(ascii: "]") else { throw failure("expected ',' or ']'") }
        position += 1
        return .array(values)
      }
    }

    mutating func string() throws(ParseError) -> String {
      position += 1
      var result: [UInt8] = []
      while position < bytes.count {
        let byte = bytes[position]
        position += 1
        if byte == UInt8(ascii: "\"") { return String(decoding: result, as: UTF8.self) }
        guard byte >= 0x20 else { throw failure("control character in a string") }
        guard byte == UInt8(ascii: "\\") else {
          result.append(byte)
          continue
        }
        guard position < bytes.count else { break }
        let escape = bytes[position]
        position += 1
        switch escape {
        case UInt8(ascii: "\""): result.append(0x22)
        case UInt8(ascii: "\\"): result.append(0x5C)
        case UInt8(ascii: "/"): result.append(0x2F)
        case UInt8(ascii: "b"): result.append(0x08)
        case UInt8(ascii: "f"): result.append(0x0C)
        case UInt8(ascii: "n"): result.append(0x0A)
        case UInt8(ascii: "r"): result.append(0x0D)
        case UInt8(ascii: "t"): result.append(0x09)
        case UInt8(ascii: "u"):
          var scalar = try hex4()
          if (0xD800..<0xDC00).contains(scalar) {
            guard position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"),
              bytes[position + 1] == UInt8(ascii: "u")
            else { throw failure("unpaired surrogate") }
            position += 2
            let low = try hex4()
            guard (0xDC00..<0xE000).contains(low) else { throw failure("unpaired surrogate") }
            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
          }
          guard let unicode = Unicode.Scalar(scalar) else { throw failure("invalid \\u escape") }
          result.append(contentsOf: Array(String(Character(unicode)).utf8))
        default: throw failure("invalid escape")
        }
      }
      throw failure("unterminated string")
    }

    mutating func hex4() throws(ParseError) -> UInt32 {
      guard position + 4 <= bytes.count else { throw failure("short \\u escape") }
      var value: UInt32 = 0
      for _ in 0..<4 {
        let byte = bytes[position]
        position += 1
        let digit: UInt32
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
        default: throw failure("bad hex digit in \\u escape")
        }
        value = value * 16 + digit
      }
      return value
    }

    mutating func number() throws(ParseError) -> JSONValue {
      let start = position
      var isInteger = true
      if position < bytes.count && bytes[position] == UInt8(ascii: "-") { position += 1 }
      while position < bytes.count {
        let byte = bytes[position]
        if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
          position += 1
        } else if byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e")
          || byte == UInt8(ascii: "E")
          || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-")
        {
          isInteger = false
          position += 1
        } else {
          break
        }
      }
      let text = String(decoding: bytes[start..<position], as: UTF8.self)
      if isInteger, let value = Int(text) { return .integer(value) }
      guard !text.isEmpty, let value = Double(text), value.isFinite else {
        position = start
        throw failure("expected a value")
      }
      return .number(value)
    }
  }
}
