import FoundationEssentials

extension JSONValue {
  /// A JSON syntax error.
  public struct ParseError: Error, Sendable, CustomStringConvertible {
    /// What is wrong, and where when the decoder says.
    public let message: String
    /// The message.
    public var description: String { message }
  }

  /// Parses JSON text (RFC 8259) with FoundationEssentials' `JSONDecoder`. Whole numbers that fit
  /// an `Int` become ``integer(_:)``; objects keep every member (their order is not kept).
  ///
  /// - Parameter text: the JSON text.
  /// - Returns: the value.
  /// - Throws: ``ParseError`` with the decoder's account of what is wrong.
  public static func parse(_ text: String) throws(ParseError) -> JSONValue {
    do {
      return try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    } catch let error as DecodingError {
      switch error {
      case .dataCorrupted(let context):
        let cause = (context.underlyingError.map { "\($0)" }).map { ": \($0)" } ?? ""
        throw ParseError(message: context.debugDescription + cause)
      default:
        throw ParseError(message: "\(error)")
      }
    } catch {
      throw ParseError(message: "\(error)")
    }
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
}

extension JSONValue: Decodable {
  /// Decodes any JSON value.
  public init(from decoder: any Decoder) throws {
    if var elements = try? decoder.unkeyedContainer() {
      var values: [JSONValue] = []
      while !elements.isAtEnd { values.append(try elements.decode(JSONValue.self)) }
      self = .array(values)
      return
    }
    if let members = try? decoder.container(keyedBy: MemberKey.self) {
      self = .object(
        try members.allKeys.sorted { $0.stringValue < $1.stringValue }.map { key in
          (key.stringValue, try members.decode(JSONValue.self, forKey: key))
        })
      return
    }
    let single = try decoder.singleValueContainer()
    if single.decodeNil() {
      self = .null
    } else if let value = try? single.decode(Bool.self) {
      self = .bool(value)
    } else if let value = try? single.decode(Int.self) {
      self = .integer(value)
    } else if let value = try? single.decode(Double.self) {
      self = .number(value)
    } else {
      self = .string(try single.decode(String.self))
    }
  }

  /// An object member's name.
  private struct MemberKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
  }
}
