/// Per-worker memory reused by every query of a search, allocated once: raw buffers, so the hot
/// loops touch no reference-counted or exclusivity-checked storage.
final class QueryScratch {
  /// The ids the current query examined exactly or queued.
  let seen: SeenIDs
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
    seen = SeenIDs(capacity: items)
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
    queued.deallocate()
    pageBounds.deallocate()
    kept.deallocate()
    table.deallocate()
    residual.deallocate()
  }
}

/// A set of ids, one bit each (1/32 of a stamp per item: 12.5 KB for 100k items, which stays in
/// the first-level cache), emptied by clearing only the words a query set.
final class SeenIDs {
  private let words: UnsafeMutableBufferPointer<UInt64>
  private var touched: UnsafeMutableBufferPointer<Int>
  private var touchedCount = 0

  init(capacity: Int) {
    words = .allocate(capacity: max(1, (capacity + 63) / 64))
    words.initialize(repeating: 0)
    touched = .allocate(capacity: 256)
    touched.initialize(repeating: 0)
  }

  deinit {
    words.deallocate()
    touched.deallocate()
  }

  /// Whether `id` (below the capacity) is in the set.
  @inline(__always)
  func contains(_ id: Int) -> Bool { words[id >> 6] & (1 << UInt64(id & 63)) != 0 }

  /// Adds `id` (below the capacity).
  @inline(__always)
  func insert(_ id: Int) {
    let index = id >> 6
    if words[index] == 0 {
      if touchedCount == touched.count { growTouched() }
      touched[touchedCount] = index
      touchedCount += 1
    }
    words[index] |= 1 << UInt64(id & 63)
  }

  /// Empties the set.
  func removeAll() {
    for position in 0..<touchedCount { words[touched[position]] = 0 }
    touchedCount = 0
  }

  private func growTouched() {
    let larger = UnsafeMutableBufferPointer<Int>.allocate(capacity: 2 * touched.count)
    larger.initialize(repeating: 0)
    _ = larger.update(fromContentsOf: touched)
    touched.deallocate()
    touched = larger
  }
}
