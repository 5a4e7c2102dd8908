import CKernels
import LMDB
import VectorMath
import VectorStore

/// One answer of an approximate search.
public struct LSHSearchResult: Sendable {
  /// The neighbours found, closest first (distances as the store's metric defines them).
  public var neighbors: [Neighbor]
  /// Distinct candidates gathered from the buckets (each bounded through its sketch).
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
/// exact distances in bound order and stop as soon as the next bound exceeds the k-th exact
/// distance — so the answer is exact among the candidates.
public struct LSHSearcher: @unchecked Sendable {
  /// The hashing and projection parameters.
  public let model: LSHModel
  let snapshot: StoreSnapshot
  let maps: [BucketMap]
  let sketches: [UnsafePointer<Float>?]
  /// Whatever owns memory the sketch pointers point into.
  let keepAlive: AnyObject
  let vectorBlocks: [VectorBlock]
  let blockShift: Int
  let blockMask: Int
  let dimension: Int

  init(
    model: LSHModel, snapshot: StoreSnapshot, maps: [BucketMap], sketches: [UnsafePointer<Float>?],
    keepAlive: AnyObject
  ) {
    self.model = model
    self.snapshot = snapshot
    self.maps = maps
    self.sketches = sketches
    self.keepAlive = keepAlive
    vectorBlocks = snapshot.blocks
    blockShift = snapshot.store.blockRows.trailingZeroBitCount
    blockMask = snapshot.store.blockRows - 1
    dimension = snapshot.store.dimension
  }

  /// Per-worker reusable memory.
  final class Scratch {
    var stamps: [UInt32]
    var epoch: UInt32 = 0
    var candidates: [UInt32] = []
    var bounds: [(bound: Float, id: UInt32)] = []
    var probers: [BucketHasher.Prober]
    init(items: Int, tables: Int) {
      stamps = Array(repeating: 0, count: items)
      probers = Array(repeating: BucketHasher.Prober(), count: tables)
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
    probesPerTable: Int,
    budget: Int, scratch: Scratch
  ) -> LSHSearchResult {
    let configuration = model.configuration
    let hashInput = UnsafeBufferPointer(rebasing: z[0..<configuration.hashDimensions])
    // Work on local arrays (moved out of the scratch object, so no copies and no dynamic
    // exclusivity checks in the loops), and hand them back at the end.
    var probers = scratch.probers
    var stamps = scratch.stamps
    var candidates = scratch.candidates
    var bounds = scratch.bounds
    scratch.probers = []
    scratch.stamps = []
    scratch.candidates = []
    scratch.bounds = []
    defer {
      scratch.probers = probers
      scratch.stamps = stamps
      scratch.candidates = candidates
      scratch.bounds = bounds
    }
    if scratch.epoch == UInt32.max {
      for position in stamps.indices { stamps[position] = 0 }
      scratch.epoch = 0
    }
    scratch.epoch += 1
    let epoch = scratch.epoch
    if candidates.count < stamps.count + 1 {
      candidates = Array(repeating: 0, count: stamps.count + 1)
    }
    var found = 0
    let width = configuration.sketchDimensions
    var top = TopK(k: k)
    var evaluated = 0
    let tolerance: Float = 1 + 1e-5

    /// Adds the unseen ids of a bucket to the candidate buffer (every id is written; the count
    /// only advances for new ones, so there is no unpredictable branch per id).
    @inline(__always) func gather(_ code: UInt64, table: Int) {
      let map = maps[table]
      let range = map.bucket(code)
      if range.isEmpty { return }
      map.ids.withUnsafeBufferPointer { ids in
        stamps.withUnsafeMutableBufferPointer { stamps in
          candidates.withUnsafeMutableBufferPointer { output in
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
        }
      }
    }
    @inline(__always) func evaluate(_ id: UInt32) {
      guard let vector = vector(id) else { return }
      top.insert(id: UInt64(id), distance: Vectors.squaredL2(probe, vector))
      evaluated += 1
    }

    // Phase 1: the home bucket of every table. Bound every candidate through its sketch
    // (prefetching ahead), keep the smallest bounds, and re-rank exactly in bound order until no
    // bound can beat the k-th exact distance.
    for table in 0..<configuration.tables {
      probers[table].start(model.hasher, z: hashInput, table: table)
      guard let home = probers[table].next(model.hasher) else { continue }
      if budget == 0 || found < budget { gather(home.code, table: table) }
    }
    let keep = max(64 * k, 1024)
    var heap = BoundHeap(capacity: keep, storage: bounds)
    candidates.withUnsafeBufferPointer { ids in
      let lookahead = 16
      for position in 0..<found {
        if position + lookahead < found, let ahead = sketch(ids[position + lookahead]) {
          tripindex_prefetch(ahead)
          tripindex_prefetch(ahead + 16)
        }
        guard let row = sketch(ids[position]) else { continue }
        heap.offer(Self.squaredDistance(row, z, count: width), id: ids[position])
      }
    }
    var exhausted = false
    let cutoff = heap.isFull ? heap.top : Float.infinity
    bounds = heap.ascendingOrder(prefetch: prefetchVector) { candidate in
      if top.count == k && candidate.bound > top.threshold * tolerance {
        exhausted = true
        return false
      }
      evaluate(candidate.id)
      return true
    }
    if !exhausted && cutoff.isFinite && (top.count < k || cutoff <= top.threshold * tolerance) {
      // The kept bounds ran out before the k-th distance was settled: rank the rest in full.
      var rest: [(bound: Float, id: UInt32)] = []
      for id in candidates[0..<found] {
        guard let row = sketch(id) else { continue }
        let bound = Self.squaredDistance(row, z, count: width)
        if bound >= cutoff { rest.append((bound, id)) }
      }
      rest.sort { $0.bound < $1.bound || ($0.bound == $1.bound && $0.id < $1.id) }
      for candidate in rest {
        if top.count == k && candidate.bound > top.threshold * tolerance { break }
        evaluate(candidate.id)
      }
    }
    // Phase 2: multiprobe, rank by rank across tables. A bucket whose distance lower bound
    // exceeds the k-th exact distance cannot improve the answer and is skipped; a candidate is
    // re-ranked exactly only when its sketch bound could beat the k-th distance.
    probing: for _ in 1..<max(probesPerTable, 1) {
      var progressed = false
      for table in 0..<configuration.tables {
        guard let next = probers[table].next(model.hasher) else { continue }
        progressed = true
        if top.count == k && next.lowerBound > top.threshold * tolerance { continue }
        let before = found
        gather(next.code, table: table)
        candidates.withUnsafeBufferPointer { ids in
          for position in before..<min(found, before + 16) {
            if let row = sketch(ids[position]) {
              tripindex_prefetch(row)
              tripindex_prefetch(row + 16)
            }
          }
          for position in before..<found {
            if position + 16 < found, let ahead = sketch(ids[position + 16]) {
              tripindex_prefetch(ahead)
              tripindex_prefetch(ahead + 16)
            }
            guard let row = sketch(ids[position]) else { continue }
            let bound = Self.squaredDistance(row, z, count: width)
            if top.count < k || bound <= top.threshold * tolerance { evaluate(ids[position]) }
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
    let block = Int(id) >> blockShift
    guard block < sketches.count, let base = sketches[block] else { return nil }
    return base + (Int(id) & blockMask) * model.configuration.sketchDimensions
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

/// A bounded max-heap of the smallest (bound, id) pairs offered.
struct BoundHeap {
  private(set) var storage: [(bound: Float, id: UInt32)]
  let capacity: Int

  init(capacity: Int, storage: [(bound: Float, id: UInt32)]) {
    self.capacity = capacity
    self.storage = storage
    self.storage.removeAll(keepingCapacity: true)
  }

  var isFull: Bool { storage.count == capacity }
  /// The largest bound kept.
  var top: Float { storage.first?.bound ?? .infinity }

  @inline(__always)
  mutating func offer(_ bound: Float, id: UInt32) {
    if storage.count < capacity {
      storage.append((bound, id))
      var child = storage.count - 1
      while child > 0 {
        let parent = (child - 1) / 2
        guard storage[child].bound > storage[parent].bound else { break }
        storage.swapAt(child, parent)
        child = parent
      }
    } else if bound < storage[0].bound {
      storage[0] = (bound, id)
      var parent = 0
      let count = storage.count
      while true {
        let left = 2 * parent + 1
        guard left < count else { break }
        var largest = left
        if left + 1 < count && storage[left + 1].bound > storage[left].bound { largest = left + 1 }
        guard storage[largest].bound > storage[parent].bound else { break }
        storage.swapAt(parent, largest)
        parent = largest
      }
    }
  }

  /// Visits the kept pairs smallest bound first (ties by id) until `visit` returns `false`,
  /// extracting them from a min-heap built in place, so only the visited ones pay for ordering.
  ///
  /// - Returns: the storage, for reuse.
  consuming func ascendingOrder(
    prefetch: (UInt32) -> Void, _ visit: ((bound: Float, id: UInt32)) -> Bool
  ) -> [(bound: Float, id: UInt32)] {
    @inline(__always) func less(_ a: (bound: Float, id: UInt32), _ b: (bound: Float, id: UInt32))
      -> Bool
    {
      a.bound < b.bound || (a.bound == b.bound && a.id < b.id)
    }
    var count = storage.count
    func siftDown(_ start: Int) {
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
    for start in stride(from: count / 2 - 1, through: 0, by: -1) { siftDown(start) }
    // The top of a min-heap holds the smallest bounds: start loading their vectors.
    for position in 0..<min(count, 64) { prefetch(storage[position].id) }
    while count > 0 {
      let smallest = storage[0]
      guard visit(smallest) else { break }
      count -= 1
      storage[0] = storage[count]
      siftDown(0)
    }
    return storage
  }
}
