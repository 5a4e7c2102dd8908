import CKernels
import LMDB
import VectorMath
import VectorStore

/// One answer of an approximate search.
public struct LSHSearchResult: Sendable {
  /// The neighbours found, closest first (distances as the store's metric defines them).
  public var neighbors: [Neighbor]
  /// Distinct candidates gathered from the buckets, each bounded through its sketch (items of a
  /// crowded bucket that its scan skipped or never reached are not counted).
  public var candidates: Int
  /// Candidates whose exact distance was computed.
  public var exactDistances: Int
}

extension LSHIndex {
  /// A query-time view of the index inside a read snapshot: the tables loaded into memory, the
  /// sketches and vectors read straight from the memory map. Valid only inside that snapshot.
  ///
  /// - Parameter snapshot: a read snapshot of the indexed store.
  /// - Returns: the searcher.
  /// - Throws: ``LSHError`` for a damaged table, ``VectorStoreError``.
  public func searcher(in snapshot: StoreSnapshot) throws -> LSHSearcher {
    var maps: [BucketMap] = []
    for table in tableDatabases {
      var builder = BucketMap.Builder(expectedBuckets: 1024)
      try snapshot.transaction.withCursor(in: table) { cursor in
        var entry = try cursor.first()
        while let current = entry {
          guard let code = BigEndianKey(bytes: current.key)?.value else {
            throw LSHError("an LSH table holds a malformed key; rebuild the index")
          }
          var page = try cursor.duplicatesPage()
          while let values = page {
            var offset = 0
            while offset + 8 <= values.count {
              let id = UInt64(
                bigEndian: values.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
              builder.append(code: code, id: UInt32(truncatingIfNeeded: id))
              offset += 8
            }
            page = try cursor.nextDuplicatesPage()
          }
          entry = try cursor.nextKey()
        }
      }
      maps.append(builder.finish())
    }
    var sketches: [UnsafePointer<Float>?] = Array(repeating: nil, count: snapshot.blocks.count)
    let copies = SketchCopies()
    try snapshot.transaction.withCursor(in: sketchDatabase) { cursor in
      var entry = try cursor.first()
      while let current = entry {
        if let start = BigEndianKey(bytes: current.key)?.value {
          let block = Int(start / UInt64(store.blockRows))
          if block < sketches.count { sketches[block] = copies.aligned(current.value) }
        }
        entry = try cursor.next()
      }
    }
    return LSHSearcher(
      model: model, snapshot: snapshot, maps: maps, sketches: sketches, keepAlive: copies)
  }
}

/// A contiguous buffer of sketches owned by a searcher (zeros for ids without one).
final class ContiguousSketches: @unchecked Sendable {
  let values: UnsafeMutableBufferPointer<Float>
  init(count: Int) {
    values = .allocate(capacity: max(count, 1))
    values.initialize(repeating: 0)
  }
  func rows(width: Int) -> Int { width == 0 ? 0 : values.count / width }
  deinit { values.deallocate() }
}

/// Aligned copies of sketch blocks LMDB returned at a 2-byte boundary (rare), freed with the searcher.
final class SketchCopies: @unchecked Sendable {
  private var buffers: [UnsafeMutablePointer<Float>] = []
  func aligned(_ bytes: UnsafeRawBufferPointer) -> UnsafePointer<Float>? {
    guard let base = bytes.baseAddress else { return nil }
    if Int(bitPattern: base) % 4 == 0 { return base.assumingMemoryBound(to: Float.self) }
    let copy = UnsafeMutablePointer<Float>.allocate(capacity: max(1, bytes.count / 4))
    UnsafeMutableRawBufferPointer(start: copy, count: bytes.count).copyMemory(from: bytes)
    buffers.append(copy)
    return UnsafePointer(copy)
  }
  deinit { for buffer in buffers { buffer.deallocate() } }
}

/// Answers approximate k-nearest-neighbour queries: gather candidates from the probed buckets of
/// every table (up to a budget), bound each candidate's distance through its sketch, then compute
/// exact distances in bound order and stop as soon as the next bound reaches the k-th exact
/// distance — so the answer is exact among the candidates (up to ties at the k-th distance).
/// Crowded buckets are scanned outwards along the first principal component instead, which
/// keeps that guarantee for every item of the bucket (budget permitting) while touching few.
public struct LSHSearcher: @unchecked Sendable {
  /// The hashing and projection parameters.
  public let model: LSHModel
  let snapshot: StoreSnapshot
  let maps: [BucketMap]
  /// Whatever owns memory the sketch pointers point into.
  let keepAlive: AnyObject
  let vectorBlocks: [VectorBlock]
  let blockShift: Int
  let blockMask: Int
  let dimension: Int
  let sketchWidth: Int
  /// Every sketch, contiguous, by id.
  let contiguous: ContiguousSketches

  init(
    model: LSHModel, snapshot: StoreSnapshot, maps: [BucketMap], sketches: [UnsafePointer<Float>?],
    keepAlive: AnyObject
  ) {
    self.model = model
    self.snapshot = snapshot
    self.keepAlive = keepAlive
    vectorBlocks = snapshot.blocks
    blockShift = snapshot.store.blockRows.trailingZeroBitCount
    blockMask = snapshot.store.blockRows - 1
    dimension = snapshot.store.dimension
    sketchWidth = model.configuration.sketchDimensions
    // One contiguous copy of every sketch, indexed by id: a candidate's sketch is one address
    // computation away.
    let contiguous = ContiguousSketches(count: Int(snapshot.nextID) * sketchWidth)
    let rows = snapshot.store.blockRows
    for (block, base) in sketches.enumerated() {
      guard let base else { continue }
      let first = block * rows
      let available = min(rows, max(0, Int(snapshot.nextID) - first))
      let blockRowCount =
        block < snapshot.blocks.count ? min(available, snapshot.blocks[block].rowCount) : 0
      guard blockRowCount > 0, let target = contiguous.values.baseAddress else { continue }
      (target + first * sketchWidth).update(from: base, count: blockRowCount * sketchWidth)
    }
    self.contiguous = contiguous
    // Crowded buckets sorted by the first principal component, keyed by the first four (the
    // sketch's leading values), so a query can scan them outwards from its own value, skip items
    // by the four-component bound and stop early.
    let width = sketchWidth
    let rowsWithSketch = contiguous.rows(width: width)
    var ordered = maps
    let crowded = maps.contains { $0.largestBucket >= Self.orderedBucketMinimum }
    if crowded, width > 0, let values = contiguous.values.baseAddress {
      // One compact pass over the sketches, so the per-table sorts look keys up in 16 bytes per
      // id rather than in whole sketch rows.
      let leading = (0..<rowsWithSketch).map { Self.leadingFour(values + $0 * width, width: width) }
      for table in ordered.indices {
        ordered[table].orderLargeBuckets(atLeast: Self.orderedBucketMinimum) { id in
          Int(id) < leading.count ? leading[Int(id)] : .zero
        }
      }
    }
    self.maps = ordered
  }

  /// Buckets with at least this many ids are scanned in key order with early stopping instead of
  /// being gathered whole.
  /// (Measured on 100k and 1M image patches: gathering whole is cheaper per id — batched and
  /// prefetched — so only buckets far larger than a query needs are worth scanning.)
  static let orderedBucketMinimum = 4096

  /// Ids on each side of the probe's position that a crowded home bucket contributes to the
  /// first, bound-ordered round.
  static let crowdedWindow = 32

  /// The first four values of a sketch (zeros past its width or without one).
  @inline(__always)
  static func leadingFour(_ sketch: UnsafePointer<Float>?, width: Int) -> SIMD4<Float> {
    var lanes = SIMD4<Float>.zero
    guard let sketch else { return lanes }
    for lane in 0..<min(4, width) { lanes[lane] = sketch[lane] }
    return lanes
  }

  /// Per-worker reusable memory, allocated once: raw buffers, so the hot loops touch no
  /// reference-counted or exclusivity-checked storage.
  final class Scratch {
    /// Per item, the last query (epoch) that saw it.
    let stamps: UnsafeMutableBufferPointer<UInt32>
    var epoch: UInt32 = 0
    /// The distinct candidates of the current query (one spare slot for branch-free appends).
    let candidates: UnsafeMutableBufferPointer<UInt32>
    /// Sketch bounds of the current query's first-phase candidates.
    let bounds: UnsafeMutableBufferPointer<(bound: Float, id: UInt32)>
    /// The crowded home buckets of the current query: the table, the bucket's range of the
    /// table's ids, and the window of it gathered in the first round.
    let crowded: UnsafeMutableBufferPointer<(table: Int, bucket: Range<Int>, window: Range<Int>)>
    var probers: [BucketHasher.Prober]

    init(items: Int, tables: Int) {
      crowded = .allocate(capacity: max(tables, 1))
      crowded.initialize(repeating: (0, 0..<0, 0..<0))
      stamps = .allocate(capacity: max(items, 1))
      stamps.initialize(repeating: 0)
      candidates = .allocate(capacity: items + 1)
      candidates.initialize(repeating: 0)
      bounds = .allocate(capacity: items + 1)
      bounds.initialize(repeating: (0, 0))
      probers = Array(repeating: BucketHasher.Prober(), count: tables)
    }

    deinit {
      stamps.deallocate()
      candidates.deallocate()
      bounds.deallocate()
      crowded.deallocate()
    }
  }

  /// Searches many probes (prepared for the store's metric: unit length for cosine).
  ///
  /// - Parameters:
  ///   - probes: one probe per row.
  ///   - k: neighbours per probe.
  ///   - probesPerTable: T; `nil` uses the index's setting.
  ///   - candidateBudget: the most candidates per probe; `nil` uses the index's setting (0 = none).
  ///   - threads: worker threads.
  /// - Returns: one result per probe, in order.
  public func search(
    _ probes: Matrix, k: Int, probesPerTable: Int? = nil, candidateBudget: Int? = nil,
    threads: Int = Parallel.processorCount
  ) -> [LSHSearchResult] {
    precondition(probes.columns == dimension, "probe dimension differs from the store's")
    let projected = model.transform.project(probes)
    let probeCount = probesPerTable ?? model.configuration.probes
    let budget = candidateBudget ?? model.configuration.candidateBudget
    var results = [LSHSearchResult](
      repeating: LSHSearchResult(neighbors: [], candidates: 0, exactDistances: 0),
      count: probes.rows)
    let workers = max(1, min(threads, probes.rows / 4))
    if workers > 1 { BLAS.setThreadCount(1) }
    results.withUnsafeMutableBufferPointer { results in
      let results = results
      Parallel.forEachChunk(of: probes.rows, count: workers) { _, range in
        let scratch = Scratch(items: Int(snapshot.nextID), tables: model.configuration.tables)
        probes.values.withUnsafeBufferPointer { probeValues in
          projected.values.withUnsafeBufferPointer { projectedValues in
            let d = probes.columns
            let s = projected.columns
            for row in range {
              results[row] = searchOne(
                probe: UnsafeBufferPointer(rebasing: probeValues[(row * d)..<((row + 1) * d)]),
                projected: UnsafeBufferPointer(
                  rebasing: projectedValues[(row * s)..<((row + 1) * s)]),
                k: k, probesPerTable: probeCount, budget: budget, scratch: scratch)
            }
          }
        }
      }
    }
    return results
  }

  /// One probe.
  func searchOne(
    probe: UnsafeBufferPointer<Float>, projected z: UnsafeBufferPointer<Float>, k: Int,
    probesPerTable: Int, budget: Int, scratch: Scratch
  ) -> LSHSearchResult {
    let configuration = model.configuration
    let hashInput = UnsafeBufferPointer(rebasing: z[0..<configuration.hashDimensions])
    let stamps = scratch.stamps
    let candidates = scratch.candidates
    let bounds = scratch.bounds
    if scratch.epoch == UInt32.max {
      stamps.update(repeating: 0)
      scratch.epoch = 0
    }
    scratch.epoch += 1
    let epoch = scratch.epoch
    var probers = scratch.probers
    scratch.probers = []
    defer { scratch.probers = probers }
    var found = 0
    let width = configuration.sketchDimensions
    var top = TopK(k: k)
    var evaluated = 0
    let tolerance: Float = 1 + 1e-5

    // A crowded bucket (sorted by the first principal component) is visited from the probe's
    // own value outwards; since |Δ first component| is a lower bound on the distance, the scan
    // stops once that gap alone cannot beat the k-th exact distance.
    let leading = z.baseAddress.map { Self.leadingFour($0, width: min(width, z.count)) } ?? .zero
    let key = leading.x
    func position(in map: BucketMap, _ range: Range<Int>) -> Int {
      map.orderKeys.withUnsafeBufferPointer { keys in
        var low = range.lowerBound
        var high = range.upperBound
        while low < high {
          let middle = (low + high) / 2
          if keys[middle].x < key { low = middle + 1 } else { high = middle }
        }
        return low
      }
    }
    /// Scans `range` outwards: downwards from `down`, upwards from `up`.
    func scanCrowded(_ map: BucketMap, _ range: Range<Int>, down start: Int, up end: Int) {
      map.orderKeys.withUnsafeBufferPointer { keys in
        map.ids.withUnsafeBufferPointer { ids in
          var up = end
          var down = start
          while budget == 0 || found < budget {
            let upGap = up < range.upperBound ? keys[up].x - key : Float.infinity
            let downGap = down >= range.lowerBound ? key - keys[down].x : Float.infinity
            let position: Int
            let gap: Float
            if upGap <= downGap {
              (position, gap) = (up, upGap)
              up += 1
            } else {
              (position, gap) = (down, downGap)
              down -= 1
            }
            if gap == .infinity || top.count == k && gap * gap >= top.threshold * tolerance {
              return
            }
            let difference = keys[position] - leading
            if top.count == k
              && (difference * difference).sum() >= top.threshold * tolerance
            {
              continue
            }
            let id = ids[position]
            let slot = Int(id)
            guard slot < stamps.count, stamps[slot] != epoch else { continue }
            stamps[slot] = epoch
            found += 1
            guard let row = sketch(id) else { continue }
            let bound = Self.squaredDistance(row, z, count: width)
            if top.count < k || bound < top.threshold * tolerance, let vector = vector(id) {
              top.insert(id: UInt64(id), distance: Vectors.squaredL2(probe, vector))
              evaluated += 1
            }
          }
        }
      }
    }

    // Phase 1: the home bucket of every table. Of a crowded one, only a window around the
    // probe's position joins the first round (to set a tight k-th distance); the rest is scanned
    // afterwards, outwards from the window's edges.
    let crowded = scratch.crowded
    var crowdedCount = 0
    for table in 0..<configuration.tables {
      probers[table].start(model.hasher, z: hashInput, table: table)
      guard let home = probers[table].next(model.hasher) else { continue }
      var range = maps[table].bucket(home.code)
      if range.count >= Self.orderedBucketMinimum {
        let middle = position(in: maps[table], range)
        let window =
          max(
            range.lowerBound, middle - Self.crowdedWindow)..<min(
            range.upperBound, middle + Self.crowdedWindow)
        crowded[crowdedCount] = (table, range, window)
        crowdedCount += 1
        range = window
      }
      if budget == 0 || found < budget {
        found = Self.gather(
          maps[table], range: range, stamps: stamps, epoch: epoch, into: candidates, count: found)
      }
    }
    // Bound every candidate through its sketch (prefetching ahead), then re-rank exactly in
    // bound order (a min-heap built in place, popped only as far as needed) until no bound can
    // beat the k-th exact distance.
    let lookahead = 16
    for position in 0..<found {
      if position + lookahead < found, let ahead = sketch(candidates[position + lookahead]) {
        tripindex_prefetch(ahead)
        tripindex_prefetch(ahead + 16)
      }
      let id = candidates[position]
      bounds[position] = (
        sketch(id).map { Self.squaredDistance($0, z, count: width) } ?? .infinity, id
      )
    }
    Self.visitAscending(
      UnsafeMutableBufferPointer(rebasing: bounds[0..<found]), prefetch: prefetchVector
    ) {
      candidate in
      if top.count == k && candidate.bound >= top.threshold * tolerance { return false }
      if let vector = vector(candidate.id) {
        top.insert(id: UInt64(candidate.id), distance: Vectors.squaredL2(probe, vector))
        evaluated += 1
      }
      return true
    }
    for index in 0..<crowdedCount {
      let (table, bucket, window) = crowded[index]
      scanCrowded(maps[table], bucket, down: window.lowerBound - 1, up: window.upperBound)
    }
    // Phase 2: multiprobe, rank by rank across tables. A bucket whose distance lower bound
    // exceeds the k-th exact distance cannot improve the answer and is skipped; a candidate is
    // re-ranked exactly only when its sketch bound could beat the k-th distance.
    probing: for _ in 1..<max(probesPerTable, 1) {
      var progressed = false
      for table in 0..<configuration.tables {
        guard let next = probers[table].next(model.hasher) else { continue }
        progressed = true
        if top.count == k && next.lowerBound >= top.threshold * tolerance { continue }
        let range = maps[table].bucket(next.code)
        if range.count >= Self.orderedBucketMinimum {
          let middle = position(in: maps[table], range)
          scanCrowded(maps[table], range, down: middle - 1, up: middle)
          if budget > 0 && found >= budget { break probing }
          continue
        }
        let before = found
        found = Self.gather(
          maps[table], range: range, stamps: stamps, epoch: epoch, into: candidates, count: found)
        for position in before..<min(found, before + lookahead) {
          if let row = sketch(candidates[position]) {
            tripindex_prefetch(row)
            tripindex_prefetch(row + 16)
          }
        }
        for position in before..<found {
          if position + lookahead < found, let ahead = sketch(candidates[position + lookahead]) {
            tripindex_prefetch(ahead)
            tripindex_prefetch(ahead + 16)
          }
          let id = candidates[position]
          guard let row = sketch(id) else { continue }
          let bound = Self.squaredDistance(row, z, count: width)
          if top.count < k || bound < top.threshold * tolerance, let vector = vector(id) {
            top.insert(id: UInt64(id), distance: Vectors.squaredL2(probe, vector))
            evaluated += 1
          }
        }
        if budget > 0 && found >= budget { break probing }
      }
      if !progressed { break }
    }
    let cosine = model.metric == .cosine
    let neighbors = top.sorted().map {
      Neighbor(id: $0.id, distance: cosine ? $0.distance / 2 : $0.distance)
    }
    return LSHSearchResult(neighbors: neighbors, candidates: found, exactDistances: evaluated)
  }

  /// Appends the ids of a bucket (its `range` of the map's ids) not seen in this query (every id
  /// is written; the count only advances for new ones, so there is no unpredictable branch per id).
  ///
  /// - Returns: the new candidate count.
  @inline(__always)
  static func gather(
    _ map: BucketMap, range: Range<Int>, stamps: UnsafeMutableBufferPointer<UInt32>, epoch: UInt32,
    into output: UnsafeMutableBufferPointer<UInt32>, count: Int
  ) -> Int {
    if range.isEmpty { return count }
    var found = count
    map.ids.withUnsafeBufferPointer { ids in
      for position in range {
        let id = ids[position]
        let slot = Int(id)
        guard slot < stamps.count else { continue }
        let fresh = stamps[slot] != epoch
        stamps[slot] = epoch
        output[found] = id
        found += fresh ? 1 : 0
      }
    }
    return found
  }

  /// Visits bounds smallest first (ties by id) until `visit` returns `false`: a min-heap is
  /// built in place in O(n) and popped only as far as needed.
  static func visitAscending(
    _ storage: UnsafeMutableBufferPointer<(bound: Float, id: UInt32)>, prefetch: (UInt32) -> Void,
    _ visit: ((bound: Float, id: UInt32)) -> Bool
  ) {
    @inline(__always) func less(_ a: (bound: Float, id: UInt32), _ b: (bound: Float, id: UInt32))
      -> Bool
    {
      a.bound < b.bound || (a.bound == b.bound && a.id < b.id)
    }
    var count = storage.count
    @inline(__always) func siftDown(_ start: Int) {
      var parent = start
      while true {
        let left = 2 * parent + 1
        guard left < count else { return }
        var smallest = left
        if left + 1 < count && less(storage[left + 1], storage[left]) { smallest = left + 1 }
        guard less(storage[smallest], storage[parent]) else { return }
        storage.swapAt(parent, smallest)
        parent = smallest
      }
    }
    guard count > 0 else { return }
    for start in stride(from: count / 2 - 1, through: 0, by: -1) { siftDown(start) }
    // The top of a min-heap holds the smallest bounds: start loading their vectors.
    for position in 0..<min(count, 32) { prefetch(storage[position].id) }
    while count > 0 {
      guard visit(storage[0]) else { return }
      count -= 1
      storage[0] = storage[count]
      siftDown(0)
    }
  }

  /// Starts loading a stored vector into the cache.
  @inline(__always)
  func prefetchVector(_ id: UInt32) {
    guard let vector = vector(id), let base = vector.baseAddress else { return }
    var offset = 0
    while offset < vector.count {
      tripindex_prefetch(base + offset)
      offset += 16
    }
  }

  /// The sketch of an id (in the memory map).
  @inline(__always)
  func sketch(_ id: UInt32) -> UnsafePointer<Float>? {
    guard Int(id) < contiguous.rows(width: sketchWidth), let base = contiguous.values.baseAddress
    else { return nil }
    return UnsafePointer(base + Int(id) * sketchWidth)
  }

  /// The stored vector of an id (in the memory map), or `nil` beyond the snapshot.
  @inline(__always)
  func vector(_ id: UInt32) -> UnsafeBufferPointer<Float>? {
    let block = Int(id) >> blockShift
    guard block < vectorBlocks.count else { return nil }
    let offset = Int(id) & blockMask
    guard offset < vectorBlocks[block].rowCount else { return nil }
    return UnsafeBufferPointer(
      start: vectorBlocks[block].values + offset * dimension, count: dimension)
  }

  /// Σ (a_i − b_i)² over `count` values, eight at a time.
  @inline(__always)
  static func squaredDistance(
    _ a: UnsafePointer<Float>, _ b: UnsafeBufferPointer<Float>, count: Int
  ) -> Float {
    guard let bBase = b.baseAddress else { return 0 }
    var sums = SIMD8<Float>()
    var index = 0
    let rawA = UnsafeRawPointer(a)
    let rawB = UnsafeRawPointer(bBase)
    while index + 8 <= count {
      let difference =
        rawA.loadUnaligned(fromByteOffset: index * 4, as: SIMD8<Float>.self)
        - rawB.loadUnaligned(fromByteOffset: index * 4, as: SIMD8<Float>.self)
      sums += difference * difference
      index += 8
    }
    var sum = sums.sum()
    while index < count {
      let difference = a[index] - bBase[index]
      sum += difference * difference
      index += 1
    }
    return sum
  }
}
