import RedisCluster

extension RedisStore {
  /// The field of the meta key that holds metadata `key` (its own fields are the store's shape).
  static func metadataField(_ key: String) -> String { "m:" + key }

  /// A metadata value (pid conventions, …), as the LMDB store keeps them.
  ///
  /// - Parameter key: the metadata name.
  /// - Returns: its text, or `nil`.
  /// - Throws: ``RedisError``.
  public func metadata(_ key: String) throws -> String? {
    try client.send(RedisCommand("HGET", keys.meta, Self.metadataField(key))).text
  }

  /// Every metadata value, by name.
  ///
  /// - Throws: ``RedisError``.
  func allMetadata() throws -> [String: String] {
    var values: [String: String] = [:]
    for (field, value) in try client.send(RedisCommand("HGETALL", keys.meta)).fieldPairs {
      guard let field = field.text, field.hasPrefix("m:"), let value = value.text else { continue }
      values[String(field.dropFirst(2))] = value
    }
    return values
  }

  /// Records metadata values (or removes those given `nil`) in one atomic write, acknowledged by
  /// `replicas` replicas.
  ///
  /// - Parameters:
  ///   - values: each metadata name with its new text, or `nil` to remove it.
  ///   - replicas: replicas that must acknowledge the write.
  /// - Throws: ``RedisError``.
  public func setMetadata(_ values: [String: String?], replicas: Int = 0) throws {
    guard !values.isEmpty else { return }
    _ = try client.transaction(metadataCommands(values), replicas: replicas)
  }

  /// The commands that record metadata values (or remove those given `nil`), in name order.
  func metadataCommands(_ values: [String: String?]) -> [RedisCommand] {
    values.sorted { $0.key < $1.key }.map { key, value in
      value.map { RedisCommand("HSET", keys.meta, Self.metadataField(key), $0) }
        ?? RedisCommand("HDEL", keys.meta, Self.metadataField(key))
    }
  }
}
