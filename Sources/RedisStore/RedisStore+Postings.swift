import Plumbing
import RedisCluster
import VectorMath
import VectorStore

/// What an index keeps of one item on the shards: its bucket in every table and one entry (the
/// index module's compact code and id). The Redis store knows nothing of hashing: the index
/// module gives it an encoder per index version.
public protocol RedisPostingsEncoder: Sendable {
  /// The number of tables.
  var tables: Int { get }
  /// Bytes of one entry.
  var entryBytes: Int { get }
  /// The bucket code of `vector` in every table and its entry, which holds `id`.
  func postings(of vector: UnsafeBufferPointer<Float>, id: UInt64) -> (
    buckets: [UInt64], entry: [UInt8]
  )
}

/// Reads an index version's parameters (what ``RedisStore/indexParameters()`` returns) of a
/// store into the encoder its postings are written with.
public typealias RedisPostingsDecoder =
  @Sendable (_ parameters: [String: [UInt8]], _ store: RedisStore) throws
  -> any RedisPostingsEncoder

extension RedisStore {
  /// The index versions whose postings each of `shards` keeps current, in the shard's order.
  ///
  /// - Throws: ``RedisError``.
  func postingVersions(of shards: [Int]) throws -> [Int: [String]] {
    let replies = try client.pipeline(
      shards.map { RedisCommand("GET", keys.shard($0).postingVersions) })
    var versions: [Int: [String]] = [:]
    for (shard, reply) in zip(shards, replies) {
      versions[shard] = (reply.text ?? "").split(separator: " ").map(String.init)
    }
    return versions
  }

  /// The encoder of index version `version` (read once per process).
  ///
  /// - Throws: ``RedisStoreError`` of kind `damaged` when the version has no parameters, or
  ///   `unreadable` when this process cannot keep postings; what the decoder throws.
  public func postingsEncoder(version: String) throws -> any RedisPostingsEncoder {
    if let known = postingEncoders.withLock({ $0[version] }) { return known }
    guard let postingsDecoder else {
      throw RedisStoreError(
        .unreadable, store: "\(address)",
        "its shards keep the postings of an LSH index, which this program cannot keep current; write it with tripindex"
      )
    }
    let fields = try client.send(RedisCommand("HGETALL", keys.index(version))).fieldPairs
    guard !fields.isEmpty else {
      throw RedisStoreError(
        .damaged, store: "\(address)",
        "its shards keep the postings of index version \(version), which has no parameters; rebuild the index with `tripindex index --store \(address)`"
      )
    }
    var parameters: [String: [UInt8]] = [:]
    for (name, value) in fields {
      if let name = name.text, let bytes = value.bytes { parameters[name] = bytes }
    }
    let encoder = try postingsDecoder(parameters, self)
    postingEncoders.withLock { $0[version] = encoder }
    return encoder
  }

  /// The layout the write scripts read postings blobs with: `VERSION:TABLES:ENTRYBYTES` per
  /// version, space-separated.
  func postingsLayout(_ versions: [String]) throws -> String {
    try versions.map { version in
      let encoder = try postingsEncoder(version: version)
      return "\(version):\(encoder.tables):\(encoder.entryBytes)"
    }.joined(separator: " ")
  }

  /// One item's postings under every version, as the write scripts read them: per version, per
  /// table, the bucket code (`UInt64` LE) and the entry.
  func postingsBlob(_ versions: [String], vector: UnsafeBufferPointer<Float>, id: UInt64) throws
    -> [UInt8]
  {
    var blob: [UInt8] = []
    for version in versions {
      let (buckets, entry) = try postingsEncoder(version: version).postings(of: vector, id: id)
      for bucket in buckets {
        withUnsafeBytes(of: bucket.littleEndian) { blob += $0 }
        blob += entry
      }
    }
    return blob
  }

  /// Lua shared by the write scripts: `postings(prefix, layout, blob, row, add)` adds an item's
  /// entries (each followed by its row) to its buckets, or removes them, under every version of
  /// `layout` (``postingsLayout(_:)``); `versionsMatch(key, expected)` tells whether the shard
  /// still keeps exactly the versions the writer encoded for.
  static let postingsLua = """
    local function versionsMatch(key, expected)
      return (redis.call('GET', key) or '') == expected
    end
    local function postings(prefix, layout, blob, row, add)
      if #blob == 0 then return end
      local at = 1
      for version, tables, width in string.gmatch(layout, '(%S+):(%d+):(%d+)') do
        tables, width = tonumber(tables), tonumber(width)
        for t = 0, tables - 1 do
          local bucket = string.sub(blob, at, at + 7)
          local entry = string.sub(blob, at + 8, at + 7 + width)
          at = at + 8 + width
          local key = prefix .. 'lsh:' .. version .. ':' .. t
          local held = redis.call('HGET', key, bucket)
          if add then
            redis.call('HSET', key, bucket, (held or '') .. entry .. struct.pack('<I4', row))
          elseif held then
            local stride = width + 4
            for i = 0, #held / stride - 1 do
              if string.sub(held, i * stride + 1, i * stride + width) == entry then
                local rest = string.sub(held, 1, i * stride) .. string.sub(held, (i + 1) * stride + 1)
                if #rest == 0 then redis.call('HDEL', key, bucket) else redis.call('HSET', key, bucket, rest) end
                break
              end
            end
          end
        end
      end
    end
    """
}

// MARK: - Writing an index's postings

extension RedisStore {
  /// Writes the postings of a new index version `version` on every shard from `snapshot` (read
  /// again for the shards written meanwhile), after adding the version to every shard's list so
  /// that writes from then on keep it current. A shard's postings are written only while its
  /// write counter still equals the one its items were read at; a shard written meanwhile is
  /// read and written again.
  ///
  /// - Parameters:
  ///   - version: the new version (its parameters already written).
  ///   - encoder: its encoder.
  ///   - snapshot: the store's items, read after the parameters were fitted.
  ///   - replicas: replicas that must acknowledge each write.
  ///   - progress: told the shards written so far.
  /// - Throws: ``RedisStoreError`` when the shards kept changing, ``RedisError``.
  func writePostings(
    version: String, encoder: any RedisPostingsEncoder, from snapshot: RedisSnapshot,
    replicas: Int, progress: (Int) -> Void
  ) throws {
    for shard in 0..<shards {
      let shardKeys = keys.shard(shard)
      _ = try client.script(
        """
        local held = redis.call('GET', KEYS[1]) or ''
        for v in string.gmatch(held, '%S+') do if v == ARGV[1] then return 0 end end
        redis.call('SET', KEYS[1], (held == '' and ARGV[1]) or (held .. ' ' .. ARGV[1]))
        return 1
        """, keys: [shardKeys.postingVersions], arguments: [version], replicas: replicas)
    }
    var items = snapshot
    var pending = Set(0..<shards)
    var done = 0
    for _ in 0..<Self.maximumReadAttempts {
      var changed = Set<Int>()
      for shard in pending.sorted() {
        if try writeShardPostings(
          shard, version: version, encoder: encoder, from: items, replicas: replicas)
        {
          done += 1
          progress(done)
        } else {
          changed.insert(shard)
        }
      }
      if changed.isEmpty { return }
      pending = changed
      items = try self.snapshot()
    }
    throw RedisStoreError(
      .damaged, store: "\(address)",
      "its shards kept changing while the index's postings were written \(Self.maximumReadAttempts) times; run the command again when the writes are done"
    )
  }

  /// Bytes of postings sent per script.
  static let postingsBytesPerScript = 4 << 20

  /// Writes one shard's postings from `snapshot`; `false` when the shard was written since it
  /// was read (then its postings of this version are whatever writes left: written again).
  private func writeShardPostings(
    _ shard: Int, version: String, encoder: any RedisPostingsEncoder, from snapshot: RedisSnapshot,
    replicas: Int
  ) throws -> Bool {
    let shardKeys = keys.shard(shard)
    let tables = encoder.tables
    let buckets = Self.postings(ofShard: shard, in: snapshot, encoder: encoder)
    let tableKeys = (0..<tables).map { shardKeys.postings(version, table: $0) }
    let generation = snapshot.generations[shard].map { "\($0)" } ?? ""
    var arguments: [any RedisArgument] = []
    var bytes = 0
    var first = true
    /// One script: checks the shard's counter, clears the version's tables on the first, sets
    /// fields.
    func send() throws -> Bool {
      let reply = try client.script(
        """
        if (redis.call('GET', KEYS[1]) or '') ~= ARGV[1] then return 0 end
        if ARGV[2] == '1' then for k = 2, #KEYS do redis.call('DEL', KEYS[k]) end end
        for i = 3, #ARGV, 3 do redis.call('HSET', KEYS[tonumber(ARGV[i]) + 2], ARGV[i + 1], ARGV[i + 2]) end
        return 1
        """, keys: [shardKeys.generation] + tableKeys,
        arguments: [generation, first ? "1" : "0"] + arguments, replicas: replicas)
      first = false
      arguments.removeAll(keepingCapacity: true)
      bytes = 0
      return reply.integer == 1
    }
    for (table, tableBuckets) in buckets.enumerated() {
      for (code, postings) in tableBuckets {
        var littleEndian = code.littleEndian
        arguments += [table, withUnsafeBytes(of: &littleEndian) { Array($0) }, postings]
        bytes += postings.count + 16
        if bytes >= Self.postingsBytesPerScript { guard try send() else { return false } }
      }
    }
    return try send()
  }

  /// One shard's postings under `encoder`, as its items in `snapshot` give them: per table,
  /// bucket code → each item's entry followed by its row in the shard (`UInt32` LE), in id
  /// order. What an index build writes and what `check` expects.
  static func postings(
    ofShard shard: Int, in snapshot: RedisSnapshot, encoder: any RedisPostingsEncoder
  ) -> [[UInt64: [UInt8]]] {
    var buckets = [[UInt64: [UInt8]]](repeating: [:], count: encoder.tables)
    for id in 0..<snapshot.idLimit {
      guard let place = snapshot.location(of: id), place.shard == shard,
        let vector = snapshot.vector(id: id)
      else { continue }
      let (codes, entry) = encoder.postings(of: vector, id: id)
      let posting = entry + withUnsafeBytes(of: UInt32(place.row).littleEndian) { Array($0) }
      for (table, code) in codes.enumerated() { buckets[table][code, default: []] += posting }
    }
    return buckets
  }

  /// Stops keeping `versions` on every shard and removes their postings (the versions'
  /// parameters are the caller's to remove).
  ///
  /// - Throws: ``RedisError``.
  func removePostings(_ versions: Set<String>, replicas: Int) throws {
    guard !versions.isEmpty else { return }
    for shard in 0..<shards {
      let shardKeys = keys.shard(shard)
      _ = try client.script(
        """
        local kept = {}
        for v in string.gmatch(redis.call('GET', KEYS[1]) or '', '%S+') do
          local doomed = false
          for k = 2, #ARGV do if ARGV[k] == v then doomed = true end end
          if doomed then
            local t = 0
            while redis.call('UNLINK', ARGV[1] .. 'lsh:' .. v .. ':' .. t) == 1 do t = t + 1 end
          else
            kept[#kept + 1] = v
          end
        end
        if #kept == 0 then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], table.concat(kept, ' ')) end
        return #kept
        """, keys: [shardKeys.postingVersions],
        arguments: [shardKeys.blockPrefix] + versions.sorted(), replicas: replicas)
    }
  }

  /// The versions some shard keeps postings of.
  ///
  /// - Throws: ``RedisError``.
  func versionsWithPostings() throws -> Set<String> {
    Set(try postingVersions(of: Array(0..<shards)).values.joined())
  }
}

// MARK: - Reading postings

/// What a search over a store's postings reads first: the index version and, per shard, its
/// write counter, live items and whether it keeps that version's postings.
public struct RedisPostingsState: Sendable, Equatable {
  /// The current index version, or `nil` when the store has none.
  public var version: String?
  /// Whether every shard keeps the postings of ``version``.
  public var everyShardKeepsPostings: Bool
  /// Each shard's write counter.
  public var generations: [Int64?]
  /// Live items, summed over the shards.
  public var count: Int
  /// The store's id counter: every id is below it.
  public var idLimit: UInt64
}

/// One entry of a bucket read from a shard: the entry, and where the item's vector is.
public struct RedisPosting: Sendable {
  /// The index's entry (compact code and id).
  public var entry: ArraySlice<UInt8>
  /// The item's shard.
  public var shard: Int
  /// The item's row in its shard.
  public var row: Int
}

extension RedisStore {
  /// The index version and the shards' counters, in one pipeline.
  ///
  /// - Throws: ``RedisError``.
  public func postingsState() throws -> RedisPostingsState {
    let shardKeys = (0..<shards).map { keys.shard($0) }
    let replies = try client.pipeline(
      [RedisCommand("HGET", keys.meta, Self.indexField), RedisCommand("GET", keys.nextID)]
        + shardKeys.flatMap {
          [
            RedisCommand("GET", $0.generation), RedisCommand("GET", $0.count),
            RedisCommand("GET", $0.postingVersions),
          ]
        })
    let version = replies[0].text
    var keeps = version != nil
    var generations: [Int64?] = []
    var count = 0
    for shard in 0..<shards {
      generations.append(replies[2 + 3 * shard].integer)
      count += Int(replies[3 + 3 * shard].integer ?? 0)
      let held = (replies[4 + 3 * shard].text ?? "").split(separator: " ")
      if let version, !held.contains(Substring(version)) { keeps = false }
    }
    return RedisPostingsState(
      version: version, everyShardKeepsPostings: keeps, generations: generations, count: count,
      idLimit: UInt64(max(0, replies[1].integer ?? 0)))
  }

  /// The entries of buckets of index version `version`, from every shard, in one pipeline.
  ///
  /// - Parameters:
  ///   - buckets: each bucket's table and code.
  ///   - version: the index version.
  ///   - entryBytes: bytes of one entry.
  /// - Returns: per bucket, its entries on every shard (in no particular order).
  /// - Throws: ``RedisError``; ``RedisStoreError`` of kind `damaged` for postings whose length
  ///   is not a whole number of entries.
  public func postings(
    of buckets: [(table: Int, code: UInt64)], version: String, entryBytes: Int
  ) throws -> [[RedisPosting]] {
    let replies = try client.pipeline(
      buckets.flatMap { bucket in
        var code = bucket.code.littleEndian
        let field = withUnsafeBytes(of: &code) { Array($0) }
        return (0..<shards).map {
          RedisCommand("HGET", keys.shard($0).postings(version, table: bucket.table), field)
        }
      })
    let stride = entryBytes + 4
    return try buckets.indices.map { index in
      var found: [RedisPosting] = []
      for shard in 0..<shards {
        guard let bytes = replies[index * shards + shard].bytes else { continue }
        guard bytes.count % stride == 0 else {
          throw RedisStoreError(
            .damaged, store: "\(address)",
            "shard \(shard): the postings of a bucket of table \(buckets[index].table) hold \(bytes.count) bytes, not a whole number of \(stride)-byte entries; rebuild the index with `tripindex index --store \(address)`"
          )
        }
        for start in Swift.stride(from: 0, to: bytes.count, by: stride) {
          let row = bytes.withUnsafeBytes {
            UInt32(
              littleEndian: $0.loadUnaligned(fromByteOffset: start + entryBytes, as: UInt32.self))
          }
          found.append(
            RedisPosting(entry: bytes[start..<(start + entryBytes)], shard: shard, row: Int(row)))
        }
      }
      return found
    }
  }

  /// The vectors at shard rows, in one pipeline (as stored: little-endian `Float32`).
  ///
  /// - Throws: ``RedisError``; ``RedisStoreError`` of kind `damaged` for a row its block does
  ///   not hold.
  public func vectors(at places: [(shard: Int, row: Int)]) throws -> [[Float]] {
    let rowBytes = dimension * MemoryLayout<Float>.size
    let replies = try client.pipeline(
      places.map { place in
        let offset = (place.row % shardBlockRows) * rowBytes
        return RedisCommand(
          "GETRANGE", keys.shard(place.shard).vectors(place.row / shardBlockRows), offset,
          offset + rowBytes - 1)
      })
    return try zip(places, replies).map { place, reply in
      guard let bytes = reply.bytes, bytes.count == rowBytes else {
        throw RedisStoreError(
          .damaged, store: "\(address)",
          "shard \(place.shard): row \(place.row) has no whole vector in its block; `tripindex check --store \(address)` lists all damage"
        )
      }
      return bytes.withUnsafeBytes { LittleEndianFloats.values(in: $0) }
    }
  }

  /// The items of ids whose shards are known, in one pipeline.
  ///
  /// - Returns: each item, or `nil` for an id its shard no longer holds.
  /// - Throws: ``RedisError``; ``RedisStoreError`` of kind `damaged` for a malformed record.
  public func items(at places: [(id: UInt64, shard: Int)]) throws -> [StoredItem?] {
    let replies = try client.pipeline(
      places.map { RedisCommand("HGET", keys.shard($0.shard).items, Self.bigEndian($0.id)) })
    return try zip(places, replies).map { place, reply in
      guard let bytes = reply.bytes else { return nil }
      guard let record = ItemRecord(bytes: bytes) else {
        throw RedisStoreError(
          .damaged, store: "\(address)", "the record of id \(place.id) is malformed")
      }
      return StoredItem(id: place.id, name: record.name, labels: record.labels)
    }
  }
}

// MARK: - Checking postings

extension RedisStore {
  /// What is wrong with the postings the shards keep, against the items of `snapshot`: the
  /// current index's postings must hold exactly each live item's entry and row in its bucket of
  /// every table; postings of other versions are leftovers of a build that failed.
  ///
  /// - Returns: one line per problem ("shard N: …").
  /// - Throws: ``RedisError``; what reading the index's parameters throws.
  func postingsProblems(of snapshot: RedisSnapshot) throws -> [String] {
    let version = try client.send(RedisCommand("HGET", keys.meta, Self.indexField)).text
    let layout = Int(try client.send(RedisCommand("HGET", keys.meta, "schema")).text ?? "") ?? 1
    let lists = try postingVersions(of: Array(0..<shards))
    var problems: [String] = []
    for shard in 0..<shards {
      let held = lists[shard] ?? []
      for other in held where other != version {
        problems.append(
          "shard \(shard): keeps the postings of index version \(other), which is not the store's index (left by an index build that failed; the next `tripindex index` removes them)"
        )
      }
      guard let version else { continue }
      guard held.contains(version) else {
        if layout >= Self.schemaVersion {
          problems.append(
            "shard \(shard): keeps no postings of the store's index (version \(version)); rebuild the index with `tripindex index --store \(address)`"
          )
        }
        continue
      }
      problems += try shardPostingsProblems(shard, version: version, snapshot: snapshot)
    }
    return problems
  }

  /// The differences between one shard's postings of `version` and its items' entries.
  private func shardPostingsProblems(_ shard: Int, version: String, snapshot: RedisSnapshot)
    throws -> [String]
  {
    let encoder = try postingsEncoder(version: version)
    let stride = encoder.entryBytes + 4
    /// A bucket's postings one by one, in byte order (a bucket's order on the shard is any).
    func sorted(_ bytes: [UInt8]) -> [[UInt8]] {
      Swift.stride(from: 0, to: bytes.count, by: stride).map { Array(bytes[$0..<($0 + stride)]) }
        .sorted { $0.lexicographicallyPrecedes($1) }
    }
    let expected = Self.postings(ofShard: shard, in: snapshot, encoder: encoder).map {
      $0.mapValues(sorted)
    }
    let shardKeys = keys.shard(shard)
    let replies = try client.pipeline(
      (0..<encoder.tables).map { RedisCommand("HGETALL", shardKeys.postings(version, table: $0)) })
    var problems: [String] = []
    for table in 0..<encoder.tables {
      var actual: [UInt64: [[UInt8]]] = [:]
      for (field, value) in replies[table].fieldPairs {
        guard let code = field.bytes, code.count == 8, let bytes = value.bytes,
          bytes.count % stride == 0
        else {
          problems.append("shard \(shard): table \(table) holds a malformed bucket of postings")
          continue
        }
        let key = code.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        actual[key] = sorted(bytes)
      }
      let buckets = Set(actual.keys).union(expected[table].keys)
      let wrong = buckets.filter { (actual[$0] ?? []) != (expected[table][$0] ?? []) }
      if !wrong.isEmpty {
        let held = wrong.reduce(0) { $0 + (actual[$1]?.count ?? 0) }
        let due = wrong.reduce(0) { $0 + (expected[table][$1]?.count ?? 0) }
        problems.append(
          "shard \(shard): table \(table) of the index: \(wrong.count) buckets differ from the items' vectors (\(held) postings held where \(due) are due); rebuild the index with `tripindex index --store \(address)`"
        )
      }
    }
    return problems
  }
}
