import RedisCluster
import Synchronization
import VectorMath
import VectorStore

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Every live item of a store on a Redis Cluster, gathered from all shards into id-ordered
/// blocks in memory: an ``ItemSnapshot`` that exact and LSH search read as they read an LMDB
/// snapshot (same ids, same blocks of ``blockRows``, ids never written marked deleted).
///
/// A snapshot reads the shards' vector and id blocks only (each shard between two looks at its
/// write counter; a shard written meanwhile is read again, so the snapshot holds whole shard
/// writes only). Item records (names, labels, checksums) are fetched when asked for: those of a
/// search's results by id, all of them at once for ``forEachItem(_:)`` (filters, `copy`,
/// `export`), which also checks every vector against its record's checksum, as
/// ``RedisStore/check()`` does for the whole store.
public final class RedisSnapshot: ItemSnapshot, @unchecked Sendable {
  /// Values per vector.
  public let dimension: Int
  /// The store's metric.
  public let metric: DistanceMetric
  /// Rows per block.
  public let blockRows: Int
  /// The live items.
  public let count: Int
  /// The store's id counter when it was read: every id is below it.
  public let idLimit: UInt64
  /// The blocks, pointing into this snapshot's memory (valid while it lives).
  public let blocks: [VectorBlock]
  /// The store's metadata values when it was read.
  let metadataValues: [String: String]
  /// Each shard's write counter when it was read.
  public let generations: [Int64?]
  /// The rows laid out by id (the memory ``blocks`` point into), with each id's shard.
  private let rows: SnapshotRows
  private let store: RedisStore
  /// Records fetched so far, and whether all of them are.
  private let records = Mutex<(items: [UInt64: ItemRecord], complete: Bool)>(([:], false))

  /// A snapshot of rows read and laid out.
  init(
    store: RedisStore, rows: SnapshotRows, metadata: [String: String], generations: [Int64?]
  ) {
    self.store = store
    self.rows = rows
    dimension = store.dimension
    metric = store.metric
    blockRows = rows.blockRows
    idLimit = rows.idLimit
    count = rows.count
    blocks = rows.finish()
    metadataValues = metadata
    self.generations = generations
  }

  /// The shard and the row in it of a live id, or `nil`.
  func location(of id: UInt64) -> (shard: Int, row: Int)? { rows.location(of: id) }

  /// The name and labels of a live item, or `nil` for an unknown or deleted id.
  ///
  /// - Throws: ``RedisError``; ``RedisStoreError`` of kind `damaged` for a record that does not
  ///   decode or names another row.
  public func item(id: UInt64) throws -> StoredItem? {
    try items(ids: [id])[0]
  }

  /// The items of many ids, fetched in one pipeline (each id's record from its own shard).
  ///
  /// - Throws: as ``item(id:)``.
  public func items(ids: [UInt64]) throws -> [StoredItem?] {
    let held = records.withLock { $0.items }
    var missing: [(id: UInt64, shard: Int)] = []
    var asked = Set<UInt64>()
    for id in ids where held[id] == nil && asked.insert(id).inserted {
      if let place = location(of: id) { missing.append((id, place.shard)) }
    }
    var fetched: [UInt64: ItemRecord] = [:]
    if !missing.isEmpty {
      let replies = try store.client.pipeline(
        missing.map {
          RedisCommand("HGET", store.keys.shard($0.shard).items, RedisStore.bigEndian($0.id))
        })
      for ((id, _), reply) in zip(missing, replies) {
        guard let bytes = reply.bytes else { continue }
        fetched[id] = try record(id: id, bytes: bytes)
      }
      records.withLock { $0.items.merge(fetched) { old, _ in old } }
    }
    return ids.map { id in
      (held[id] ?? fetched[id]).map { StoredItem(id: id, name: $0.name, labels: $0.labels) }
    }
  }

  /// Decodes a fetched record and checks that it names the row its id was read from.
  private func record(id: UInt64, bytes: [UInt8]) throws -> ItemRecord {
    guard let record = ItemRecord(bytes: bytes), let place = location(of: id),
      record.row == place.row
    else {
      throw RedisStoreError(
        .damaged, store: "\(store.address)",
        "the record of id \(id) is malformed or names another row; `tripindex check --store \(store.address)` lists all damage"
      )
    }
    return record
  }

  /// Calls `body` for every live item, in id order, each vector checked against its record's
  /// checksum.
  ///
  /// - Throws: ``RedisStoreError`` of kind `damaged` for a live row without a record or a
  ///   vector that fails its checksum; ``RedisError``; what `body` throws.
  public func forEachItem(_ body: (StoredItem, UnsafeBufferPointer<Float>) throws -> Void) throws {
    let all = try allRecords()
    for id in 0..<idLimit {
      guard let vector = vector(id: id) else { continue }
      guard let record = all[id] else {
        throw RedisStoreError(
          .damaged, store: "\(store.address)",
          "the row of id \(id) has no item record; `tripindex check --store \(store.address)` lists all damage"
        )
      }
      let checksum = ItemRecord.checksum(UnsafeRawBufferPointer(vector))
      guard checksum == record.checksum else {
        throw RedisStoreError(
          .damaged, store: "\(store.address)",
          "the vector of id \(id) ('\(record.name)') fails its checksum (recorded \(record.checksum), computed \(checksum)); `tripindex check --store \(store.address)` lists all damage"
        )
      }
      try body(StoredItem(id: id, name: record.name, labels: record.labels), vector)
    }
  }

  /// Every live item's record, fetched once (`HGETALL` of every shard).
  private func allRecords() throws -> [UInt64: ItemRecord] {
    if let all = records.withLock({ $0.complete ? $0.items : nil }) { return all }
    let lists = try store.client.pipeline(
      (0..<store.shards).map { RedisCommand("HGETALL", store.keys.shard($0).items) })
    var all: [UInt64: ItemRecord] = [:]
    all.reserveCapacity(count)
    for list in lists {
      for (key, value) in list.fieldPairs {
        guard let id = key.bytes.flatMap(RedisStore.bigEndianID), location(of: id) != nil,
          let bytes = value.bytes
        else { continue }  // a record of a row written after this snapshot was read
        all[id] = try record(id: id, bytes: bytes)
      }
    }
    records.withLock { $0 = (all, true) }
    return all
  }

  /// A metadata value as the store held it when it was read.
  public func metadata(_ key: String) -> String? { metadataValues[key] }
}

/// The memory a snapshot lays its rows out in, by id, filled block by block as the shards'
/// blocks arrive (so a read holds one chunk of replies at a time, not a second copy of the
/// store): the vectors, the deleted-rows bitmaps, and each id's shard and row in it.
final class SnapshotRows: @unchecked Sendable {
  let dimension: Int
  let blockRows: Int
  let idLimit: UInt64
  /// Live rows placed.
  private(set) var count = 0
  private let values: UnsafeMutableBufferPointer<Float>
  private let valueBytes: Int
  /// Whether ``values`` was mapped (else allocated).
  private let isMapped: Bool
  private let deletedBits: UnsafeMutableBufferPointer<UInt8>
  private let bitmapBytes: Int
  // Buffers rather than arrays: a class's array properties are checked for exclusive access
  // on every use, which cost more than the copy of the row itself.
  private let shardOfID: UnsafeMutableBufferPointer<UInt16>
  private let rowOfID: UnsafeMutableBufferPointer<UInt32>

  init(dimension: Int, idLimit: UInt64) {
    self.dimension = dimension
    self.idLimit = idLimit
    blockRows = VectorBlock.rows(forDimension: dimension)
    let total = Int(idLimit)
    // Anonymous pages come zeroed (rows of ids that are not live stay zero, as search reads
    // whole blocks), mapped in one go rather than one fault per page as rows land (about 10%
    // faster for a million rows of 128). Not in 2 MiB pages: with the kernel's default
    // `defrag=madvise` a fault on a huge page may compact memory first, and reading that
    // store took 0.75 s or 1.9 s by the state of memory against a steady 0.9 s without.
    let valueCount = max(1, total * dimension)
    valueBytes = valueCount * MemoryLayout<Float>.size
    let mapped = mmap(
      nil, valueBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0)
    if let mapped, mapped != MAP_FAILED {
      values = UnsafeMutableBufferPointer(
        start: mapped.bindMemory(to: Float.self, capacity: valueCount), count: valueCount)
      isMapped = true
    } else {
      values = .allocate(capacity: valueCount)
      values.initialize(repeating: 0)
      isMapped = false
    }
    bitmapBytes = (blockRows + 7) / 8
    deletedBits = .allocate(
      capacity: max(1, (total + blockRows - 1) / blockRows * bitmapBytes))
    deletedBits.initialize(repeating: 0xff)
    shardOfID = .allocate(capacity: max(1, total))
    shardOfID.initialize(repeating: .max)
    rowOfID = .allocate(capacity: max(1, total))
    rowOfID.initialize(repeating: 0)
  }

  deinit {
    if isMapped { munmap(values.baseAddress, valueBytes) } else { values.deallocate() }
    deletedBits.deallocate()
    shardOfID.deallocate()
    rowOfID.deallocate()
  }

  /// Places one live row (the id must be below ``idLimit``).
  func place(id: UInt64, shard: Int, shardRow: Int, vector: UnsafeRawBufferPointer) {
    let index = Int(id)
    let rowBytes = dimension * MemoryLayout<Float>.size
    if shardOfID[index] == .max { count += 1 }
    UnsafeMutableRawBufferPointer(
      rebasing: UnsafeMutableRawBufferPointer(values)[(index * rowBytes)..<((index + 1) * rowBytes)]
    ).copyMemory(from: vector)
    deletedBits[(index / blockRows) * bitmapBytes + (index % blockRows) / 8] &=
      ~(1 << UInt8(index % 8))
    shardOfID[index] = UInt16(shard)
    rowOfID[index] = UInt32(shardRow)
  }

  /// The shard and the row in it of a live id, or `nil`.
  func location(of id: UInt64) -> (shard: Int, row: Int)? {
    guard id < idLimit, shardOfID[Int(id)] != .max else { return nil }
    return (Int(shardOfID[Int(id)]), Int(rowOfID[Int(id)]))
  }

  /// The blocks, pointing into this memory (rows of ids that are not live are zero).
  func finish() -> [VectorBlock] {
    guard let base = values.baseAddress, let bits = deletedBits.baseAddress else { return [] }
    let total = Int(idLimit)
    return stride(from: 0, to: total, by: blockRows).map { first in
      VectorBlock(
        firstID: UInt64(first), rowCount: min(blockRows, total - first),
        values: base + first * dimension, deleted: bits + first / blockRows * bitmapBytes)
    }
  }
}

extension RedisStore {
  /// How often a read may find shards written under it before it gives up.
  static let maximumReadAttempts = 20
  /// The most ids the counter may be ahead of the rows held (failed batches' gaps).
  static let maximumIDGap: UInt64 = 1 << 24

  /// Reads every shard's blocks into one snapshot.
  ///
  /// - Returns: the snapshot.
  /// - Throws: ``RedisStoreError`` of kind `damaged` when a block is shorter than its shard's
  ///   rows need or a shard kept changing; ``RedisError``.
  public func snapshot() throws -> RedisSnapshot {
    try snapshot(reusing: nil)
  }

  /// Reads every shard into one snapshot, or returns `previous` when no shard has been written
  /// and no metadata changed since it was read (two small reads instead of every block).
  ///
  /// - Parameters:
  ///   - previous: a snapshot of this store read earlier, or `nil`.
  ///   - blocksPerRead: blocks asked for per pipeline (the replies held at once).
  /// - Returns: a current snapshot.
  /// - Throws: as ``snapshot()``.
  public func snapshot(reusing previous: RedisSnapshot?, blocksPerRead: Int = blocksPerRead)
    throws -> RedisSnapshot
  {
    if let previous {
      let generations = try client.pipeline(
        (0..<shards).map { RedisCommand("GET", keys.shard($0).generation) }
      ).map(\.integer)
      if generations == previous.generations, try allMetadata() == previous.metadataValues {
        return previous
      }
    }
    let (snapshot, problems) = try readShards(blocksPerRead: max(1, blocksPerRead))
    if let first = problems.first { throw RedisStoreError(.damaged, store: "\(address)", first) }
    return snapshot
  }

  /// Reads every shard and lists everything damaged: blocks shorter than their rows, records
  /// that do not decode, rows without a matching record and records without their row, vectors
  /// that fail their checksums, names that lead nowhere, counts that disagree with the rows,
  /// index postings that disagree with the items' vectors.
  ///
  /// - Returns: one line per problem; empty when the store is sound.
  /// - Throws: ``RedisError``, or ``RedisStoreError`` when the shards kept changing.
  public func check() throws -> [String] {
    let shardKeys = (0..<shards).map { keys.shard($0) }
    for _ in 0..<Self.maximumReadAttempts {
      let (snapshot, layoutProblems) = try readShards(blocksPerRead: Self.blocksPerRead)
      let itemLists = try client.pipeline(shardKeys.map { RedisCommand("HGETALL", $0.items) })
      let nameLists = try client.pipeline(shardKeys.map { RedisCommand("HGETALL", $0.names) })
      let counts = try client.pipeline(shardKeys.map { RedisCommand("GET", $0.count) })
      let postings = try postingsProblems(of: snapshot)
      let after = try client.pipeline(shardKeys.map { RedisCommand("GET", $0.generation) })
      guard after.map(\.integer) == snapshot.generations else { continue }
      return layoutProblems
        + problems(
          of: snapshot, itemLists: itemLists, nameLists: nameLists, counts: counts.map(\.integer))
        + postings
    }
    throw keptChanging
  }

  /// The error of a read that found shards written under it every time it tried.
  private var keptChanging: RedisStoreError {
    RedisStoreError(
      .damaged, store: "\(address)",
      "its shards kept changing during \(Self.maximumReadAttempts) reads; try again when the writes are done"
    )
  }

  /// What a snapshot's records, names and counts say is wrong.
  private func problems(
    of snapshot: RedisSnapshot, itemLists: [RedisReply], nameLists: [RedisReply],
    counts: [Int64?]
  ) -> [String] {
    var problems: [String] = []
    var recorded: [[UInt64: ItemRecord]] = Array(repeating: [:], count: shards)
    // Rows with their record, per shard: what the shard's count should say.
    var live = [Int](repeating: 0, count: shards)
    for shard in 0..<shards {
      for (key, value) in itemLists[shard].fieldPairs {
        guard let id = key.bytes.flatMap(Self.bigEndianID),
          let record = value.bytes.flatMap(ItemRecord.init(bytes:))
        else {
          problems.append("shard \(shard): an item record is malformed")
          continue
        }
        recorded[shard][id] = record
        guard let place = snapshot.location(of: id), place == (shard, record.row),
          let vector = snapshot.vector(id: id)
        else {
          problems.append("shard \(shard): the record of id \(id) has no matching row")
          continue
        }
        live[shard] += 1
        let checksum = ItemRecord.checksum(UnsafeRawBufferPointer(vector))
        if checksum != record.checksum {
          problems.append(
            "shard \(shard): the vector of id \(id) ('\(record.name)') fails its checksum (recorded \(record.checksum), computed \(checksum))"
          )
        }
      }
      for (key, value) in nameLists[shard].fieldPairs {
        let name = key.text ?? "?"
        guard let id = value.bytes.flatMap(Self.bigEndianID),
          recorded[shard][id]?.name == name
        else {
          problems.append("shard \(shard): name '\(name)' leads to no item of that name")
          continue
        }
      }
    }
    for id in 0..<snapshot.idLimit {
      guard let place = snapshot.location(of: id), recorded[place.shard][id] == nil else {
        continue
      }
      problems.append("shard \(place.shard): the row of id \(id) has no matching item record")
    }
    for shard in 0..<shards where live[shard] != Int(counts[shard] ?? 0) {
      problems.append(
        "shard \(shard): \(live[shard]) live rows, but its count says \(counts[shard] ?? 0)")
    }
    return problems
  }

  /// Blocks read per pipeline while a snapshot is laid out, by default (16 MiB of 256 KiB
  /// blocks).
  public static let blocksPerRead = 64

  /// One consistent read of every shard's blocks, laid out by id as they arrive, and the
  /// blocks too short for their shard's rows (which are reported, not read).
  private func readShards(blocksPerRead: Int) throws -> (RedisSnapshot, [String]) {
    let shardKeys = (0..<shards).map { keys.shard($0) }
    let metadata = try allMetadata()
    let rowBytes = dimension * MemoryLayout<Float>.size
    for _ in 0..<Self.maximumReadAttempts {
      let before = try client.pipeline(shardKeys.map { RedisCommand("GET", $0.generation) })
      let counters = try client.pipeline(
        shardKeys.map { RedisCommand("GET", $0.rows) } + [RedisCommand("GET", keys.nextID)])
      var problems: [String] = []
      let shardRows = (0..<shards).map { Int(max(0, counters[$0].integer ?? 0)) }
      var idLimit = UInt64(max(0, counters[shards].integer ?? 0))
      // Gaps in the ids come from failed batches, a batch at a time: a counter far beyond the
      // rows the shards hold is damage, not a store to lay out.
      let heldRows = shardRows.reduce(0, +)
      if idLimit > UInt64(heldRows) + Self.maximumIDGap {
        problems.append(
          "its id counter says \(idLimit) ids were assigned, but its shards hold \(heldRows) rows (is the key \(keys.nextID) damaged?)"
        )
        idLimit = UInt64(heldRows)
      }
      let blocks = (0..<shards).flatMap { shard in
        (0..<((shardRows[shard] + shardBlockRows - 1) / shardBlockRows)).map { (shard, $0) }
      }
      let rows = SnapshotRows(dimension: dimension, idLimit: idLimit)
      for start in stride(from: 0, to: blocks.count, by: blocksPerRead) {
        let chunk = blocks[start..<min(blocks.count, start + blocksPerRead)]
        let replies = try client.pipeline(
          chunk.flatMap { shard, block in
            [
              RedisCommand("GET", shardKeys[shard].ids(block)),
              RedisCommand("GET", shardKeys[shard].vectors(block)),
            ]
          })
        for (position, (shard, block)) in chunk.enumerated() {
          // Blocks are allocated whole: the rows in use are the shard's row count's share.
          let used = min(shardBlockRows, shardRows[shard] - block * shardBlockRows)
          problems += place(
            ids: replies[2 * position].bytes ?? [], vectors: replies[2 * position + 1].bytes ?? [],
            used: used, shard: shard, block: block, rowBytes: rowBytes, into: rows)
        }
      }
      let after = try client.pipeline(shardKeys.map { RedisCommand("GET", $0.generation) })
      guard before == after else { continue }
      let snapshot = RedisSnapshot(
        store: self, rows: rows, metadata: metadata, generations: before.map(\.integer))
      return (snapshot, problems)
    }
    throw keptChanging
  }

  /// Places the live rows of one block read; returns what is wrong with it.
  private func place(
    ids: [UInt8], vectors: [UInt8], used: Int, shard: Int, block: Int, rowBytes: Int,
    into rows: SnapshotRows
  ) -> [String] {
    guard ids.count >= used * 8, vectors.count >= used * rowBytes else {
      return [
        "shard \(shard): block \(block) holds \(vectors.count) bytes of vectors and \(ids.count / 8) ids; its \(used) rows in use need \(used * rowBytes) and \(used)"
      ]
    }
    var problems: [String] = []
    ids.withUnsafeBytes { idBytes in
      vectors.withUnsafeBytes { vectorBytes in
        for row in 0..<used {
          let id = UInt64(
            littleEndian: idBytes.loadUnaligned(fromByteOffset: row * 8, as: UInt64.self))
          guard id != UInt64.max else { continue }
          // Every id is reserved from the counter before it is written.
          guard id < rows.idLimit else {
            problems.append(
              "shard \(shard): row \(block * shardBlockRows + row) holds id \(id), but the store has assigned ids below \(rows.idLimit) only"
            )
            continue
          }
          rows.place(
            id: id, shard: shard, shardRow: block * shardBlockRows + row,
            vector: UnsafeRawBufferPointer(
              rebasing: vectorBytes[(row * rowBytes)..<((row + 1) * rowBytes)]))
        }
      }
    }
    return problems
  }
}
