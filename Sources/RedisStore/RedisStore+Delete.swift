import RedisCluster
import VectorMath

extension RedisStore {
  /// Deletes items by name, as the LMDB store does: each name is freed and its id never used
  /// again (its row stays in its block, marked deleted). Each shard's part is one fenced script,
  /// acknowledged by `replicas` replicas.
  ///
  /// - Parameters:
  ///   - names: the names; unknown ones are skipped.
  ///   - replicas: replicas that must acknowledge each shard's write.
  /// - Returns: the ids deleted, in the order of `names` (`nil` for an unknown name).
  /// - Throws: ``RedisStoreError`` (`fenced`, `damaged`), ``RedisError``.
  public func delete(names: [String], replicas: Int = 0) throws -> [UInt64?] {
    let token = try writerToken()
    var perShard: [Int: [String]] = [:]
    for name in names {
      perShard[RedisStoreKeys.shard(ofName: name, shards: shards), default: []].append(name)
    }
    var deleted: [String: UInt64] = [:]
    for (shard, shardNames) in perShard.sorted(by: { $0.key < $1.key }) {
      let shardKeys = keys.shard(shard)
      let reply = try client.script(
        Self.deleteScript,
        keys: [
          shardKeys.epoch, shardKeys.names, shardKeys.items, shardKeys.count,
          shardKeys.generation,
        ],
        arguments: [Int(token), shardKeys.blockPrefix, shardBlockRows] + shardNames,
        replicas: replicas)
      guard let ids = reply.elements, ids.count == shardNames.count else {
        throw RedisStoreError(
          reply.errorText?.hasPrefix("FENCED") == true ? .fenced : .damaged, store: "\(address)",
          "shard \(shard) refused the delete: \(reply.errorText ?? "an unexpected reply")")
      }
      for (name, id) in zip(shardNames, ids) {
        if let bytes = id.bytes, let value = Self.bigEndianID(bytes) { deleted[name] = value }
      }
    }
    return names.map { deleted[$0] }
  }

  /// One shard's part of a delete: KEYS = epoch, names, items, count, generation; ARGV = token,
  /// block prefix, rows per block, then the names. Returns each name's id (8 bytes) or false.
  static let deleteScript = """
    if redis.call('GET', KEYS[1]) ~= ARGV[1] then
      return redis.error_reply('FENCED a newer writer holds this store')
    end
    local prefix, per = ARGV[2], tonumber(ARGV[3])
    local result, removed = {}, 0
    for k = 4, #ARGV do
      local id = redis.call('HGET', KEYS[2], ARGV[k])
      result[#result + 1] = id or false
      if id then
        local row = struct.unpack('<I4', redis.call('HGET', KEYS[3], id))
        local block = math.floor(row / per)
        redis.call('SETRANGE', prefix .. 'ids:' .. block, (row % per) * 8, string.rep('\\255', 8))
        redis.call('HDEL', KEYS[2], ARGV[k])
        redis.call('HDEL', KEYS[3], id)
        removed = removed + 1
      end
    end
    redis.call('DECRBY', KEYS[4], removed)
    redis.call('INCR', KEYS[5])
    return result
    """
}

extension RedisStore {
  /// The names of live items by id (an id's shard is not known from it, so every shard is asked).
  ///
  /// - Parameter ids: the ids.
  /// - Returns: each id's name, or `nil` for an unknown or deleted id.
  /// - Throws: ``RedisError``, ``RedisStoreError`` of kind `damaged` for a record that does not
  ///   decode.
  public func names(ofIDs ids: [UInt64]) throws -> [String?] {
    let replies = try client.pipeline(
      ids.flatMap { id in
        (0..<shards).map { RedisCommand("HGET", keys.shard($0).items, Self.bigEndian(id)) }
      })
    return try ids.indices.map { index in
      let found = replies[(index * shards)..<((index + 1) * shards)].compactMap(\.bytes).first
      guard let found else { return nil }
      guard let record = ItemRecord(bytes: found) else {
        throw RedisStoreError(
          .damaged, store: "\(address)", "the record of id \(ids[index]) is malformed")
      }
      return record.name
    }
  }

  /// Which of `names` are live items.
  ///
  /// - Throws: ``RedisError``.
  public func contains(names: [String]) throws -> [Bool] {
    try client.pipeline(
      names.map {
        RedisCommand(
          "HEXISTS", keys.shard(RedisStoreKeys.shard(ofName: $0, shards: shards)).names, $0)
      }
    ).map { $0.integer == 1 }
  }
}
