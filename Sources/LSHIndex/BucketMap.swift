/// One hash table in memory: every bucket's ids in one array, found through an open-addressing
/// map from bucket code to (start, count). Lookups cost one or two probes of the map.
///
/// Large buckets can be ordered by a key (``orderLargeBuckets(atLeast:key:)``: four leading
/// coordinates, sorted by the first), so that a search can visit a crowded bucket from the
/// query's first coordinate outwards, skip items by the other three and stop early.
public struct BucketMap: Sendable {
  private var keys: [UInt64] = []
  private var starts: [UInt32] = []
  private var counts: [UInt32] = []
  private var mask = 0
  /// The ids of every bucket, bucket after bucket.
  public private(set) var ids: [UInt32] = []
  /// The number of non-empty buckets.
  public private(set) var bucketCount = 0
  /// The number of ids in the largest bucket.
  public private(set) var largestBucket = 0
  /// Each id's ordering key, parallel to ``ids`` (empty until buckets are ordered); buckets are
  /// sorted by its first lane.
  public private(set) var orderKeys: [SIMD4<Float>] = []

  /// Builds a table from (code, id) pairs.
  ///
  /// - Parameter pairs: the items' codes and ids; sorted here.
  public init(pairs: [(code: UInt64, id: UInt32)]) {
    let sorted = pairs.sorted { $0.code < $1.code || ($0.code == $1.code && $0.id < $1.id) }
    var builder = Builder(expectedBuckets: max(16, sorted.count / 4))
    for pair in sorted { builder.append(code: pair.code, id: pair.id) }
    self = builder.finish()
  }

  fileprivate init() {}

  /// Builds a table from buckets given in code order (as an LMDB cursor walks them).
  public struct Builder {
    private var table = BucketMap()
    private var entries: [(code: UInt64, start: UInt32, count: UInt32)] = []
    private var currentCode: UInt64?

    /// Starts a table.
    ///
    /// - Parameter expectedBuckets: a capacity hint.
    public init(expectedBuckets: Int) {
      entries.reserveCapacity(expectedBuckets)
    }

    /// Adds one id to the bucket `code`; ids of one bucket must arrive together.
    public mutating func append(code: UInt64, id: UInt32) {
      if currentCode != code {
        entries.append((code, UInt32(table.ids.count), 0))
        currentCode = code
      }
      table.ids.append(id)
      entries[entries.count - 1].count += 1
    }

    /// Adds many ids to the bucket `code`.
    public mutating func append(code: UInt64, ids: some Sequence<UInt32>) {
      for id in ids { append(code: code, id: id) }
    }

    /// The finished table.
    public mutating func finish() -> BucketMap {
      var capacity = 16
      while capacity < 2 * entries.count { capacity *= 2 }
      table.keys = Array(repeating: 0, count: capacity)
      table.starts = Array(repeating: 0, count: capacity)
      table.counts = Array(repeating: 0, count: capacity)
      table.mask = capacity - 1
      table.bucketCount = entries.count
      table.largestBucket = Int(entries.lazy.map(\.count).max() ?? 0)
      for entry in entries {
        var slot = BucketMap.slot(entry.code, mask: table.mask)
        while table.counts[slot] != 0 { slot = (slot + 1) & table.mask }
        table.keys[slot] = entry.code
        table.starts[slot] = entry.start
        table.counts[slot] = entry.count
      }
      return table
    }
  }

  @inline(__always)
  static func slot(_ code: UInt64, mask: Int) -> Int {
    Int(truncatingIfNeeded: (code &* 0x9E37_79B9_7F4A_7C15) >> 20) & mask
  }

  /// Sorts every bucket of at least `minimum` ids by the first lane of `key` (ties by id) and
  /// records the keys.
  ///
  /// - Parameters:
  ///   - minimum: the smallest bucket to order.
  ///   - key: an id's key.
  /// - Complexity: O(n log b) for n ids in buckets of size b.
  public mutating func orderLargeBuckets(atLeast minimum: Int, key: (UInt32) -> SIMD4<Float>) {
    guard largestBucket >= minimum else { return }
    var keys = [SIMD4<Float>](repeating: .zero, count: ids.count)
    var ids = self.ids
    self.ids = []
    var packed: [UInt64] = []
    var spare = [UInt64](repeating: 0, count: largestBucket)
    for slot in counts.indices where Int(counts[slot]) >= minimum {
      let range = Int(starts[slot])..<(Int(starts[slot]) + Int(counts[slot]))
      // Each key looked up once; then (order-preserving bits of its first lane, position in the
      // bucket) in one integer, radix-sorted on the key bits. Ids arrive ascending and the sort
      // is stable, so ties stay in id order.
      let bucketIDs = Array(ids[range])
      let bucketKeys = bucketIDs.map(key)
      packed.removeAll(keepingCapacity: true)
      for (position, lanes) in bucketKeys.enumerated() {
        packed.append(UInt64(Self.sortableBits(lanes.x)) << 32 | UInt64(position))
      }
      packed.withUnsafeMutableBufferPointer { values in
        spare.withUnsafeMutableBufferPointer { Self.radixSortByHighHalf(values, spare: $0) }
      }
      for (offset, entry) in packed.enumerated() {
        let position = Int(truncatingIfNeeded: entry & 0xFFFF_FFFF)
        ids[range.lowerBound + offset] = bucketIDs[position]
        keys[range.lowerBound + offset] = bucketKeys[position]
      }
    }
    self.ids = ids
    orderKeys = keys
  }

  /// Sorts by the upper 32 bits, stably, in four byte-wide counting passes (an even number, so
  /// the result ends in `values`).
  ///
  /// - Parameters:
  ///   - values: the values.
  ///   - spare: scratch of at least as many values.
  static func radixSortByHighHalf(
    _ values: UnsafeMutableBufferPointer<UInt64>, spare: UnsafeMutableBufferPointer<UInt64>
  ) {
    precondition(spare.count >= values.count, "the spare buffer is too small")
    var source = values
    var target = UnsafeMutableBufferPointer(rebasing: spare[0..<values.count])
    var offsets = [Int](repeating: 0, count: 256)
    for pass in 0..<4 {
      let shift = UInt64(32 + 8 * pass)
      offsets.withUnsafeMutableBufferPointer { offsets in
        offsets.update(repeating: 0)
        for value in source { offsets[Int((value >> shift) & 0xFF)] += 1 }
        var total = 0
        for digit in 0..<256 {
          let digitCount = offsets[digit]
          offsets[digit] = total
          total += digitCount
        }
        for value in source {
          let digit = Int((value >> shift) & 0xFF)
          target[offsets[digit]] = value
          offsets[digit] += 1
        }
      }
      swap(&source, &target)
    }
  }

  /// A float's bits, mapped so that unsigned integer order is the float order.
  @inline(__always)
  static func sortableBits(_ value: Float) -> UInt32 {
    let bits = value.bitPattern
    return bits & 0x8000_0000 != 0 ? ~bits : bits | 0x8000_0000
  }

  /// The range of ``ids`` holding bucket `code` (empty when absent).
  ///
  /// - Parameter code: the bucket code.
  /// - Returns: the range.
  @inline(__always)
  public func bucket(_ code: UInt64) -> Range<Int> {
    guard mask > 0 else { return 0..<0 }
    var slot = Self.slot(code, mask: mask)
    while counts[slot] != 0 {
      if keys[slot] == code {
        let start = Int(starts[slot])
        return start..<(start + Int(counts[slot]))
      }
      slot = (slot + 1) & mask
    }
    return 0..<0
  }
}
