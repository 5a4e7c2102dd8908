/// A reply of a Redis server (RESP2), copied out of hiredis's reply object.
public enum RedisReply: Sendable, Equatable {
  /// A bulk string: any bytes.
  case bytes([UInt8])
  /// A status reply (`+OK`).
  case status(String)
  /// An integer reply.
  case integer(Int64)
  /// An array reply.
  case array([RedisReply])
  /// The null reply (a missing key).
  case null
  /// An error reply (`-ERR …`, `-MOVED …`).
  case error(String)

  /// The reply as text: a bulk string's bytes as UTF-8, or a status or error's text.
  public var text: String? {
    switch self {
    case .bytes(let bytes): String(decoding: bytes, as: UTF8.self)
    case .status(let text), .error(let text): text
    default: nil
    }
  }

  /// An integer reply's value, or a bulk string that holds a decimal integer.
  public var integer: Int64? {
    switch self {
    case .integer(let value): value
    case .bytes(let bytes): Int64(String(decoding: bytes, as: UTF8.self))
    default: nil
    }
  }

  /// An array reply's elements.
  public var elements: [RedisReply]? {
    if case .array(let elements) = self { return elements }
    return nil
  }

  /// A hash's fields and values (`HGETALL`): an array reply's elements taken two at a time (an
  /// odd last element is left out); empty for any other reply.
  public var fieldPairs: [(field: RedisReply, value: RedisReply)] {
    let all = elements ?? []
    return stride(from: 0, to: all.count - 1, by: 2).map { (all[$0], all[$0 + 1]) }
  }

  /// A bulk string's bytes.
  public var bytes: [UInt8]? {
    if case .bytes(let bytes) = self { return bytes }
    return nil
  }

  /// An error reply's text.
  public var errorText: String? {
    if case .error(let text) = self { return text }
    return nil
  }
}
