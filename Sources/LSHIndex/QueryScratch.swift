/// Per-worker memory reused by every query of a search, allocated once: raw buffers, so the hot
/// loops touch no reference-counted or exclusivity-checked storage.
final class QueryScratch {
  /// Per id, the last query (epoch) that examined it exactly or queued it.
  let stamps: UnsafeMutableBufferPointer<UInt32>
  var epoch: UInt32 = 0
  /// The first round's queued candidates: (sketch bound, id).
  var queued: UnsafeMutableBufferPointer<(bound: Float, id: UInt64)>
  /// Bounds of the kept entries of one page, and their indices in the page.
  let pageBounds: UnsafeMutableBufferPointer<Float>
  let kept: UnsafeMutableBufferPointer<UInt32>
  /// The query's look-up tables (``CompactCoder/queryTables(projection:residualNorm:table:residual:)``).
  let table: UnsafeMutableBufferPointer<Float>
  let residual: UnsafeMutableBufferPointer<Float>
  /// The home buckets of the current query: (table, code).
  var homes: [(table: Int, code: UInt64)]
  var probers: [BucketHasher.Prober]
  var encoder: ItemEncoder.Scratch

  init(items: Int, tables: Int, encoder: ItemEncoder) {
    stamps = .allocate(capacity: max(items, 1))
    stamps.initialize(repeating: 0)
    queued = .allocate(capacity: 4096)
    queued.initialize(repeating: (0, 0))
    pageBounds = .allocate(capacity: Self.pageCapacity)
    pageBounds.initialize(repeating: 0)
    kept = .allocate(capacity: Self.pageCapacity)
    kept.initialize(repeating: 0)
    table = .allocate(capacity: max(1, encoder.coder.dimensions * 256))
    table.initialize(repeating: 0)
    residual = .allocate(capacity: 256)
    residual.initialize(repeating: 0)
    homes = []
    homes.reserveCapacity(tables)
    probers = Array(repeating: BucketHasher.Prober(), count: tables)
    self.encoder = encoder.makeScratch()
  }

  /// The most entries a page holds (LMDB pages of 4 KiB hold fewer; tables of memory use this).
  static let pageCapacity = 4096

  /// Starts a query: a fresh epoch (clearing the stamps when the counter wraps).
  func nextEpoch() -> UInt32 {
    if epoch == UInt32.max {
      stamps.update(repeating: 0)
      epoch = 0
    }
    epoch += 1
    return epoch
  }

  /// Makes room for `count` queued candidates.
  func reserveQueued(_ count: Int) {
    guard count > queued.count else { return }
    let larger = UnsafeMutableBufferPointer<(bound: Float, id: UInt64)>.allocate(
      capacity: max(count, 2 * queued.count))
    larger.initialize(repeating: (0, 0))
    _ = larger.update(fromContentsOf: queued)
    queued.deallocate()
    queued = larger
  }

  deinit {
    stamps.deallocate()
    queued.deallocate()
    pageBounds.deallocate()
    kept.deallocate()
    table.deallocate()
    residual.deallocate()
  }
}
