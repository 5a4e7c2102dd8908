import CKernels
import Plumbing
import StorageBackend
import VectorMath
import VectorStore

/// One answer of an approximate search.
public struct LSHSearchResult: Sendable {
  /// The neighbours found, closest first (distances as the store's metric defines them).
  public var neighbors: [Neighbor]
  /// Table entries examined through their compact codes (an item found in several tables
  /// counts once per table).
  public var candidates: Int
  /// Candidates whose exact distance was computed.
  public var exactDistances: Int
  /// Buckets read (each table's home bucket and every multiprobe bucket not ruled out by its
  /// bound; a bucket read in several pages counts once).
  public var bucketsRead = 0
  /// How long this probe's search took, when asked for (`measuringLatency`); 0 otherwise.
  public var seconds: Double = 0
}

/// Answers approximate k-nearest-neighbour queries over one ``VectorSource`` (a store's snapshot,
/// or a matrix in memory).
///
/// For each query: the home bucket of every table is read (the page of entries nearest the
/// query's first principal component), each entry bounded through its compact code
/// (``CompactCoder``), and candidates re-ranked exactly in bound order until no bound can beat
/// the k-th exact distance. Then the rest of those buckets and the multiprobe buckets are read
/// outwards page by page; an entry is re-ranked only when its bound could still beat the k-th
/// distance, and a direction stops as soon as the first component alone rules a page out. The
/// answer is exact among the entries examined. When fewer than k items were found (a large
/// `k`, a small store), the query falls back to a full scan, so it returns min(k, count) items.
///
/// Tables are read in place, through their packed copy (``PackedTables``) or, when a store has
/// none, through LMDB's cursors (``MappedBuckets``), or from memory (``MemoryTables``, tuning).
///
/// A searcher reads the store's memory map through the read transaction it was made in, so it is
/// non-copyable and handed out only by closures (``LSHIndex/withSearcher(in:_:)``,
/// ``LSHMemoryIndex/withSearcher(over:_:)``) that lend it: it cannot be kept past them.
public struct LSHSearcher: ~Copyable {
  /// Where the tables are.
  enum Tables {
    /// In a store's read transaction: the tables.
    case mapped([StorageTable], any StorageReading)
    /// In memory.
    case memory(MemoryTables)
    /// Packed in a store's read transaction (whose map holds them).
    case packed(PackedTables)
  }

  /// How items are projected, hashed and coded.
  public let encoder: ItemEncoder
  /// The hashing and projection parameters.
  public var model: LSHModel { encoder.model }
  /// Live items in the source.
  let itemCount: Int
  let tables: Tables
  let blocks: [VectorBlock]
  let blockShift: Int
  let blockMask: Int
  let dimension: Int
  /// Items the source had ids for (every id is below it).
  let idLimit: Int
  /// For a source holding only fetched vectors (``LSHPostingsSearch``): where the search notes
  /// what it needs but the source lacks (then it stops); `nil` for a whole source.
  let misses: PostingsMisses?

  init(
    encoder: ItemEncoder, source: some VectorSource, tables: Tables, misses: PostingsMisses? = nil
  ) {
    self.encoder = encoder
    self.tables = tables
    self.misses = misses
    itemCount = source.count
    blocks = source.blocks
    blockShift = source.blockRows.trailingZeroBitCount
    blockMask = source.blockRows - 1
    dimension = source.dimension
    idLimit = Int(clamping: source.idLimit)
  }

  /// Searches many probes (prepared for the store's metric: unit length for cosine).
  ///
  /// - Parameters:
  ///   - probes: one probe per row.
  ///   - k: neighbours per probe.
  ///   - probesPerTable: T; `nil` uses the index's setting.
  ///   - candidateBudget: the most table entries per probe; `nil` uses the index's setting
  ///     (0 = none).
  ///   - threads: worker threads.
  ///   - allowed: the ids that may be returned (`nil`: every live item). Items it leaves out are
  ///     skipped before their distance is computed. A fraction f of the items passing costs the
  ///     search 1/f more probes per table and a 1/f larger budget, since the k nearest passing
  ///     items lie that much farther out; when no more than ``directFilterLimit`` pass, they are
  ///     scanned directly (exact). When fewer than k allowed items were found, the search probes
  ///     further and then scans, so min(k, allowed) items come back.
  ///   - measuringLatency: time each probe's search (``LSHSearchResult/seconds``), for
  ///     single-query latency figures without per-call set-up in them.
  /// - Returns: one result per probe, in order.
  /// - Throws: ``LSHError`` when a table cannot be read (a damaged store).
  public func search(
    _ probes: Matrix, k: Int, probesPerTable: Int? = nil, candidateBudget: Int? = nil,
    threads: Int = Parallel.processorCount, allowed: IDMask? = nil, measuringLatency: Bool = false
  ) throws -> [LSHSearchResult] {
    precondition(probes.columns == dimension, "probe dimension differs from the store's")
    var probeCount = max(1, probesPerTable ?? model.configuration.probes)
    var budget = max(0, candidateBudget ?? model.configuration.candidateBudget)
    if let allowed, allowed.count > 0, itemCount > 0 {
      let widening = Double(itemCount) / Double(allowed.count)
      probeCount = Int((Double(probeCount) * widening).rounded(.up))
      if budget > 0 { budget = Int(min(Double(Int.max / 2), Double(budget) * widening)) }
    }
    var results = [LSHSearchResult](
      repeating: LSHSearchResult(neighbors: [], candidates: 0, exactDistances: 0),
      count: probes.rows)
    guard probes.rows > 0, k > 0 else { return results }
    let workers = max(1, min(threads, probes.rows / 4))
    let previousThreads = BLAS.shareThreads(threads, among: workers)
    defer { BLAS.setThreadCount(previousThreads) }
    let tableCount = model.configuration.tables
    let failures = UncheckedSendable(
      UnsafeMutableBufferPointer<(any Error)?>.allocate(capacity: workers))
    failures.value.initialize(repeating: nil)
    defer { failures.value.deallocate() }
    // Probes near each other are searched in turn (and by the same worker), sharing what the
    // cache holds; each answer goes back to its probe's row.
    let order = ProbeOrder.byLocality(probes, encoder: encoder, threads: threads)
    try results.withUnsafeMutableBufferPointer { results in
      let results = UncheckedSendable(results)
      func run<Reader: BucketReader>(_ makeReader: (Int) -> Reader) {
        Parallel.forEachChunk(of: probes.rows, count: workers) { worker, range in
          let scratch = ScratchPool.shared.borrow(
            items: idLimit, tables: tableCount, encoder: encoder)
          defer { ScratchPool.shared.giveBack(scratch) }
          var reader = makeReader(worker)
          probes.values.withUnsafeBufferPointer { values in
            let clock = ContinuousClock()
            for row in range.lazy.map({ order[$0] }) {
              let started = measuringLatency ? clock.now : nil
              results.value[row] = searchOne(
                probe: UnsafeBufferPointer(
                  rebasing: values[(row * dimension)..<((row + 1) * dimension)]),
                k: k, probesPerTable: probeCount, budget: budget, allowed: allowed,
                scratch: scratch, reader: &reader)
              if let started {
                results.value[row].seconds = started.duration(to: clock.now).inSeconds
              }
            }
          }
          failures.value[worker] = reader.failure
        }
      }
      switch tables {
      case .memory(let memory):
        run { _ in memory.reader() }
      case .packed(let packed):
        run { _ in ContiguousBucketReader(packed) }
      case .mapped(let tables, let transaction):
        // Every cursor is opened here, on the calling thread; each worker then uses its own.
        // The transaction's own type is opened, so the bucket reads are specialised for it.
        func runMapped(_ transaction: some StorageReading) throws {
          let perWorker = 2 * tableCount
          let all = Array(repeating: tables, count: 2 * workers).flatMap { $0 }
          try transaction.withCursors(in: all) { cursors in
            let shared = UncheckedSendable(cursors)
            run { worker in
              let mine = shared.value[(worker * perWorker)..<((worker + 1) * perWorker)]
              return MappedBuckets(
                up: Array(mine.prefix(tableCount)), down: Array(mine.suffix(tableCount)),
                entryBytes: encoder.coder.entryBytes)
            }
          }
        }
        try runMapped(transaction)
      }
    }
    if let failure = failures.value.compactMap({ $0 }).first {
      throw LSHError(
        .unreadableTable, "an LSH table could not be read (\(failure)); the store may be damaged")
    }
    return results
  }

  /// A filter that passes no more items than this is served by scanning them directly.
  public static let directFilterLimit = 2048

  /// Candidates in bound order a search over fetched postings that stopped in its first round
  /// asks for beyond the one it stopped at.
  static let candidatesToldAfterStop = 64

  /// One probe.
  func searchOne<Reader: BucketReader>(
    probe: UnsafeBufferPointer<Float>, k: Int, probesPerTable: Int, budget: Int,
    allowed: IDMask? = nil, scratch: QueryScratch, reader: inout Reader
  ) -> LSHSearchResult {
    if let allowed, allowed.count <= Self.directFilterLimit {
      return scanAllowed(allowed, probe: probe, k: k)
    }
    let configuration = model.configuration
    let coder = encoder.coder
    let entryBytes = coder.entryBytes
    let residualNorm = encoder.project(probe, into: &scratch.encoder)
    let seen = scratch.seen
    seen.removeAll()
    let pageBounds = scratch.pageBounds
    let kept = scratch.kept
    var top = TopK(k: k)
    var scanned = 0
    var budget = budget
    // Under a filter: how many of the candidates met so far pass it (its local share, which a
    // filter that removes the nearest items, such as a probe's own camera, makes small).
    var metAllowed = 0
    var metTotal = 0
    @inline(__always) func meet(_ id: UInt64) {
      guard let allowed else { return }
      metTotal += 1
      if allowed.contains(id) { metAllowed += 1 }
    }
    var evaluated = 0
    var bucketsRead = 0
    let tolerance: Float = 1 + 1e-5
    var probers = scratch.probers
    scratch.probers = []
    defer { scratch.probers = probers }
    scratch.homes.removeAll(keepingCapacity: true)
    let firstByte: UInt8 = scratch.encoder.projection.withUnsafeBufferPointer { projection in
      coder.queryTables(
        projection: projection, residualNorm: residualNorm, table: scratch.table,
        residual: scratch.residual)
      return coder.dimensions > 0
        ? coder.code(projection[0], component: 0) : 0
    }
    let leadingTable = scratch.table
    /// The bound of the first component alone for a first code byte.
    @inline(__always) func leadingBound(_ byte: UInt8) -> Float {
      coder.dimensions > 0 ? leadingTable[Int(byte)] : 0
    }
    @inline(__always) func threshold() -> Float { top.threshold * tolerance }
    /// The vector of an id the search may return, or `nil` (deleted, filtered out, or not
    /// held by a source of fetched vectors).
    @inline(__always) func heldVector(_ id: UInt64) -> UnsafeBufferPointer<Float>? {
      let block = Int(truncatingIfNeeded: id >> UInt64(blockShift))
      guard id < UInt64(idLimit), block < blocks.count else { return nil }
      let offset = Int(truncatingIfNeeded: id) & blockMask
      guard offset < blocks[block].rowCount, !blocks[block].isDeleted(offset),
        allowed?.contains(id) ?? true
      else { return nil }
      return UnsafeBufferPointer(start: blocks[block].values + offset * dimension, count: dimension)
    }
    /// The vector of a candidate whose distance is needed now; a fetched source that lacks it
    /// notes it and the search stops.
    @inline(__always) func vector(_ id: UInt64) -> UnsafeBufferPointer<Float>? {
      if let vector = heldVector(id) { return vector }
      misses?.vector(id)
      return nil
    }
    /// Whether a search over fetched postings lacks something and has stopped. Once k distances
    /// are known it goes on instead, noting every candidate its bounds cannot rule out against
    /// the k-th distance so far (at least the final k-th distance, so the run that has them all
    /// needs no more): one fetch serves the rest of the search.
    @inline(__always) func stopped() -> Bool {
      guard let misses else { return false }
      return misses.stopped && top.count < k
    }
    /// Starts loading a stored vector into the cache (a fetched source notes it as needed soon).
    @inline(__always) func prefetch(_ id: UInt64) {
      guard let vector = heldVector(id), let base = vector.baseAddress else {
        misses?.upcoming(id)
        return
      }
      var offset = 0
      while offset < dimension {
        tripindex_prefetch(base + offset)
        offset += 16
      }
    }
    /// Bounds the entries of a page, keeping those below `limit` (indices in `kept`, bounds in
    /// `pageBounds`); returns how many were kept.
    @inline(__always) func filter(_ page: UnsafeRawBufferPointer, below limit: Float) -> Int {
      let count = min(page.count / entryBytes, QueryScratch.pageCapacity)
      scanned += count
      guard let base = page.baseAddress, let out = pageBounds.baseAddress,
        let indices = kept.baseAddress, let table = scratch.table.baseAddress,
        let residual = scratch.residual.baseAddress
      else { return 0 }
      return tripindex_code_filter(
        base.assumingMemoryBound(to: UInt8.self), count, entryBytes, coder.dimensions, table,
        residual, limit, indices, out)
    }
    /// The first-component codes whose bound alone stays below `limit`: an interval around the
    /// query's own code (the bound grows away from it on both sides).
    @inline(__always) func leadingCodes(below limit: Float) -> ClosedRange<Int> {
      guard coder.dimensions > 0, limit < .infinity else { return 0...255 }
      let home = Int(firstByte)
      // Both sides are monotone: binary searches for the outermost codes under the limit.
      var (a, b) = (0, home)
      while a < b {
        let middle = (a + b) / 2
        if leadingTable[middle] < limit { b = middle } else { a = middle + 1 }
      }
      let low = a
      (a, b) = (home, 255)
      while a < b {
        let middle = (a + b + 1) / 2
        if leadingTable[middle] < limit { a = middle } else { b = middle - 1 }
      }
      return low...a
    }
    /// The entries of a sorted page whose first code byte lies in `codes` (binary searches).
    @inline(__always) func entries(of page: UnsafeRawBufferPointer, in codes: ClosedRange<Int>)
      -> Range<Int>
    {
      let count = page.count / entryBytes
      func firstAtLeast(_ code: Int) -> Int {
        var (a, b) = (0, count)
        while a < b {
          let middle = (a + b) / 2
          if Int(page[middle * entryBytes]) < code { a = middle + 1 } else { b = middle }
        }
        return a
      }
      if codes.lowerBound == 0 && codes.upperBound == 255 { return 0..<count }
      return firstAtLeast(codes.lowerBound)..<firstAtLeast(codes.upperBound + 1)
    }
    /// Re-ranks the entries of a page whose bound could beat the k-th distance.
    func rerank(_ whole: UnsafeRawBufferPointer) {
      // Entries are sorted by their first code byte: those the first component alone rules out
      // are skipped without being read.
      let range = entries(of: whole, in: leadingCodes(below: threshold()))
      if range.isEmpty { return }
      let page = UnsafeRawBufferPointer(
        rebasing: whole[(range.lowerBound * entryBytes)..<(range.upperBound * entryBytes)])
      let survivors = filter(page, below: threshold())
      // Start loading the vector of every survivor not met before (in another table, or an
      // earlier bucket) before the first distance is computed; those met before are dropped
      // here, so that their vectors are not loaded again for nothing.
      for position in 0..<survivors {
        let id = coder.id(in: page, at: Int(kept[position]))
        if id < UInt64(idLimit) && seen.contains(Int(id)) {
          pageBounds[position] = .infinity
        } else {
          prefetch(id)
        }
      }
      for position in 0..<survivors where pageBounds[position] < threshold() {
        let id = coder.id(in: page, at: Int(kept[position]))
        guard id < UInt64(idLimit), seen.insert(Int(id)) else { continue }
        meet(id)
        if let vector = vector(id) {
          top.insert(id: id, distance: Vectors.squaredL2(probe, vector))
          evaluated += 1
        }
      }
    }
    @inline(__always) func budgetLeft() -> Bool { (budget == 0 || scanned < budget) && !stopped() }
    /// Reads a bucket outwards from the query's position (the sought page too, unless it was
    /// read in the first round).
    func scanBucket(table: Int, code: UInt64, includingFirstPage: Bool) {
      guard let (first, entries) = reader.seek(table: table, code: code, firstByte: firstByte)
      else { return }
      if includingFirstPage { bucketsRead += 1 }
      if includingFirstPage { rerank(first) }
      if first.count >= entries * entryBytes { return }
      while budgetLeft(), let page = reader.nextPage(table: table) {
        if page.count >= entryBytes && leadingBound(page[0]) >= threshold() { break }
        rerank(page)
      }
      while budgetLeft(),
        let page = reader.previousPage(table: table, code: code, firstByte: firstByte)
      {
        let last = page.count / entryBytes - 1
        if last >= 0 && leadingBound(page[last * entryBytes]) >= threshold() { break }
        rerank(page)
      }
    }

    // Round 1: the sought page of every table's home bucket, re-ranked in bound order.
    var queuedCount = 0
    scratch.encoder.projection.withUnsafeBufferPointer { projection in
      let hashInput = UnsafeBufferPointer(rebasing: projection[0..<configuration.hashDimensions])
      for table in 0..<configuration.tables {
        probers[table].start(model.hasher, z: hashInput, table: table)
        guard let home = probers[table].next(model.hasher),
          let (page, entries) = reader.seek(table: table, code: home.code, firstByte: firstByte)
        else { continue }
        bucketsRead += 1
        if page.count < entries * entryBytes { scratch.homes.append((table, home.code)) }
        let count = filter(page, below: .infinity)
        scratch.reserveQueued(queuedCount + count)
        for position in 0..<count {
          let id = coder.id(in: page, at: Int(kept[position]))
          guard id < UInt64(idLimit), seen.insert(Int(id)) else { continue }
          meet(id)
          scratch.queued[queuedCount] = (pageBounds[position], id)
          queuedCount += 1
        }
      }
    }
    // A fetched source that stops here is told the next candidates in bound order too, so
    // that one fetch serves the next run this far and beyond.
    var toldAfterStop = 0
    BoundOrder.visitAscending(
      UnsafeMutableBufferPointer(rebasing: scratch.queued[0..<queuedCount]), prefetch: prefetch
    ) {
      candidate in
      if candidate.bound >= threshold() { return false }
      if stopped() {
        misses?.upcoming(candidate.id)
        toldAfterStop += 1
        return toldAfterStop < Self.candidatesToldAfterStop
      }
      if let vector = vector(candidate.id) {
        top.insert(id: candidate.id, distance: Vectors.squaredL2(probe, vector))
        evaluated += 1
      }
      return true
    }
    // Round 2: the rest of the home buckets, outwards.
    for (table, code) in scratch.homes where budgetLeft() {
      scanBucket(table: table, code: code, includingFirstPage: false)
    }
    // Round 3: multiprobe, rank by rank across tables; a bucket whose distance lower bound
    // cannot beat the k-th exact distance is skipped.
    func probeRounds(_ rounds: Int) {
      probing: for _ in 0..<rounds {
        var progressed = false
        for table in 0..<configuration.tables {
          guard budgetLeft() else { break probing }
          guard let next = probers[table].next(model.hasher) else { continue }
          progressed = true
          if next.lowerBound >= threshold() { continue }
          scanBucket(table: table, code: next.code, includingFirstPage: true)
        }
        if !progressed { break }
      }
    }
    probeRounds(probesPerTable - 1)
    // A filter that passes fewer of the items near this probe than of the whole store (the
    // rounds were widened by the global share) gets more rounds and budget in proportion.
    if let allowed, metTotal > 0, itemCount > 0 {
      let local = max(Double(metAllowed) / Double(metTotal), 1.0 / 64)
      let global = Double(allowed.count) / Double(itemCount)
      if local < global {
        let factor = global / local
        if budget > 0 { budget = Int(min(Double(Int.max / 2), Double(budget) * factor)) }
        probeRounds(Int((Double(probesPerTable) * (factor - 1)).rounded(.up)))
      }
    }
    // Too few found: more probes (up to 64 per table), then, for a k beyond what the buckets
    // hold, a full scan, so min(k, count) items come back.
    var extra = 0
    while top.count < k && extra < 64 && !stopped() {
      var progressed = false
      for table in 0..<configuration.tables {
        guard let next = probers[table].next(model.hasher) else { continue }
        progressed = true
        scanBucket(table: table, code: next.code, includingFirstPage: true)
      }
      if !progressed { break }
      extra += 1
    }
    if let misses, top.count < k && top.count < (allowed?.count ?? itemCount) {
      // A source of fetched vectors cannot be scanned: the caller searches the whole store.
      if !misses.stopped { misses.needsScan = true }
    } else if top.count < k && top.count < (allowed?.count ?? itemCount) {
      for block in blocks {
        for row in 0..<block.rowCount where !block.isDeleted(row) {
          let id = block.firstID + UInt64(row)
          if id < UInt64(idLimit) && seen.contains(Int(id)) { continue }
          if let allowed, !allowed.contains(id) { continue }
          top.insert(
            id: id,
            distance: Vectors.squaredL2(
              probe, UnsafeBufferPointer(start: block.values + row * dimension, count: dimension)))
          evaluated += 1
        }
      }
    }
    let cosine = model.metric == .cosine
    let neighbors = top.sorted().map {
      Neighbor(id: $0.id, distance: cosine ? $0.distance / 2 : $0.distance)
    }
    return LSHSearchResult(
      neighbors: neighbors, candidates: scanned, exactDistances: evaluated,
      bucketsRead: bucketsRead)
  }

  /// Exact search among the allowed items only (a selective filter).
  func scanAllowed(_ allowed: IDMask, probe: UnsafeBufferPointer<Float>, k: Int) -> LSHSearchResult
  {
    var top = TopK(k: k)
    var evaluated = 0
    allowed.forEach { id in
      let block = Int(truncatingIfNeeded: id >> UInt64(blockShift))
      let offset = Int(truncatingIfNeeded: id) & blockMask
      guard block < blocks.count, offset < blocks[block].rowCount, !blocks[block].isDeleted(offset)
      else { return }
      top.insert(
        id: id,
        distance: Vectors.squaredL2(
          probe,
          UnsafeBufferPointer(start: blocks[block].values + offset * dimension, count: dimension)))
      evaluated += 1
    }
    let cosine = model.metric == .cosine
    let neighbors = top.sorted().map {
      Neighbor(id: $0.id, distance: cosine ? $0.distance / 2 : $0.distance)
    }
    return LSHSearchResult(neighbors: neighbors, candidates: evaluated, exactDistances: evaluated)
  }
}
