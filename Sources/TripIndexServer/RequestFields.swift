import Hummingbird
import Plumbing
import VectorMath

/// A JSON request body's members, read one field at a time: each reader names the field and
/// what was expected when the value is wrong, and members nobody reads are refused (a typo in a
/// field name is an error, not a silently ignored setting).
struct RequestFields {
  private let members: [(String, JSONValue)]
  private var read = Set<String>()

  /// Parses a body that must be one JSON object (a member named twice is a parse error).
  ///
  /// - Parameter text: the body.
  /// - Throws: ``APIError`` 400 for anything else.
  init(body text: String) throws(APIError) {
    let value: JSONValue
    do {
      value = try JSONValue.parse(text)
    } catch {
      throw APIError(.badRequest, field: "body", "is not valid JSON: \(error)")
    }
    guard case .object(let members) = value else {
      throw APIError(.badRequest, field: "body", "must be a JSON object")
    }
    self.init(members: members)
  }

  /// The members of an object nested in a body (say one of `probe_labels`).
  ///
  /// - Parameter members: the object's members.
  init(members: [(String, JSONValue)]) { self.members = members }

  /// The raw value of a field, marking it read.
  mutating func value(_ field: String) -> JSONValue? {
    read.insert(field)
    return members.first { $0.0 == field }?.1
  }

  /// Refuses members no reader asked for.
  func checkAllRead(expected: String) throws(APIError) {
    if let unknown = members.first(where: { !read.contains($0.0) }) {
      throw APIError(.badRequest, field: unknown.0, "is not a field of this request (\(expected))")
    }
  }

  /// An optional boolean.
  mutating func bool(_ field: String) throws(APIError) -> Bool? {
    guard let value = value(field), value != .null else { return nil }
    guard case .bool(let flag) = value else {
      throw APIError(.unprocessableContent, field: field, "must be true or false")
    }
    return flag
  }

  /// An optional whole number within a range.
  mutating func integer(_ field: String, in range: ClosedRange<Int>) throws(APIError) -> Int? {
    guard let value = value(field), value != .null else { return nil }
    guard let number = value.intValue else {
      throw APIError(.unprocessableContent, field: field, "must be a whole number")
    }
    guard range.contains(number) else {
      throw APIError(
        .unprocessableContent, field: field,
        "must be between \(range.lowerBound) and \(range.upperBound), not \(number)")
    }
    return number
  }

  /// An optional 32-bit label (pid, camera, group).
  mutating func label(_ field: String) throws(APIError) -> Int32? {
    try integer(field, in: Int(Int32.min + 1)...Int(Int32.max)).map { Int32($0) }
  }

  /// An optional string.
  mutating func string(_ field: String) throws(APIError) -> String? {
    guard let value = value(field), value != .null else { return nil }
    guard case .string(let text) = value else {
      throw APIError(.unprocessableContent, field: field, "must be a string")
    }
    return text
  }

  /// One vector: an array of finite numbers.
  static func vector(_ value: JSONValue, field: String) throws(APIError) -> [Float] {
    guard case .array(let items) = value, !items.isEmpty else {
      throw APIError(.unprocessableContent, field: field, "must be a non-empty array of numbers")
    }
    var vector: [Float] = []
    vector.reserveCapacity(items.count)
    for (position, item) in items.enumerated() {
      guard let number = item.doubleValue else {
        throw APIError(
          .unprocessableContent, field: field, "value \(position) is not a number")
      }
      let single = Float(number)
      guard number.isFinite, single.isFinite else {
        throw APIError(
          .unprocessableContent, field: field,
          "value \(position) (\(number)) is not a finite 32-bit float")
      }
      vector.append(single)
    }
    return vector
  }
}
