/// Vectors in blocks of consecutive ids, as search, evaluation and indexing read them, whatever
/// holds them: a store's memory map (`StoreSnapshot`) or a matrix in memory (``MatrixSource``).
///
/// Block `i` starts at id `i × blockRows`; every block but the last holds `blockRows` rows
/// (deleted rows stay in place, marked). The pointers in ``blocks`` are valid only while the
/// source is: inside the closure or transaction that produced it.
public protocol VectorSource {
  /// Values per vector.
  var dimension: Int { get }
  /// The distance searches use.
  var metric: DistanceMetric { get }
  /// Rows per block (a power of two).
  var blockRows: Int { get }
  /// The vector blocks, in id order.
  var blocks: [VectorBlock] { get }
  /// The number of live vectors.
  var count: Int { get }
  /// One more than the largest id (every id is below it).
  var idLimit: UInt64 { get }
}

extension VectorSource {
  /// The vector of a live id, or `nil` for an unknown or deleted one.
  ///
  /// - Complexity: O(1).
  @inline(__always)
  public func vector(id: UInt64) -> UnsafeBufferPointer<Float>? {
    let blockIndex = Int(id / UInt64(blockRows))
    guard blockIndex < blocks.count else { return nil }
    let block = blocks[blockIndex]
    let offset = Int(id - block.firstID)
    guard offset < block.rowCount, !block.isDeleted(offset) else { return nil }
    return UnsafeBufferPointer(start: block.values + offset * dimension, count: dimension)
  }

  /// The ids of the live vectors, in id order.
  public var liveIDs: [UInt64] {
    var ids: [UInt64] = []
    ids.reserveCapacity(count)
    for block in blocks {
      for row in 0..<block.rowCount where !block.isDeleted(row) {
        ids.append(block.firstID + UInt64(row))
      }
    }
    return ids
  }

  /// An exact searcher over the source's vectors (valid while the source is).
  public var exactSearch: ExactSearch {
    ExactSearch(dimension: dimension, metric: metric, blocks: blocks)
  }
}

/// The rows of a matrix as a ``VectorSource``: row `i` is id `i`, no row is deleted.
///
/// Made only by ``Matrix/withVectorSource(metric:blockRows:_:)``, which keeps the matrix's storage
/// alive and in place while the source is used.
public struct MatrixSource: VectorSource {
  /// Values per vector.
  public let dimension: Int
  /// The distance searches use.
  public let metric: DistanceMetric
  /// Rows per block.
  public let blockRows: Int
  /// The blocks, pointing into the matrix.
  public let blocks: [VectorBlock]
  /// The number of rows.
  public let count: Int
  /// The number of rows (ids are `0 ..< count`).
  public var idLimit: UInt64 { UInt64(count) }
}

extension Matrix {
  /// Runs `body` with the rows as a ``VectorSource`` (row `i` is id `i`). The source points into
  /// the matrix's storage: it must not be kept after `body` returns.
  ///
  /// - Parameters:
  ///   - metric: the distance searches over the source use (rows must already be unit length
  ///     for cosine).
  ///   - blockRows: rows per block (a power of two).
  ///   - body: the work.
  /// - Returns: what `body` returns.
  public func withVectorSource<R>(
    metric: DistanceMetric, blockRows: Int = 4096, _ body: (MatrixSource) throws -> R
  ) rethrows -> R {
    precondition(blockRows > 0 && blockRows & (blockRows - 1) == 0, "blockRows: a power of two")
    return try values.withUnsafeBufferPointer { values in
      var blocks: [VectorBlock] = []
      if let base = values.baseAddress {
        var first = 0
        while first < rows {
          let count = Swift.min(blockRows, rows - first)
          blocks.append(
            VectorBlock(
              firstID: UInt64(first), rowCount: count, values: base + first * columns,
              deleted: nil))
          first += count
        }
      }
      return try body(
        MatrixSource(
          dimension: columns, metric: metric, blockRows: blockRows, blocks: blocks, count: rows))
    }
  }
}
