import RedisCluster
import VectorMath

/// Every live item of a store on a Redis Cluster, gathered from all shards into id-ordered
/// blocks in memory: a ``VectorSource`` that exact and LSH search read as they read an LMDB
/// snapshot (same ids, same blocks of ``blockRows``, ids never written marked deleted).
///
/// Each shard is read between two looks at its write counter; a shard written meanwhile is read
/// again, so the snapshot holds whole shard writes only.
public final class RedisSnapshot: VectorSource, @unchecked Sendable {
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
    vectorBytes: [[UInt8]]
  ) {
    self.dimension = dimension
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
}

extension RedisStore {
  /// How often a read may find shards written under it before it gives up.
  static let maximumReadAttempts = 20

  /// Reads every shard into one snapshot.
  ///
  /// - Returns: the snapshot.
  /// - Throws: ``RedisStoreError`` of kind `damaged` when a shard's keys disagree (or it kept
  ///   changing), ``RedisError``.
  public func snapshot() throws -> RedisSnapshot {
    let shardKeys = (0..<shards).map { keys.shard($0) }
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
      let after = try client.pipeline(shardKeys.map { RedisCommand("GET", $0.generation) })
      guard before == after else { continue }
      return try assemble(
        counters: counters, itemLists: itemLists, blockOwners: blockOwners,
        blockReplies: blockReplies)
    }
    throw RedisStoreError(
      .damaged, store: "\(address)",
      "its shards kept changing during \(Self.maximumReadAttempts) reads; try again when the writes are done"
    )
  }

  /// Checks one read of every shard and lays it out by id.
  private func assemble(
    counters: [RedisReply], itemLists: [RedisReply], blockOwners: [(shard: Int, block: Int)],
    blockReplies: [RedisReply]
  ) throws -> RedisSnapshot {
    let rowBytes = dimension * 4
    func damaged(_ shard: Int, _ what: String) -> RedisStoreError {
      RedisStoreError(.damaged, store: "\(address)", "shard \(shard): \(what)")
    }
    var records: [[UInt64: ItemRecord]] = Array(repeating: [:], count: shards)
    for shard in 0..<shards {
      let fields = itemLists[shard].elements ?? []
      for pair in stride(from: 0, to: fields.count - 1, by: 2) {
        guard let idBytes = fields[pair].bytes, let id = Self.bigEndianID(idBytes),
          let record = fields[pair + 1].bytes.flatMap(ItemRecord.init(bytes:))
        else { throw damaged(shard, "an item record is malformed") }
        records[shard][id] = record
      }
    }
    var idLimit = UInt64(counters[2 * shards].integer ?? 0)
    var rows: [(id: UInt64, name: String, labels: ItemLabels, buffer: Int, row: Int)] = []
    var vectorBytes: [[UInt8]] = []
    var live = [Int](repeating: 0, count: shards)
    for (position, owner) in blockOwners.enumerated() {
      let vectors = blockReplies[2 * position].bytes ?? []
      let ids = blockReplies[2 * position + 1].bytes ?? []
      // Blocks are allocated whole: the rows in use are the shard's row count's share.
      let shardRows = Int(counters[2 * owner.shard].integer ?? 0)
      let used = min(shardBlockRows, shardRows - owner.block * shardBlockRows)
      guard ids.count >= used * 8, vectors.count >= used * rowBytes else {
        throw damaged(
          owner.shard,
          "block \(owner.block) holds \(vectors.count) bytes of vectors and \(ids.count / 8) ids; its \(used) rows in use need \(used * rowBytes) and \(used)"
        )
      }
      vectorBytes.append(vectors)
      for row in 0..<used {
        let id = (0..<8).reduce(UInt64(0)) { $0 | UInt64(ids[row * 8 + $1]) << (8 * $1) }
        guard id != UInt64.max else { continue }
        guard let record = records[owner.shard][id],
          record.row == owner.block * shardBlockRows + row
        else { throw damaged(owner.shard, "the row of id \(id) has no matching item record") }
        live[owner.shard] += 1
        idLimit = max(idLimit, id + 1)
        rows.append((id, record.name, record.labels, position, row))
      }
    }
    for shard in 0..<shards where live[shard] != Int(counters[2 * shard + 1].integer ?? 0) {
      throw damaged(
        shard,
        "\(live[shard]) live rows, but its count says \(counters[2 * shard + 1].integer ?? 0)")
    }
    return RedisSnapshot(
      dimension: dimension, metric: metric, idLimit: idLimit, rows: rows,
      vectorBytes: vectorBytes)
  }
}
