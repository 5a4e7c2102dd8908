import RedisCluster

extension RedisStore {
  /// The meta field naming the current index version.
  static let indexField = "index"
  /// How often a reader looks again when the index was switched under it.
  static let maximumIndexReads = 10

  /// The current index version, or `nil` when the store has no index (one small read: a
  /// reader compares it with the version it holds).
  ///
  /// - Throws: ``RedisError``.
  public func indexVersion() throws -> String? {
    try client.send(RedisCommand("HGET", keys.meta, Self.indexField)).text
  }

  /// The store's index: its version and its parameters by name (opaque bytes: the index module
  /// reads them), or `nil` when the store has none. The version is read once and its
  /// parameters under it, so a reader sees one index whole, never a mix of two.
  ///
  /// - Throws: ``RedisError``; ``RedisStoreError`` of kind `damaged` when the version the store
  ///   names has no parameters.
  public func indexParameters() throws -> (version: String, parameters: [String: [UInt8]])? {
    for _ in 0..<Self.maximumIndexReads {
      guard let version = try client.send(RedisCommand("HGET", keys.meta, Self.indexField)).text
      else { return nil }
      let fields = try client.send(RedisCommand("HGETALL", keys.index(version))).fieldPairs
      guard !fields.isEmpty else { continue }  // switched and removed since: look again
      var parameters: [String: [UInt8]] = [:]
      for (name, value) in fields {
        guard let name = name.text, let bytes = value.bytes else { continue }
        parameters[name] = bytes
      }
      return (version, parameters)
    }
    throw RedisStoreError(
      .damaged, store: "\(address)",
      "its meta names an index whose parameters are missing; rebuild it with `tripindex index --store \(address)`"
    )
  }

  /// Replaces the store's index (or drops it, for `nil`): the new parameters are written under
  /// a new version first, then its postings on every shard (when given an encoder: from then
  /// on every write keeps them current), then the meta key switches to it in one write (with
  /// `metadata`, so that what is recorded about an index changes with it), then the former
  /// version and its postings are removed. Readers see the old index or the new one. Postings
  /// of versions that never became current (a build that failed) are removed first.
  ///
  /// - Parameters:
  ///   - parameters: each parameter's name and bytes, or `nil` to drop the index.
  ///   - postings: the encoder of the new parameters and the store's items to write its
  ///     postings from, or `nil` for an index without postings.
  ///   - metadata: metadata values to record (or remove, given `nil`) in the switch.
  ///   - replicas: replicas that must acknowledge each write.
  ///   - progress: told the shards whose postings are written so far.
  /// - Returns: the new version, or `nil` after a drop.
  /// - Throws: ``RedisError``; ``RedisStoreError`` when the shards kept changing.
  @discardableResult
  public func setIndex(
    _ parameters: [(key: String, bytes: [UInt8])]?,
    postings: (encoder: any RedisPostingsEncoder, items: RedisSnapshot)? = nil,
    metadata: [String: String?] = [:], replicas: Int = 0, progress: (Int) -> Void = { _ in }
  ) throws -> String? {
    let former = try client.send(RedisCommand("HGET", keys.meta, Self.indexField)).text
    try removePostings(
      try versionsWithPostings().subtracting(former.map { [$0] } ?? []), replicas: replicas)
    var version: String?
    let switchToo = metadataCommands(metadata)
    if let parameters {
      let fresh = String(UInt64.random(in: 1...UInt64.max), radix: 16)
      let key = keys.index(fresh)
      _ = try client.transaction(
        [RedisCommand("DEL", key)]
          + parameters.map { RedisCommand("HSET", key, $0.key, $0.bytes) },
        replicas: replicas)
      var layout: [RedisCommand] = []
      if let postings {
        postingEncoders.withLock { $0[fresh] = postings.encoder }
        try writePostings(
          version: fresh, encoder: postings.encoder, from: postings.items, replicas: replicas,
          progress: progress)
        // A tool that does not keep postings current must not write the store from now on.
        layout = [RedisCommand("HSET", keys.meta, "schema", Self.schemaVersion)]
      }
      _ = try client.transaction(
        [RedisCommand("HSET", keys.meta, Self.indexField, fresh)] + layout + switchToo,
        replicas: replicas)
      version = fresh
    } else {
      _ = try client.transaction(
        [RedisCommand("HDEL", keys.meta, Self.indexField)] + switchToo, replicas: replicas)
    }
    if let former {
      try removePostings([former], replicas: replicas)
      _ = try client.send(RedisCommand("UNLINK", keys.index(former)))
    }
    return version
  }
}
