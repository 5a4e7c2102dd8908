import StorageBackend
import VectorMath

/// The names and encodings of a store's LMDB databases (schema version 3; version 2 had no
/// group in item records, version 1 no `checksums` either; both are upgraded, in one
/// transaction, when opened for writing, and read as they are when opened read-only).
///
/// | database | key | value |
/// |---|---|---|
/// | `meta` | UTF-8 name | UTF-8 text (`schema`, `dimension`, `metric`, `block_rows`, `count`, `next_id`, …) |
/// | `vectors` | first id of a block, `UInt64` big-endian | up to `block_rows` rows of `dimension` little-endian `Float32`s |
/// | `deleted` | first id of a block | bitmap of deleted rows (bit `i % 8` of byte `i / 8`); only blocks with deletions |
/// | `items` | id, `UInt64` big-endian | pid `Int32` LE, camera `Int32` LE, group `Int32` LE (`Int32.min` = unknown; schema 2 and 1 had no group), name UTF-8 |
/// | `names` | name, UTF-8 | id, `UInt64` big-endian |
/// | `checksums` | kind byte + first id of a block | CRC32C, `UInt32` LE (see ``StoreChecksums``) |
enum StoreSchema {
  static let version = 3
  /// The version before item records carried a group; read as it is, upgraded when opened for
  /// writing.
  static let versionWithoutGroups = 2
  /// The version before checksums; read as it is, upgraded when opened for writing.
  static let versionWithoutChecksums = 1

  /// The bytes before the name in an item record of a schema version.
  static func itemHeaderBytes(schema: Int) -> Int { schema >= version ? 12 : 8 }
  static let checksums = "checksums"
  static let meta = "meta"
  static let vectors = "vectors"
  static let deleted = "deleted"
  static let items = "items"
  static let names = "names"

  enum MetaKey {
    static let schema = "schema"
    static let dimension = "dimension"
    static let metric = "metric"
    static let blockRows = "block_rows"
    static let count = "count"
    static let nextID = "next_id"
    static let createdBy = "created_by"
  }

  /// Rows per block: about 256 KiB of floats, a power of two between 16 and 4096.
  static func blockRows(forDimension dimension: Int) -> Int {
    VectorBlock.rows(forDimension: dimension)
  }

  /// The rows a block starting at `firstID` holds when ids up to `nextID` were assigned: every
  /// block but the last is full; 0 for a block past the last id.
  static func rows(inBlockStarting firstID: UInt64, nextID: UInt64, blockRows: Int) -> Int {
    Int(min(UInt64(blockRows), nextID > firstID ? nextID - firstID : 0))
  }

  /// An item record of this schema version: pid, camera, group, name.
  static func encodeItem(labels: ItemLabels, name: String) -> [UInt8] {
    labels.storedBytes + Array(name.utf8)
  }

  /// Reads an item record whose labels take `headerBytes` (see ``itemHeaderBytes(schema:)``).
  static func decodeItem(_ bytes: UnsafeRawBufferPointer, headerBytes: Int) -> (
    labels: ItemLabels, name: String
  )? {
    guard bytes.count >= headerBytes else { return nil }
    let name = String(decoding: bytes[headerBytes...], as: UTF8.self)
    return (ItemLabels(storedBytes: UnsafeRawBufferPointer(rebasing: bytes[..<headerBytes])), name)
  }
}

extension StorageReading {
  /// The live-item count and the next id, checked (`0 ≤ count ≤ nextID`).
  func counters(in meta: StorageTable, path: String) throws -> (count: Int, nextID: UInt64) {
    let count = try metaInteger(StoreSchema.MetaKey.count, in: meta) ?? 0
    let nextID = try metaInteger(StoreSchema.MetaKey.nextID, in: meta) ?? 0
    guard count >= 0, nextID >= 0, count <= nextID else {
      throw VectorStoreError.damaged(
        path: path,
        "its meta says \(count) live items and next id \(nextID) (expected 0 ≤ count ≤ next id)")
    }
    return (count, UInt64(nextID))
  }

  /// The bytes before the name in this transaction's item records (the schema may change
  /// under a reader that opened an older store when a writer upgrades it).
  func itemHeaderBytes(in meta: StorageTable) throws -> Int {
    StoreSchema.itemHeaderBytes(
      schema: try metaInteger(StoreSchema.MetaKey.schema, in: meta) ?? StoreSchema.version)
  }

  /// A meta value as text.
  func metaText(_ key: String, in meta: StorageTable) throws -> String? {
    try value(forKey: key, in: meta).map { String(decoding: $0, as: UTF8.self) }
  }

  /// A meta value as an integer.
  func metaInteger(_ key: String, in meta: StorageTable) throws -> Int? {
    try metaText(key, in: meta).flatMap { Int($0) }
  }
}

extension StorageWriting {
  /// Stores a meta value as text.
  func setMeta(_ key: String, _ text: String, in meta: StorageTable) throws {
    try put(text, forKey: key, in: meta)
  }
}
