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
      var ids: [RedisReply] = []
      try writeKeepingPostings(shard: shard) { versions in
        let reply = try client.script(
          Self.deleteScript,
          keys: [
            shardKeys.epoch, shardKeys.names, shardKeys.items, shardKeys.count,
            shardKeys.generation, shardKeys.postingVersions,
          ],
          arguments: [
            Int(token), shardKeys.blockPrefix, shardBlockRows, versions.joined(separator: " "),
            try postingsLayout(versions),
          ] + (try removedPostings(shard: shard, names: shardNames, versions: versions)),
          replicas: replicas)
        ids = reply.elements ?? []
        return reply
      }
      guard ids.count == shardNames.count else {
        throw RedisStoreError(
          .damaged, store: "\(address)", "shard \(shard) answered the delete in an unexpected shape"
        )
      }
      for (name, id) in zip(shardNames, ids) {
        if let bytes = id.bytes, let value = Self.bigEndianID(bytes) { deleted[name] = value }
      }
    }
    return names.map { deleted[$0] }
  }

  /// Per name of one shard: the name, the id it leads to now (empty when none) and that item's
  /// postings under `versions`, read from its stored vector (the script checks the id again).
  private func removedPostings(shard: Int, names: [String], versions: [String]) throws
    -> [any RedisArgument]
  {
    let shardKeys = keys.shard(shard)
    let ids = try client.pipeline(names.map { RedisCommand("HGET", shardKeys.names, $0) }).map {
      $0.bytes.flatMap(Self.bigEndianID)
    }
    var blobs = [[UInt8]](repeating: [], count: names.count)
    if !versions.isEmpty {
      let held = ids.enumerated().compactMap { index, id in id.map { (index, $0) } }
      let records = try client.pipeline(
        held.map { RedisCommand("HGET", shardKeys.items, Self.bigEndian($0.1)) })
      let places = try zip(held, records).map { held, reply in
        guard let record = reply.bytes.flatMap(ItemRecord.init(bytes:)) else {
          throw RedisStoreError(
            .damaged, store: "\(address)",
            "item '\(names[held.0])' has a name but no readable record (shard \(shard))")
        }
        return (shard: shard, row: record.row)
      }
      for ((index, id), vector) in zip(held, try vectors(at: places)) {
        blobs[index] = try vector.withUnsafeBufferPointer {
          try postingsBlob(versions, vector: $0, id: id)
        }
      }
    }
    return names.indices.flatMap { index -> [any RedisArgument] in
      [names[index], ids[index].map(Self.bigEndian) ?? [], blobs[index]]
    }
  }

  /// One shard's part of a delete: KEYS = epoch, names, items, count, generation, index
  /// versions; ARGV = token, block prefix, rows per block, the versions the postings were
  /// encoded for and their layout, then per name the name, the id the writer read for it and
  /// that item's postings. Returns each name's id (8 bytes) or false.
  static let deleteScript =
    postingsLua + "\n" + """
      if redis.call('GET', KEYS[1]) ~= ARGV[1] then
        return redis.error_reply('FENCED a newer writer holds this store')
      end
      if not versionsMatch(KEYS[6], ARGV[4]) then
        return redis.error_reply('REINDEXED the index changed meanwhile')
      end
      local prefix, per, layout = ARGV[2], tonumber(ARGV[3]), ARGV[5]
      for k = 6, #ARGV, 3 do
        if (redis.call('HGET', KEYS[2], ARGV[k]) or '') ~= ARGV[k + 1] then
          return redis.error_reply('CONFLICT ' .. ARGV[k] .. ' changed meanwhile')
        end
      end
      local result, removed = {}, 0
      for k = 6, #ARGV, 3 do
        local id = redis.call('HGET', KEYS[2], ARGV[k])
        result[#result + 1] = id or false
        if id then
          local row = struct.unpack('<I4', redis.call('HGET', KEYS[3], id))
          local block = math.floor(row / per)
          redis.call('SETRANGE', prefix .. 'ids:' .. block, (row % per) * 8, string.rep('\\255', 8))
          postings(prefix, layout, ARGV[k + 2], row, false)
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
