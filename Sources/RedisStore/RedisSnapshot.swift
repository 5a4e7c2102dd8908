import RedisCluster
import VectorMath
import VectorStore

/// Every live item of a store on a Redis Cluster, gathered from all shards into id-ordered
/// blocks in memory: a ``VectorSource`` that exact and LSH search read as they read an LMDB
/// snapshot (same ids, same blocks of ``blockRows``, ids never written marked deleted).
///
/// Each shard is read between two looks at its write counter; a shard written meanwhile is read
/// again, so the snapshot holds whole shard writes only.
public final class RedisSnapshot: ItemSnapshot, @unchecked Sendable {
  /// Values per vector.
  public let dimension: Int
  /// The store's metric.
  public let metric: DistanceMetric
  /// Rows per block.
  public let blockRows: Int
  /// The live items.
  public let count: Int
  /// One more than the largest id seen.
  public let idLimit: UInt64
  /// The blocks, pointing into this snapshot's memory (valid while it lives).
  public let blocks: [VectorBlock]
  /// Name and labels of each live id.
  public let items: [UInt64: (name: String, labels: ItemLabels)]
  /// The live ids, ascending.
  let orderedIDs: [UInt64]
  /// The store's metadata values when it was read.
  let metadataValues: [String: String]
  /// Each shard's write counter when it was read.
  var generations: [Int64?] = []
  private let values: UnsafeMutableBufferPointer<Float>
  private let deletedBits: UnsafeMutableBufferPointer<UInt8>

  /// Lays rows out by id.
  ///
  /// - Parameters:
  ///   - rows: each live row: its id, name, labels and where its vector is (a buffer of
  ///     `vectorBytes` and the row in it).
  ///   - vectorBytes: the shards' vector blocks as read.
  init(
    dimension: Int, metric: DistanceMetric, idLimit: UInt64,
    rows: [(id: UInt64, name: String, labels: ItemLabels, buffer: Int, row: Int)],
    vectorBytes: [[UInt8]], metadata: [String: String]
  ) {
    self.dimension = dimension
    metadataValues = metadata
    self.metric = metric
    self.idLimit = idLimit
    blockRows = VectorBlock.rows(forDimension: dimension)
    count = rows.count
    let total = Int(idLimit)
    let blockRows = self.blockRows
    let values = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(1, total * dimension))
    values.initialize(repeating: 0)
    let blockCount = (total + blockRows - 1) / blockRows
    let bitmapBytes = (blockRows + 7) / 8
    let deletedBits = UnsafeMutableBufferPointer<UInt8>.allocate(
      capacity: max(1, blockCount * bitmapBytes))
    deletedBits.initialize(repeating: 0xff)
    self.values = values
    self.deletedBits = deletedBits
    var items: [UInt64: (String, ItemLabels)] = [:]
    let rowBytes = dimension * 4
    for row in rows {
      let id = Int(row.id)
      vectorBytes[row.buffer].withUnsafeBytes { source in
        UnsafeMutableRawBufferPointer(
          rebasing: UnsafeMutableRawBufferPointer(values)[(id * rowBytes)..<((id + 1) * rowBytes)]
        ).copyMemory(
          from: UnsafeRawBufferPointer(
            rebasing: source[(row.row * rowBytes)..<((row.row + 1) * rowBytes)]))
      }
      let block = id / blockRows
      let bit = id % blockRows
      deletedBits[block * bitmapBytes + bit / 8] &= ~(1 << UInt8(bit % 8))
      items[row.id] = (row.name, row.labels)
    }
    self.items = items
    orderedIDs = items.keys.sorted()
    var blocks: [VectorBlock] = []
    if let base = values.baseAddress, let bits = deletedBits.baseAddress {
      for block in 0..<blockCount {
        let first = block * blockRows
        blocks.append(
          VectorBlock(
            firstID: UInt64(first), rowCount: min(blockRows, total - first),
            values: base + first * dimension, deleted: bits + block * bitmapBytes))
      }
    }
    self.blocks = blocks
  }

  deinit {
    values.deallocate()
    deletedBits.deallocate()
  }

  /// The name and labels of a live item, or `nil` for an unknown or deleted id.
  public func item(id: UInt64) -> StoredItem? {
    items[id].map { StoredItem(id: id, name: $0.name, labels: $0.labels) }
  }

  /// Calls `body` for every live item, in id order.
  public func forEachItem(_ body: (StoredItem, UnsafeBufferPointer<Float>) throws -> Void) rethrows
  {
    for id in orderedIDs {
      guard let (name, labels) = items[id], let vector = vector(id: id) else { continue }
      try body(StoredItem(id: id, name: name, labels: labels), vector)
    }
  }

  /// A metadata value as the store held it when it was read.
  public func metadata(_ key: String) -> String? { metadataValues[key] }
}

extension RedisStore {
  /// How often a read may find shards written under it before it gives up.
  static let maximumReadAttempts = 20

  /// Reads every shard into one snapshot, every vector checked against its record's checksum.
  ///
  /// - Returns: the snapshot.
  /// - Throws: ``RedisStoreError`` of kind `damaged` (the first problem) when a shard's keys
  ///   disagree, a vector fails its checksum, or a shard kept changing; ``RedisError``.
  public func snapshot() throws -> RedisSnapshot {
    try snapshot(reusing: nil)
  }

  /// Reads every shard into one snapshot, or returns `previous` when no shard has been written
  /// and no metadata changed since it was read (two small reads instead of every block).
  ///
  /// - Parameter previous: a snapshot of this store read earlier, or `nil`.
  /// - Returns: a current snapshot.
  /// - Throws: as ``snapshot()``.
  public func snapshot(reusing previous: RedisSnapshot?) throws -> RedisSnapshot {
    if let previous {
      let generations = try client.pipeline(
        (0..<shards).map { RedisCommand("GET", keys.shard($0).generation) }
      ).map(\.integer)
      if generations == previous.generations, try allMetadata() == previous.metadataValues {
        return previous
      }
    }
    let (snapshot, problems) = try readShards()
    if let first = problems.first { throw RedisStoreError(.damaged, store: "\(address)", first) }
    return snapshot
  }

  /// Reads every shard and lists everything damaged: records that do not decode, rows without
  /// a matching record, vectors that fail their checksums, names that lead nowhere, counts that
  /// disagree with the rows.
  ///
  /// - Returns: one line per problem; empty when the store is sound.
  /// - Throws: ``RedisError``, or ``RedisStoreError`` when the shards kept changing.
  public func check() throws -> [String] {
    let (_, problems) = try readShards()
    return problems
  }

  /// One consistent read of every shard, and its problems.
  private func readShards() throws -> (RedisSnapshot, [String]) {
    let shardKeys = (0..<shards).map { keys.shard($0) }
    let metadata = try allMetadata()
    for _ in 0..<Self.maximumReadAttempts {
      let before = try client.pipeline(shardKeys.map { RedisCommand("GET", $0.generation) })
      let counters = try client.pipeline(
        shardKeys.flatMap { [RedisCommand("GET", $0.rows), RedisCommand("GET", $0.count)] }
          + [RedisCommand("GET", keys.nextID)])
      let itemLists = try client.pipeline(shardKeys.map { RedisCommand("HGETALL", $0.items) })
      var blockCommands: [RedisCommand] = []
      var blockOwners: [(shard: Int, block: Int)] = []
      for shard in 0..<shards {
        let rows = Int(counters[2 * shard].integer ?? 0)
        for block in 0..<((rows + shardBlockRows - 1) / shardBlockRows) {
          blockCommands += [
            RedisCommand("GET", shardKeys[shard].vectors(block)),
            RedisCommand("GET", shardKeys[shard].ids(block)),
          ]
          blockOwners.append((shard, block))
        }
      }
      let blockReplies = try client.pipeline(blockCommands)
      let nameLists = try client.pipeline(shardKeys.map { RedisCommand("HGETALL", $0.names) })
      let after = try client.pipeline(shardKeys.map { RedisCommand("GET", $0.generation) })
      guard before == after else { continue }
      let read = assemble(
        counters: counters, itemLists: itemLists, nameLists: nameLists, blockOwners: blockOwners,
        blockReplies: blockReplies, metadata: metadata)
      read.0.generations = before.map(\.integer)
      return read
    }
    throw RedisStoreError(
      .damaged, store: "\(address)",
      "its shards kept changing during \(Self.maximumReadAttempts) reads; try again when the writes are done"
    )
  }

  /// Checks one read of every shard and lays its sound rows out by id.
  private func assemble(
    counters: [RedisReply], itemLists: [RedisReply], nameLists: [RedisReply],
    blockOwners: [(shard: Int, block: Int)], blockReplies: [RedisReply],
    metadata: [String: String]
  ) -> (RedisSnapshot, [String]) {
    let rowBytes = dimension * 4
    var problems: [String] = []
    var records: [[UInt64: ItemRecord]] = Array(repeating: [:], count: shards)
    for shard in 0..<shards {
      let fields = itemLists[shard].elements ?? []
      for pair in stride(from: 0, to: fields.count - 1, by: 2) {
        guard let idBytes = fields[pair].bytes, let id = Self.bigEndianID(idBytes),
          let record = fields[pair + 1].bytes.flatMap(ItemRecord.init(bytes:))
        else {
          problems.append("shard \(shard): an item record is malformed")
          continue
        }
        records[shard][id] = record
      }
      let names = nameLists[shard].elements ?? []
      for pair in stride(from: 0, to: names.count - 1, by: 2) {
        let name = names[pair].text ?? "?"
        guard let id = names[pair + 1].bytes.flatMap(Self.bigEndianID),
          records[shard][id]?.name == name
        else {
          problems.append("shard \(shard): name '\(name)' leads to no item of that name")
          continue
        }
      }
    }
    var idLimit = UInt64(counters[2 * shards].integer ?? 0)
    var rows: [(id: UInt64, name: String, labels: ItemLabels, buffer: Int, row: Int)] = []
    var vectorBytes: [[UInt8]] = []
    var live = [Int](repeating: 0, count: shards)
    for (position, owner) in blockOwners.enumerated() {
      let vectors = blockReplies[2 * position].bytes ?? []
      let ids = blockReplies[2 * position + 1].bytes ?? []
      vectorBytes.append(vectors)
      // Blocks are allocated whole: the rows in use are the shard's row count's share.
      let shardRows = Int(counters[2 * owner.shard].integer ?? 0)
      let used = min(shardBlockRows, shardRows - owner.block * shardBlockRows)
      guard ids.count >= used * 8, vectors.count >= used * rowBytes else {
        problems.append(
          "shard \(owner.shard): block \(owner.block) holds \(vectors.count) bytes of vectors and \(ids.count / 8) ids; its \(used) rows in use need \(used * rowBytes) and \(used)"
        )
        continue
      }
      for row in 0..<used {
        let id = ids.withUnsafeBytes {
          UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: row * 8, as: UInt64.self))
        }
        guard id != UInt64.max else { continue }
        guard let record = records[owner.shard][id],
          record.row == owner.block * shardBlockRows + row
        else {
          problems.append("shard \(owner.shard): the row of id \(id) has no matching item record")
          continue
        }
        live[owner.shard] += 1
        let checksum = vectors.withUnsafeBytes { bytes in
          ItemRecord.checksum(
            UnsafeRawBufferPointer(rebasing: bytes[(row * rowBytes)..<((row + 1) * rowBytes)]))
        }
        guard checksum == record.checksum else {
          problems.append(
            "shard \(owner.shard): the vector of id \(id) ('\(record.name)') fails its checksum (recorded \(record.checksum), computed \(checksum))"
          )
          continue
        }
        idLimit = max(idLimit, id + 1)
        rows.append((id, record.name, record.labels, position, row))
      }
    }
    for shard in 0..<shards where live[shard] != Int(counters[2 * shard + 1].integer ?? 0) {
      problems.append(
        "shard \(shard): \(live[shard]) live rows, but its count says \(counters[2 * shard + 1].integer ?? 0)"
      )
    }
    let snapshot = RedisSnapshot(
      dimension: dimension, metric: metric, idLimit: idLimit, rows: rows,
      vectorBytes: vectorBytes, metadata: metadata)
    return (snapshot, problems)
  }
}
