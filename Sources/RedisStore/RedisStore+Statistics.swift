import RedisCluster

/// What one shard of a Redis store holds.
public struct RedisShardStatistics: Sendable, Hashable {
  /// The shard.
  public var shard: Int
  /// Its live items.
  public var items: Int
  /// Bytes its keys take in Redis's memory (`MEMORY USAGE`, summed over the shard's keys).
  public var bytes: Int
}

extension RedisStore {
  /// Ids ever assigned (live and deleted): the store-wide counter.
  ///
  /// - Throws: ``RedisError``.
  public func assignedIDs() throws -> UInt64 {
    UInt64(max(0, try client.send(RedisCommand("GET", keys.nextID)).integer ?? 0))
  }

  /// Each shard's live items and the memory its keys take (the index's postings among them).
  ///
  /// - Throws: ``RedisError``.
  public func shardStatistics() throws -> [RedisShardStatistics] {
    let shardKeys = (0..<shards).map { keys.shard($0) }
    let versions = try postingVersions(of: Array(0..<shards))
    var tables: [String: Int] = [:]
    for version in Set(versions.values.joined()) {
      tables[version] = (try? postingsEncoder(version: version))?.tables ?? 0
    }
    let counters = try client.pipeline(
      shardKeys.flatMap { [RedisCommand("GET", $0.count), RedisCommand("GET", $0.rows)] })
    var commands: [RedisCommand] = []
    var owners: [Int] = []
    for (shard, shardKey) in shardKeys.enumerated() {
      let rows = Int(counters[2 * shard + 1].integer ?? 0)
      let blocks = (rows + shardBlockRows - 1) / shardBlockRows
      let names =
        [
          shardKey.names, shardKey.items, shardKey.rows, shardKey.count, shardKey.epoch,
          shardKey.generation, shardKey.postingVersions,
        ]
        + (0..<blocks).flatMap { [shardKey.vectors($0), shardKey.ids($0)] }
        + (versions[shard] ?? []).flatMap { version in
          (0..<(tables[version] ?? 0)).map { shardKey.postings(version, table: $0) }
        }
      for name in names {
        commands.append(RedisCommand("MEMORY", "USAGE", name, "SAMPLES", 0, keyIndex: 2))
        owners.append(shard)
      }
    }
    var bytes = [Int](repeating: 0, count: shards)
    for (owner, reply) in zip(owners, try client.pipeline(commands)) {
      bytes[owner] += Int(reply.integer ?? 0)
    }
    return (0..<shards).map {
      RedisShardStatistics(
        shard: $0, items: Int(counters[2 * $0].integer ?? 0), bytes: bytes[$0])
    }
  }
}

extension RedisStore {
  /// The fewest replicas any master of the store's cluster has (a write can ask no more to
  /// acknowledge it).
  ///
  /// - Throws: ``RedisError``.
  public func fewestReplicas() throws -> Int { try client.fewestReplicas() }
}
