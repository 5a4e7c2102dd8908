import Synchronization

/// Per-worker memory reused by every query of a search, allocated once: raw buffers, so the hot
/// loops touch no reference-counted or exclusivity-checked storage. One worker uses it at a
/// time; between searches it waits in a ``ScratchPool``, handed over under its lock (hence
/// `@unchecked Sendable`).
final class QueryScratch: @unchecked Sendable {
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

  /// The shape a scratch was made for: reusable by a search of the same shape whose ids stay
  /// below its capacity.
  fileprivate var shape: (capacity: Int, tables: Int, encoder: ItemEncoder.Shape) {
    (seen.capacity, probers.count, ItemEncoder.Shape(of: encoder))
  }

  /// Makes room for `count` queued candidates.
  func reserveQueued(_ count: Int) {
    if count > queued.count { queued.grow(toAtLeast: count, filling: (0, 0)) }
  }

  deinit {
    queued.deallocate()
    pageBounds.deallocate()
    kept.deallocate()
    table.deallocate()
    residual.deallocate()
  }
}

/// Scratches of finished searches, kept for the next search of the same shape (a server's
/// one-probe searches would otherwise allocate and clear about 150 KB each: a tenth of their
/// time). The most recently returned are kept; the oldest go when the pool is full, so a store
/// that grows, or an index that changes, soon finds its own.
final class ScratchPool: Sendable {
  /// The pool searches use.
  static let shared = ScratchPool(limit: 8)

  private let idle = Mutex<[QueryScratch]>([])
  private let limit: Int

  /// A pool keeping at most `limit` scratches.
  init(limit: Int) { self.limit = limit }

  /// A scratch for a search of `items` ids over `tables` tables: the most recently returned one
  /// that fits, or a new one.
  func borrow(items: Int, tables: Int, encoder: ItemEncoder) -> QueryScratch {
    let wanted = ItemEncoder.Shape(encoder: encoder)
    let kept = idle.withLock { idle -> QueryScratch? in
      guard
        let index = idle.lastIndex(where: {
          let shape = $0.shape
          return shape.capacity >= items && shape.tables == tables && shape.encoder == wanted
        })
      else { return nil }
      return idle.remove(at: index)
    }
    return kept ?? QueryScratch(items: items, tables: tables, encoder: encoder)
  }

  /// Keeps a scratch whose search has finished (its seen ids emptied), dropping the oldest kept
  /// when the pool is full.
  func giveBack(_ scratch: QueryScratch) {
    scratch.seen.removeAll()
    idle.withLock { idle in
      if idle.count >= limit { idle.removeFirst() }
      idle.append(scratch)
    }
  }
}

/// A set of ids, one bit each (1/32 of a stamp per item: 12.5 KB for 100k items, which stays in
/// the first-level cache), emptied by clearing only the words a query set.
final class SeenIDs {
  private let words: UnsafeMutableBufferPointer<UInt64>
  private var touched: UnsafeMutableBufferPointer<Int>
  private var touchedCount = 0

  /// Ids below this can be held.
  var capacity: Int { words.count * 64 }

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
  ///
  /// - Returns: whether it was not in the set yet.
  @inline(__always)
  @discardableResult
  func insert(_ id: Int) -> Bool {
    let index = id >> 6
    let bit: UInt64 = 1 << UInt64(id & 63)
    let word = words[index]
    if word & bit != 0 { return false }
    if word == 0 {
      if touchedCount == touched.count { touched.grow(toAtLeast: touchedCount + 1, filling: 0) }
      touched[touchedCount] = index
      touchedCount += 1
    }
    words[index] = word | bit
    return true
  }

  /// Empties the set.
  func removeAll() {
    for position in 0..<touchedCount { words[touched[position]] = 0 }
    touchedCount = 0
  }
}

extension UnsafeMutableBufferPointer {
  /// Replaces the buffer with a larger one (at least `count` elements, at least twice as many
  /// as before) that starts with its elements, the rest set to `value`; frees the old one.
  mutating func grow(toAtLeast count: Int, filling value: Element) {
    let larger = UnsafeMutableBufferPointer.allocate(capacity: Swift.max(count, 2 * self.count))
    larger.initialize(repeating: value)
    _ = larger.update(fromContentsOf: self)
    deallocate()
    self = larger
  }
}
