import CKernels
import StorageBackend

/// CRC32C checksums of the store's own data (schema 2), kept in the `checksums` database.
///
/// LMDB checks the shape of its pages but not the bytes of values, so a damaged page can hand a
/// reader plausible garbage. One checksum covers each unit the store writes as a whole:
///
/// | key | covers |
/// |---|---|
/// | `v` + first id (`UInt64` BE) | the block's bytes in `vectors` |
/// | `d` + first id | the block's bitmap in `deleted` (absent when the block has none) |
/// | `i` + first id | the `items` records of the block's ids: each key, value length and value |
///
/// Values are the CRC32C as `UInt32` little-endian. Every write transaction updates the checksums
/// of the blocks it changed; ``StoreChecker`` verifies them all. Queries do not verify them: a
/// 1M × 128 store is 512 MB of CRC work per probe, more than the search itself.
enum StoreChecksums {
  /// What a checksum covers.
  enum Kind: UInt8, CaseIterable, Sendable {
    case vectors = 0x76  // "v"
    case deleted = 0x64  // "d"
    case items = 0x69  // "i"

    /// The database the data lives in.
    var databaseName: String {
      switch self {
      case .vectors: return StoreSchema.vectors
      case .deleted: return StoreSchema.deleted
      case .items: return StoreSchema.items
      }
    }
  }

  /// The checksum key of a block's data of one kind.
  static func key(_ kind: Kind, block: UInt64) -> [UInt8] {
    var key = [kind.rawValue]
    withUnsafeBytes(of: block.bigEndian) { key.append(contentsOf: $0) }
    return key
  }

  /// CRC32C of some bytes, continuing from `crc`.
  static func crc(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
    tripindex_crc32c(crc, bytes.baseAddress, bytes.count)
  }

  /// Records a block's checksum.
  static func record(
    _ checksum: UInt32, kind: Kind, block: UInt64, in database: StorageTable,
    txn: some StorageWriting
  ) throws {
    var value: [UInt8] = []
    withUnsafeBytes(of: checksum.littleEndian) { value.append(contentsOf: $0) }
    try txn.put(value, forKey: key(kind, block: block), in: database)
  }

  /// Removes a block's checksum of one kind (its data is gone).
  static func remove(kind: Kind, block: UInt64, in database: StorageTable, txn: some StorageWriting)
    throws
  {
    _ = try txn.delete(forKey: key(kind, block: block), in: database)
  }

  /// The checksum recorded for a block, `nil` when none is, or `.some(nil)` when the record is
  /// not 4 bytes (itself damaged).
  static func recorded(
    kind: Kind, block: UInt64, in database: StorageTable, txn: some StorageReading
  )
    throws -> UInt32??
  {
    guard let bytes = try txn.value(forKey: key(kind, block: block), in: database) else {
      return nil
    }
    guard bytes.count == 4 else { return .some(nil) }
    return .some(UInt32(littleEndian: bytes.loadUnaligned(as: UInt32.self)))
  }

  /// One item record's contribution to its block's checksum: the key, the value's length
  /// (`UInt32` LE), then the value.
  static func addItem(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, to crc: UInt32)
    -> UInt32
  {
    var crc = self.crc(key, continuing: crc)
    withUnsafeBytes(of: UInt32(value.count).littleEndian) { crc = self.crc($0, continuing: crc) }
    return self.crc(value, continuing: crc)
  }

  /// The checksum of the `items` records of ids `block ..< block + rows`.
  static func itemsChecksum(
    block: UInt64, rows: Int, items: StorageTable, txn: some StorageReading
  ) throws -> UInt32 {
    var crc: UInt32 = 0
    let end = block + UInt64(rows)
    try txn.withCursor(in: items) { cursor in
      var entry = try cursor.seek(atLeast: BigEndianKey(block))
      while let current = entry {
        guard let key = BigEndianKey(bytes: current.key), key.value < end else { break }
        crc = addItem(key: current.key, value: current.value, to: crc)
        entry = try cursor.next()
      }
    }
    return crc
  }
}
