/// One Redis command: its name and arguments as bytes (binary-safe), and which argument is the key
/// that routes it to a slot.
public struct RedisCommand: Sendable, Equatable {
  /// The name and the arguments, each as sent.
  public var arguments: [[UInt8]]
  /// The index in ``arguments`` of the key whose slot decides the node; `nil` for a command
  /// any node can answer.
  public var keyIndex: Int?

  /// A command whose key, if any, is its first argument after the name.
  ///
  /// - Parameters:
  ///   - name: the command (`GET`, `HSET`, …).
  ///   - arguments: the arguments (text, bytes or integers).
  ///   - keyIndex: where the routing key is (1 by default: the first argument); `nil` for none.
  public init(_ name: String, _ arguments: any RedisArgument..., keyIndex: Int? = 1) {
    self.init(name, arguments: arguments, keyIndex: keyIndex)
  }

  /// A command from an array of arguments.
  public init(_ name: String, arguments: [any RedisArgument], keyIndex: Int? = 1) {
    self.arguments = [Array(name.utf8)] + arguments.map(\.redisBytes)
    self.keyIndex = keyIndex.flatMap { $0 < self.arguments.count ? $0 : nil }
  }

  /// The routing key's slot, or `nil`.
  public var slot: Int? { keyIndex.map { HashSlot.of(arguments[$0]) } }

  /// The command's name, for messages (never its arguments, which may hold a password).
  public var name: String { String(decoding: arguments.first ?? [], as: UTF8.self) }
}

/// A value sent as one argument of a command.
public protocol RedisArgument: Sendable {
  /// The bytes sent.
  var redisBytes: [UInt8] { get }
}

extension String: RedisArgument {
  /// The UTF-8 bytes.
  public var redisBytes: [UInt8] { Array(utf8) }
}

extension Array: RedisArgument where Element == UInt8 {
  /// The bytes themselves.
  public var redisBytes: [UInt8] { self }
}

extension Int: RedisArgument {
  /// The decimal digits, as Redis reads integers.
  public var redisBytes: [UInt8] { Array(String(self).utf8) }
}

extension UInt64: RedisArgument {
  /// The decimal digits, as Redis reads integers.
  public var redisBytes: [UInt8] { Array(String(self).utf8) }
}
