extension JSONValue {
  /// A JSON syntax error.
  public struct ParseError: Error, Sendable, CustomStringConvertible {
    /// What is wrong, and where when the decoder says.
    public let message: String
    /// The message.
    public var description: String { message }
  }

  /// Parses JSON text (RFC 8259, strictly). Whole numbers that fit an `Int` become
  /// ``integer(_:)``, others ``number(_:)``; objects keep their members in order, and a member
  /// named twice is an error.
  ///
  /// - Parameter text: the JSON text.
  /// - Returns: the value.
  /// - Throws: ``ParseError`` saying what is wrong and at which byte.
  public static func parse(_ text: String) throws(ParseError) -> JSONValue {
    var bytes = Array(text.utf8)
    bytes.append(0)
    return try bytes.withUnsafeBufferPointer { buffer throws(ParseError) in
      var parser = JSONParser(nulTerminated: buffer)
      return try parser.parseDocument()
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
