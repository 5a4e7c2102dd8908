import Foundation
import Plumbing
import Testing
import VectorMath

/// JSON values written by ``JSONValue/serialized()`` read back through the parser as they were.
@Suite struct JSONValueTests {
  /// A random value: nested arrays and objects (unique keys, some needing escapes), integers,
  /// numbers, strings with control characters and non-ASCII text, Booleans and nulls.
  static func randomValue(_ random: inout SeededRandom, depth: Int) -> JSONValue {
    let kind = random.integer(in: 0...(depth > 3 ? 4 : 6))
    switch kind {
    case 0: return .null
    case 1: return .bool(random.integer(in: 0...1) == 1)
    case 2: return .integer(random.integer(in: -1_000_000_000...1_000_000_000))
    case 3:
      return .number(
        Double(random.integer(in: -1000...1000)) + 0.5 / Double(random.integer(in: 1...64)))
    case 4:
      let pieces = ["a", "é", "\"", "\\", "\n", "\t", "\u{1}", "日本", " ", "/"]
      return .string(
        (0..<random.integer(in: 0...6)).map { _ in pieces[random.integer(in: 0...9)] }.joined())
    case 5:
      return .array(
        (0..<random.integer(in: 0...4)).map { _ in randomValue(&random, depth: depth + 1) })
    default:
      let count = random.integer(in: 0...4)
      return .object(
        (0..<count).map { index in ("key \(index) \"é\"", randomValue(&random, depth: depth + 1)) })
    }
  }

  /// Objects compared as sets of members (the parser does not keep their order).
  static func normalized(_ value: JSONValue) -> JSONValue {
    switch value {
    case .array(let values): return .array(values.map(normalized))
    case .object(let members):
      return .object(members.map { ($0.0, normalized($0.1)) }.sorted { $0.0 < $1.0 })
    default: return value
    }
  }

  @Test("serialized values parse back to themselves (500 random documents)")
  func roundTrip() throws {
    var random = SeededRandom(seed: 17)
    for _ in 0..<500 {
      let value = Self.randomValue(&random, depth: 0)
      let parsed = try JSONValue.parse(value.serialized())
      #expect(Self.normalized(parsed) == Self.normalized(value), "\(value.serialized())")
    }
  }

  @Test(
    "malformed JSON is a ParseError, not a crash",
    arguments: [
      "", "{", "[1, 2", "{\"a\" 1}", "nul", "\"open", "1 2", "{\"a\": }", "[,]", "[1,]",
      "{\"a\": 1,}",
      "01", "-", "1.", ".5", "+1", "1e", "1e+", "--1", "0x10", "1e400", "-1e400", "\"\u{1}\"",
      "\"\\x\"",
      "\"\\u12\"", "\"\\uD800\"", "\"\\uDC00\"", "\"\\uD800\\u0041\"", "{\"a\": 1, \"a\": 2}",
      "tru",
      "nulll", "[1 2]", "{1: 2}", "\u{FEFF}1", "NaN", "Infinity",
    ])
  func malformed(text: String) {
    #expect(throws: JSONValue.ParseError.self) { _ = try JSONValue.parse(text) }
  }

  @Test("whole numbers are integers, others numbers; big and deep values are read")
  func numbers() throws {
    #expect(try JSONValue.parse("3") == .integer(3))
    #expect(try JSONValue.parse("-3.25") == .number(-3.25))
    #expect(try JSONValue.parse("18446744073709551616").doubleValue == 18_446_744_073_709_551_616)
    let deep = String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
    #expect(try JSONValue.parse(deep).arrayValue?.count == 1)
  }

  @Test("escapes, surrogate pairs, member order, and the nesting limit")
  func strictDetails() throws {
    #expect(
      try JSONValue.parse(#""a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00\u0000""#)
        == .string("a\"b\\c/d\u{8}\u{C}\n\r\té😀\u{0}"))
    let object = try JSONValue.parse(#" { "z" : 1 , "a" : [ ] , "m" : { } } "#)
    guard case .object(let members) = object else {
      Issue.record("not an object: \(object)")
      return
    }
    #expect(members.map(\.0) == ["z", "a", "m"])
    let deepest = String(repeating: "[", count: 512) + String(repeating: "]", count: 512)
    #expect(throws: Never.self) { _ = try JSONValue.parse(deepest) }
    let tooDeep = String(repeating: "[", count: 513) + String(repeating: "]", count: 513)
    #expect(throws: JSONValue.ParseError.self) { _ = try JSONValue.parse(tooDeep) }
    #expect(try JSONValue.parse("-0") == .integer(0))
    #expect(try JSONValue.parse("1e2") == .number(100))
    #expect(try JSONValue.parse("9223372036854775807") == .integer(Int.max))
    #expect(try JSONValue.parse("-9223372036854775808") == .integer(Int.min))
  }

  @Test(
    "numbers read as Foundation's JSONSerialization reads them",
    arguments: [
      "0", "-0.0", "3.14159265358979", "1e-7", "2.5E+10", "-123456789012345678", "0.1",
      "1.7976931348623157e308",
      "4.9e-324", "123456789.123456789", "1E2", "100000000000000000000000",
    ])
  func numbersAsFoundation(text: String) throws {
    let foundation = try #require(
      JSONSerialization.jsonObject(with: Data(("[" + text + "]").utf8)) as? [NSNumber]
    ).first?.doubleValue
    #expect(try JSONValue.parse(text).doubleValue == foundation)
  }
}
