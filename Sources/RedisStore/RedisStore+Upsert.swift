import CKernels
import Plumbing
import RedisCluster
import StorageBackend
import VectorMath

/// What one ``RedisStore/upsert(names:labels:vectors:replicas:)`` did.
public struct RedisUpsertSummary: Hashable, Sendable {
  /// New names, given new ids.
  public var added = 0
  /// Existing names whose vector or labels changed.
  public var updated = 0
  /// Existing names with the same vector and labels, left untouched.
  public var unchanged = 0
  /// The id of every input row, in order.
  public var ids: [UInt64] = []
}

extension RedisStore {
  /// Adds new names and updates changed ones, as the LMDB store's upsert does: ids in input
  /// order from the store-wide counter, unchanged items untouched. Each shard's part is one
  /// atomic script, acknowledged by `replicas` replicas before it counts.
  ///
  /// - Parameters:
  ///   - names: one name per row, none twice.
  ///   - labels: one per row.
  ///   - vectors: the rows (normalised here for the cosine metric).
  ///   - replicas: replicas that must acknowledge each shard's write.
  /// - Returns: what was done.
  /// - Throws: ``RedisStoreError`` (`invalidItem` before anything is written; `fenced`; `damaged`
  ///   when another writer changed a name meanwhile), ``RedisError`` (`replication`: written on
  ///   the master only). After a failure, running the same batch again finishes it.
  public func upsert(
    names: [String], labels: [ItemLabels], vectors: Matrix, replicas: Int = 0
  ) throws -> RedisUpsertSummary {
    precondition(names.count == labels.count && names.count == vectors.rows, "one row per name")
    var rows = vectors
    try validate(names: names, rows: &rows)
    let token = try writerToken()
    let shardOf = names.map { RedisStoreKeys.shard(ofName: $0, shards: shards) }
    let rowBytes = dimension * MemoryLayout<Float>.size
    // What the shards hold of these names now.
    let held = try client.pipeline(
      names.indices.map { RedisCommand("HGET", keys.shard(shardOf[$0]).names, names[$0]) })
    // Rows whose name is held, with its id.
    let existing: [(index: Int, id: UInt64)] = held.enumerated().compactMap { index, reply in
      reply.bytes.flatMap(Self.bigEndianID).map { (index, $0) }
    }
    let heldIDs = Dictionary(uniqueKeysWithValues: existing.map { ($0.index, $0.id) })
    let records = try client.pipeline(
      existing.map {
        RedisCommand("HGET", keys.shard(shardOf[$0.index]).items, Self.bigEndian($0.id))
      })
    var storedRecords: [ItemRecord] = []
    for (position, (index, _)) in existing.enumerated() {
      guard let record = records[position].bytes.flatMap(ItemRecord.init(bytes:)) else {
        throw RedisStoreError(
          .damaged, store: "\(address)",
          "item '\(names[index])' has a name but no readable record (shard \(shardOf[index]))")
      }
      storedRecords.append(record)
    }
    let storedVectors = try client.pipeline(
      zip(existing, storedRecords).map { existing, record in
        let (index, row) = (existing.index, record.row)
        let offset = (row % shardBlockRows) * rowBytes
        return RedisCommand(
          "GETRANGE", keys.shard(shardOf[index]).vectors(row / shardBlockRows), offset,
          offset + rowBytes - 1)
      })
    // Classify every row, and give new names their ids in input order.
    enum Change { case add, vectorAndLabels, labelsOnly, none }
    let inputVectors = names.indices.map { Self.bytes(of: rows, row: $0) }
    var changes = [Change](repeating: .add, count: names.count)
    var storedVectorBytes: [Int: [UInt8]] = [:]
    for (position, (index, _)) in existing.enumerated() {
      storedVectorBytes[index] = storedVectors[position].bytes
      let sameVector = storedVectors[position].bytes == inputVectors[index]
      let sameLabels = storedRecords[position].labels == labels[index]
      changes[index] = sameVector ? (sameLabels ? .none : .labelsOnly) : .vectorAndLabels
    }
    let newCount = changes.filter { $0 == .add }.count
    var nextNew: UInt64 = 0
    if newCount > 0 {
      let reply = try client.send(RedisCommand("INCRBY", keys.nextID, newCount), idempotent: false)
      guard let end = reply.integer, end >= newCount else {
        throw RedisStoreError(.damaged, store: "\(address)", "its id counter is not a number")
      }
      nextNew = UInt64(end) - UInt64(newCount)
    }
    var summary = RedisUpsertSummary()
    /// One item written to its shard.
    struct Write {
      var index: Int, id: UInt64, kind: String
    }
    var perShard: [Int: [Write]] = [:]
    for index in names.indices {
      let id: UInt64
      let kind: String
      switch (changes[index], heldIDs[index]) {
      case (.none, let held?):
        summary.unchanged += 1
        summary.ids.append(held)
        continue
      case (.vectorAndLabels, let held?), (.labelsOnly, let held?):
        id = held
        kind = changes[index] == .labelsOnly ? "l" : "u"
        summary.updated += 1
      default:
        id = nextNew
        nextNew += 1
        kind = "a"
        summary.added += 1
      }
      summary.ids.append(id)
      perShard[shardOf[index], default: []].append(Write(index: index, id: id, kind: kind))
    }
    /// The script's arguments for one item: kind, name, ids, checksum and labels, vector, and
    /// its postings under `versions` (added: the new vector's; removed: the old one's).
    func arguments(_ write: Write, versions: [String]) throws -> [any RedisArgument] {
      let (index, id, kind) = (write.index, write.id, write.kind)
      var littleEndian = id.littleEndian
      let idLE = withUnsafeBytes(of: &littleEndian) { Array($0) }
      var added: [UInt8] = []
      var removed: [UInt8] = []
      if kind != "l" && !versions.isEmpty {
        added = try rows.values.withUnsafeBufferPointer { values in
          try postingsBlob(
            versions,
            vector: UnsafeBufferPointer(
              rebasing: values[(index * dimension)..<((index + 1) * dimension)]),
            id: id)
        }
        if kind == "u", let old = storedVectorBytes[index] {
          removed = try old.withUnsafeBytes { LittleEndianFloats.values(in: $0) }
            .withUnsafeBufferPointer { try postingsBlob(versions, vector: $0, id: id) }
        }
      }
      return [
        kind, names[index], Self.bigEndian(id), idLE,
        ItemRecord.checksumAndLabelBytes(
          vector: kind == "l" ? storedVectorBytes[index] ?? [] : inputVectors[index],
          labels: labels[index]),
        kind == "l" ? [] : inputVectors[index], added, removed,
      ]
    }
    for (shard, writes) in perShard.sorted(by: { $0.key < $1.key }) {
      let shardKeys = keys.shard(shard)
      try writeKeepingPostings(shard: shard) { versions in
        let layout = try postingsLayout(versions)
        return try client.script(
          Self.upsertScript,
          keys: [
            shardKeys.epoch, shardKeys.names, shardKeys.items, shardKeys.rows, shardKeys.count,
            shardKeys.generation, shardKeys.postingVersions,
          ],
          arguments: [
            Int(token), shardKeys.blockPrefix, shardBlockRows, writes.count,
            versions.joined(separator: " "), layout,
          ] + writes.flatMap { try arguments($0, versions: versions) },
          replicas: replicas)
      }
    }
    return summary
  }

  /// Runs one shard's write script with the index versions the shard keeps, again when the
  /// shard's versions changed before it ran (an index switched meanwhile): the script refuses
  /// a write encoded for other versions before it writes anything.
  ///
  /// - Throws: ``RedisStoreError`` (`fenced`, `damaged`) for a refused write.
  func writeKeepingPostings(shard: Int, _ write: ([String]) throws -> RedisReply) throws {
    for _ in 0..<Self.maximumIndexReads {
      let versions = try postingVersions(of: [shard])[shard] ?? []
      let reply: RedisReply
      do {
        reply = try write(versions)
      } catch let error as RedisStoreError where error.kind == .damaged {
        // A version whose parameters are gone was being removed by an index switch: the
        // shard's list no longer names it.
        if try postingVersions(of: [shard])[shard] ?? [] != versions { continue }
        throw error
      }
      guard let text = reply.errorText else { return }
      if text.hasPrefix("REINDEXED") { continue }
      throw RedisStoreError(
        text.hasPrefix("FENCED") ? .fenced : .damaged, store: "\(address)",
        "shard \(shard) refused the write: \(text); run the command again")
    }
    throw RedisStoreError(
      .damaged, store: "\(address)",
      "shard \(shard): its index versions kept changing during the write; run the command again")
  }

  /// One shard's part of an upsert, checked first (a script that fails part-way keeps what it
  /// wrote), then written: KEYS = epoch, names, items, rows, count, generation, index versions;
  /// ARGV = token, block prefix, rows per block, item count, the versions the postings were
  /// encoded for and their layout (``postingsLayout(_:)``), then per item kind (`a` add, `u`
  /// vector and labels, `l` labels), name, id (big-endian), id (little-endian), the vector's
  /// checksum and the labels, vector, postings to add, postings to remove.
  static let upsertScript =
    postingsLua + "\n" + """
      if redis.call('GET', KEYS[1]) ~= ARGV[1] then
        return redis.error_reply('FENCED a newer writer holds this store')
      end
      if not versionsMatch(KEYS[7], ARGV[5]) then
        return redis.error_reply('REINDEXED the index changed meanwhile')
      end
      local prefix, per, n, layout = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[6]
      local stride = 8
      for k = 0, n - 1 do
        local base = 7 + k * stride
        local kind, name, id = ARGV[base], ARGV[base + 1], ARGV[base + 2]
        local held = redis.call('HGET', KEYS[2], name)
        if kind == 'a' then
          if held then return redis.error_reply('CONFLICT ' .. name .. ' was added meanwhile') end
        elseif held ~= id or redis.call('HEXISTS', KEYS[3], id) == 0 then
          return redis.error_reply('CONFLICT ' .. name .. ' changed meanwhile')
        end
      end
      local rows = tonumber(redis.call('GET', KEYS[4]) or '0')
      local added = 0
      for k = 0, n - 1 do
        local base = 7 + k * stride
        local kind, name, id, idLE = ARGV[base], ARGV[base + 1], ARGV[base + 2], ARGV[base + 3]
        local labels, vector = ARGV[base + 4], ARGV[base + 5]
        local row
        if kind == 'a' then
          row = rows
          rows = rows + 1
          added = added + 1
          local block, offset = math.floor(row / per), row % per
          if offset == 0 then
            -- A new block is allocated once at its full size (appending would let Redis
            -- over-allocate each string by up to 2x as it grows).
            redis.call('SETRANGE', prefix .. 'vec:' .. block, per * string.len(vector) - 1, '\0')
            redis.call('SETRANGE', prefix .. 'ids:' .. block, per * 8 - 1, '\0')
          end
          redis.call('SETRANGE', prefix .. 'vec:' .. block, offset * string.len(vector), vector)
          redis.call('SETRANGE', prefix .. 'ids:' .. block, offset * 8, idLE)
          redis.call('HSET', KEYS[2], name, id)
        else
          row = struct.unpack('<I4', redis.call('HGET', KEYS[3], id))
          if kind == 'u' then
            local block = math.floor(row / per)
            redis.call('SETRANGE', prefix .. 'vec:' .. block, (row % per) * string.len(vector), vector)
          end
        end
        postings(prefix, layout, ARGV[base + 7], row, false)
        postings(prefix, layout, ARGV[base + 6], row, true)
        redis.call('HSET', KEYS[3], id, struct.pack('<I4', row) .. labels .. name)
      end
      redis.call('SET', KEYS[4], rows)
      redis.call('INCRBY', KEYS[5], added)
      redis.call('INCR', KEYS[6])
      return added
      """

  /// Refuses bad names and values before anything is written (as the LMDB store does);
  /// normalises for cosine.
  private func validate(names: [String], rows: inout Matrix) throws {
    guard rows.columns == dimension else {
      throw RedisStoreError(
        .mismatch, store: "\(address)",
        "holds \(dimension)-dimensional vectors, but the input has dimension \(rows.columns)")
    }
    if let problem = ItemBatchCheck.problem(
      names: names, maximumNameBytes: Self.maximumNameBytes, rows: &rows,
      normalizing: metric.normalizesVectors)
    {
      throw RedisStoreError(.invalidItem, store: "\(address)", problem)
    }
  }

  /// A row's values as stored: little-endian `Float32`s.
  static func bytes(of matrix: Matrix, row: Int) -> [UInt8] {
    matrix.values.withUnsafeBufferPointer { values in
      var bytes: [UInt8] = []
      bytes.reserveCapacity(matrix.columns * 4)
      for value in values[(row * matrix.columns)..<((row + 1) * matrix.columns)] {
        withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 }
      }
      return bytes
    }
  }

  /// An id as names and item records key it: 8 bytes, big-endian (``BigEndianKey``).
  static func bigEndian(_ id: UInt64) -> [UInt8] {
    BigEndianKey(id).withStorageBytes { Array($0) }
  }

  /// An id from its 8 big-endian bytes, or `nil` for another length.
  static func bigEndianID(_ bytes: [UInt8]) -> UInt64? {
    bytes.withUnsafeBytes { BigEndianKey(bytes: $0)?.value }
  }
}

/// An item record as a shard keeps it: row (`UInt32` LE), the CRC32C of the row's vector bytes
/// (`UInt32` LE), pid, camera, group (`Int32` LE, `Int32.min` unknown), then the name.
package struct ItemRecord {
  let row: Int
  let checksum: UInt32
  let labels: ItemLabels
  let name: String

  package init?(bytes: [UInt8]) {
    guard bytes.count >= 20 else { return nil }
    (row, checksum, labels) = bytes.withUnsafeBytes { raw in
      (
        Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt32.self))),
        UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4, as: UInt32.self)),
        ItemLabels(storedBytes: UnsafeRawBufferPointer(rebasing: raw[8..<20]))
      )
    }
    name = String(decoding: bytes[20...], as: UTF8.self)
  }

  /// CRC32C of a vector's bytes, as records keep it.
  static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
    tripindex_crc32c(0, bytes.baseAddress, bytes.count)
  }

  /// The 16 bytes after the row in a record: the vector's checksum and the labels.
  static func checksumAndLabelBytes(vector: [UInt8], labels: ItemLabels) -> [UInt8] {
    let crc = vector.withUnsafeBytes { checksum($0) }
    return withUnsafeBytes(of: crc.littleEndian) { Array($0) } + labels.storedBytes
  }
}
