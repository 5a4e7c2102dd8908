/// A run of consecutive vectors in memory: rows `firstID ..< firstID + rowCount`, each `dimension`
/// `Float`s, row-major. Blocks handed out by a store point into its memory map and are valid only
/// inside the read transaction that produced them.
public struct VectorBlock {
  /// The id of the first row.
  public let firstID: UInt64
  /// The number of rows.
  public let rowCount: Int
  /// The rows' values.
  public let values: UnsafePointer<Float>
  /// A bitmap of deleted rows (bit `i % 8` of byte `i / 8` set when row `i` is deleted), or `nil`
  /// when every row is live.
  public let deleted: UnsafePointer<UInt8>?

  /// Describes a block.
  ///
  /// - Parameters:
  ///   - firstID: the id of the first row.
  ///   - rowCount: the number of rows.
  ///   - values: `rowCount × dimension` values.
  ///   - deleted: the deleted-row bitmap, if any row is deleted.
  public init(
    firstID: UInt64, rowCount: Int, values: UnsafePointer<Float>, deleted: UnsafePointer<UInt8>?
  ) {
    self.firstID = firstID
    self.rowCount = rowCount
    self.values = values
    self.deleted = deleted
  }

  /// Rows per block for vectors of `dimension` values: about 256 KiB of floats, a power of two
  /// between 16 and 4096 (one exact-search product's rows; how every store lays out its blocks).
  public static func rows(forDimension dimension: Int) -> Int {
    var rows = 16
    while rows < 4096 && rows * 2 * dimension * 4 <= 256 << 10 { rows *= 2 }
    return rows
  }

  /// Whether row `index` (0-based within the block) is deleted.
  @inline(__always)
  public func isDeleted(_ index: Int) -> Bool {
    guard let deleted else { return false }
    return deleted[index >> 3] & (1 << UInt8(index & 7)) != 0
  }
}
