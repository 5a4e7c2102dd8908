/// The keys of one store on a Redis Cluster (the layout of the RedisStoreDesign article): a few
/// store-wide keys, and per shard keys that share the hash tag `{NAME:s}`, so that everything of
/// one shard is in one slot and changes in one atomic script.
struct RedisStoreKeys: Sendable {
  /// The store's name.
  let name: String

  /// Dimension, metric, shard count, schema, rows per shard block.
  var meta: String { "\(name):meta" }
  /// The store-wide id counter.
  var nextID: String { "\(name):next_id" }
  /// The last fencing token handed to a writer.
  var fence: String { "\(name):fence" }

  /// The parameters of index version `version` (a hash: parameter name → bytes).
  func index(_ version: String) -> String { "\(name):lsh:\(version)" }

  /// The keys of shard `index`.
  func shard(_ index: Int) -> Shard { Shard(tag: "{\(name):\(index)}") }

  /// One shard's keys.
  struct Shard: Sendable {
    /// The hash tag every key of the shard carries.
    let tag: String
    /// The newest fencing token the shard has seen.
    var epoch: String { tag + ":epoch" }
    /// Name → id (8 bytes, big-endian).
    var names: String { tag + ":names" }
    /// Id (8 bytes, big-endian) → record: row (`UInt32` LE), pid, camera, group (`Int32` LE), name.
    var items: String { tag + ":items" }
    /// Rows used in the shard's blocks.
    var rows: String { tag + ":rows" }
    /// Live items of the shard.
    var count: String { tag + ":count" }
    /// Bumped by every write of the shard (a reader that sees it change reads the shard again).
    var generation: String { tag + ":gen" }
    /// The prefix of the shard's block keys (`vec:B`, `ids:B`), which scripts complete.
    var blockPrefix: String { tag + ":" }
    /// Block `block` of the shard's vectors.
    func vectors(_ block: Int) -> String { tag + ":vec:\(block)" }
    /// Block `block` of the shard's row ids (`UInt64` LE; all ones for a deleted row).
    func ids(_ block: Int) -> String { tag + ":ids:\(block)" }
    /// The index versions whose postings the shard keeps (space-separated): every write of the
    /// shard keeps each of them current.
    var postingVersions: String { tag + ":lsh" }
    /// The postings of table `table` of index version `version`: bucket code (`UInt64` LE) →
    /// the entries of the shard's items in that bucket, each followed by its row (`UInt32` LE).
    func postings(_ version: String, table: Int) -> String { tag + ":lsh:\(version):\(table)" }
  }

  /// The shard of an item: FNV-1a of its name's bytes, modulo the shard count (the same in
  /// every process and version).
  static func shard(ofName name: String, shards: Int) -> Int {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in name.utf8 {
      hash ^= UInt64(byte)
      hash = hash &* 0x100_0000_01b3
    }
    return Int(hash % UInt64(shards))
  }
}
