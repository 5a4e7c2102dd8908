#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A strict RFC 8259 parser over UTF-8 bytes, one pass, no intermediate objects: what
/// ``JSONValue/parse(_:)`` runs. Numbers are checked against JSON's grammar before `strtod`
/// converts them (the bytes end with a 0, so it cannot read past them); objects keep their
/// members in order and refuse a name given twice; nesting deeper than ``maximumDepth`` is an
/// error, not a stack overflow.
struct JSONParser {
  /// The deepest nesting of arrays and objects accepted.
  static let maximumDepth = 512

  private let bytes: UnsafeBufferPointer<UInt8>
  private var position = 0
  private var depth = 0

  /// - Parameter bytes: the text, followed by one 0 byte that is not part of it.
  init(nulTerminated bytes: UnsafeBufferPointer<UInt8>) {
    precondition(bytes.last == 0, "the text must end with a 0 byte")
    self.bytes = UnsafeBufferPointer(rebasing: bytes[..<(bytes.count - 1)])
  }

  /// The one value of the text (whitespace around it allowed).
  mutating func parseDocument() throws(JSONValue.ParseError) -> JSONValue {
    skipWhitespace()
    let value = try parseValue()
    skipWhitespace()
    guard position == bytes.count else { throw error("unexpected text after the value") }
    return value
  }

  private func error(_ message: String) -> JSONValue.ParseError {
    JSONValue.ParseError(message: "\(message) at byte \(position)")
  }

  private mutating func skipWhitespace() {
    while position < bytes.count {
      switch bytes[position] {
      case 0x20, 0x09, 0x0A, 0x0D: position += 1
      default: return
      }
    }
  }

  private mutating func parseValue() throws(JSONValue.ParseError) -> JSONValue {
    guard position < bytes.count else { throw error("unexpected end of the text") }
    switch bytes[position] {
    case UInt8(ascii: "{"): return try parseObject()
    case UInt8(ascii: "["): return try parseArray()
    case UInt8(ascii: "\""): return .string(try parseString())
    case UInt8(ascii: "t"): return try parseLiteral("true", .bool(true))
    case UInt8(ascii: "f"): return try parseLiteral("false", .bool(false))
    case UInt8(ascii: "n"): return try parseLiteral("null", .null)
    case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
    default: throw error("unexpected character '\(Unicode.Scalar(bytes[position]))'")
    }
  }

  private mutating func parseLiteral(_ word: StaticString, _ value: JSONValue)
    throws(JSONValue.ParseError) -> JSONValue
  {
    let count = word.utf8CodeUnitCount
    guard position + count <= bytes.count, let base = bytes.baseAddress,
      memcmp(base + position, word.utf8Start, count) == 0
    else { throw error("invalid literal") }
    position += count
    return value
  }

  private mutating func enter() throws(JSONValue.ParseError) {
    depth += 1
    guard depth <= Self.maximumDepth else {
      throw error("nesting deeper than \(Self.maximumDepth) levels")
    }
    position += 1
  }

  private mutating func parseArray() throws(JSONValue.ParseError) -> JSONValue {
    try enter()
    var values: [JSONValue] = []
    skipWhitespace()
    if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
      position += 1
      depth -= 1
      return .array(values)
    }
    while true {
      skipWhitespace()
      values.append(try parseValue())
      skipWhitespace()
      guard position < bytes.count else { throw error("unterminated array") }
      if bytes[position] == UInt8(ascii: ",") {
        position += 1
      } else if bytes[position] == UInt8(ascii: "]") {
        position += 1
        depth -= 1
        return .array(values)
      } else {
        throw error("expected ',' or ']' in an array")
      }
    }
  }

  private mutating func parseObject() throws(JSONValue.ParseError) -> JSONValue {
    try enter()
    var members: [(String, JSONValue)] = []
    var names = Set<String>()
    skipWhitespace()
    if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
      position += 1
      depth -= 1
      return .object(members)
    }
    while true {
      skipWhitespace()
      guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else {
        throw error("expected a member name in quotes")
      }
      let name = try parseString()
      guard names.insert(name).inserted else { throw error("the member '\(name)' is given twice") }
      skipWhitespace()
      guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else {
        throw error("expected ':' after a member name")
      }
      position += 1
      skipWhitespace()
      members.append((name, try parseValue()))
      skipWhitespace()
      guard position < bytes.count else { throw error("unterminated object") }
      if bytes[position] == UInt8(ascii: ",") {
        position += 1
      } else if bytes[position] == UInt8(ascii: "}") {
        position += 1
        depth -= 1
        return .object(members)
      } else {
        throw error("expected ',' or '}' in an object")
      }
    }
  }

  private mutating func parseString() throws(JSONValue.ParseError) -> String {
    position += 1
    let start = position
    // The common case, no escapes: one slice of the input.
    while position < bytes.count {
      let byte = bytes[position]
      if byte == UInt8(ascii: "\"") {
        let text = String(
          decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
        position += 1
        return text
      }
      if byte == UInt8(ascii: "\\") { break }
      guard byte >= 0x20 else { throw error("a control character inside a string") }
      position += 1
    }
    var scalars = Array(bytes[start..<position])
    while position < bytes.count {
      let byte = bytes[position]
      position += 1
      switch byte {
      case UInt8(ascii: "\""):
        return String(decoding: scalars, as: UTF8.self)
      case UInt8(ascii: "\\"):
        guard position < bytes.count else { throw error("unterminated escape") }
        let escape = bytes[position]
        position += 1
        switch escape {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scalars.append(escape)
        case UInt8(ascii: "b"): scalars.append(0x08)
        case UInt8(ascii: "f"): scalars.append(0x0C)
        case UInt8(ascii: "n"): scalars.append(0x0A)
        case UInt8(ascii: "r"): scalars.append(0x0D)
        case UInt8(ascii: "t"): scalars.append(0x09)
        case UInt8(ascii: "u"):
          var code = try hexQuad()
          if (0xD800..<0xDC00).contains(code) {
            guard position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"),
              bytes[position + 1] == UInt8(ascii: "u")
            else { throw error("a high surrogate without its low surrogate") }
            position += 2
            let low = try hexQuad()
            guard (0xDC00..<0xE000).contains(low) else { throw error("an invalid surrogate pair") }
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
          } else if (0xDC00..<0xE000).contains(code) {
            throw error("a low surrogate without its high surrogate")
          }
          guard let scalar = Unicode.Scalar(code) else { throw error("an invalid \\u escape") }
          scalars.append(contentsOf: String(Character(scalar)).utf8)
        default:
          throw error("an invalid escape '\\\(Unicode.Scalar(escape))'")
        }
      default:
        guard byte >= 0x20 else { throw error("a control character inside a string") }
        scalars.append(byte)
      }
    }
    throw error("unterminated string")
  }

  private mutating func hexQuad() throws(JSONValue.ParseError) -> UInt32 {
    guard position + 4 <= bytes.count else { throw error("a \\u escape needs four hex digits") }
    var value: UInt32 = 0
    for _ in 0..<4 {
      let byte = bytes[position]
      let digit: UInt8
      switch byte {
      case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
      case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
      case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
      default: throw error("a \\u escape needs four hex digits")
      }
      value = value << 4 | UInt32(digit)
      position += 1
    }
    return value
  }

  /// The digits as an `Int`, or `nil` when they overflow it (accumulated negatively, so that
  /// `Int.min` is exact).
  private func exactInteger(_ digits: Range<Int>, negative: Bool) -> Int? {
    var value = 0
    for index in digits {
      let (scaled, overflow) = value.multipliedReportingOverflow(by: 10)
      let (next, underflow) = scaled.subtractingReportingOverflow(
        Int(bytes[index] - UInt8(ascii: "0")))
      guard !overflow && !underflow else { return nil }
      value = next
    }
    if negative { return value }
    return value == Int.min ? nil : -value
  }

  private mutating func parseNumber() throws(JSONValue.ParseError) -> JSONValue {
    let start = position
    func digits() -> Int {
      let first = position
      while position < bytes.count,
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position])
      {
        position += 1
      }
      return position - first
    }
    if bytes[position] == UInt8(ascii: "-") { position += 1 }
    let integerStart = position
    let integerDigits = digits()
    guard integerDigits > 0 else { throw error("a number needs digits") }
    guard integerDigits == 1 || bytes[integerStart] != UInt8(ascii: "0") else {
      throw error("a number cannot start with 0")
    }
    var whole = true
    if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
      position += 1
      guard digits() > 0 else { throw error("a decimal point needs digits after it") }
      whole = false
    }
    if position < bytes.count,
      bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E")
    {
      position += 1
      if position < bytes.count,
        bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-")
      {
        position += 1
      }
      guard digits() > 0 else { throw error("an exponent needs digits") }
      whole = false
    }
    if whole && integerDigits <= 19,
      let value = exactInteger(integerStart..<position, negative: bytes[start] == UInt8(ascii: "-"))
    {
      return .integer(value)
    }
    // The grammar is checked: strtod reads exactly these bytes (the next is not part of a number).
    // A number has at least one byte, so the buffer has a base address.
    let value =
      bytes.baseAddress?.advanced(by: start).withMemoryRebound(to: CChar.self, capacity: 1) {
        strtod($0, nil)
      } ?? .nan
    guard value.isFinite else { throw error("the number is too large for a 64-bit float") }
    if whole, value == value.rounded(), abs(value) < 9.2e18, let integer = Int(exactly: value) {
      return .integer(integer)
    }
    return .number(value)
  }
}
