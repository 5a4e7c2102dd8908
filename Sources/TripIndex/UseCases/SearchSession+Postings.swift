import LSHIndex
import Plumbing
import RedisStore
import VectorMath
import VectorStore

extension SearchSession {
  /// Items of a store whose snapshot costs what one probe through its postings costs: a search
  /// reads through the postings while the probes so searched since the last snapshot, times
  /// this, stay within the store's items. Measured on this 2-core machine with a local cluster
  /// (`redis_vs_lmdb.py`): a probe through the postings 4–5 ms at 100k × 192 and at 1M × 128
  /// (three rounds of fetches), a snapshot and its tables about 0.32 s at 100k and 2.5 s at 1M:
  /// the two cost the same at about 70 and 570 probes.
  static let itemsPerPostingsProbe = 1_500

  /// Searches a few probes of a Redis store through its index's postings: each probe's buckets
  /// from every shard, then the vectors of the candidates it scores (``LSHPostingsSearch``),
  /// never the whole store. Returns `nil` where the snapshot path answers instead: a filter or
  /// exclusions (they need every item's labels), more probes than pay (``RedisReads``), no
  /// index or one without postings on every shard, an index measured slower than exact search
  /// (unless asked for), tables already held for the store as it is, a probe whose buckets hold
  /// fewer than k items, or a shard written during the search.
  func searchPostings(
    of store: RedisStore, _ probes: Matrix, names: [String], options: Query.SearchOptions,
    started: Double
  ) throws -> Query.Result? {
    guard redisReads != .snapshot, options.filter == nil, !options.excludesPerProbe,
      !options.excludeJunk
    else { return nil }
    let state = try store.postingsState()
    guard let version = state.version, state.everyShardKeepsPostings, state.count > 0 else {
      return nil
    }
    if redisReads == .automatic {
      let spent = probesByPostings.withLock { $0 }
      guard (spent + probes.rows) * Self.itemsPerPostingsProbe <= state.count,
        !holdsRedisTables(generations: state.generations, version: version)
      else { return nil }
    }
    let asked =
      options.forceIndex || options.probesPerTable != nil || options.candidateBudget != nil
    if !asked, let speed = LSHIndex.parsedSpeed(try store.metadata(LSHIndex.speedKey)),
      speed.lsh >= speed.exact
    {
      return nil
    }
    let encoder: ItemEncoder
    do {
      // The store reads each version's parameters once.
      guard let decoded = try store.postingsEncoder(version: version) as? ItemEncoder else {
        return nil
      }
      encoder = decoded
    } catch let error as RedisStoreError where error.kind == .damaged {
      return nil  // switched and removed since the version was read: search a snapshot
    }
    let prepared = MonotonicClock.now()
    var reader = RedisPostingsReader(
      store: store, version: version, entryBytes: encoder.coder.entryBytes, count: state.count,
      idLimit: state.idLimit)
    let found = try LSHPostingsSearch.search(
      probes, k: min(options.k, state.count), encoder: encoder,
      probesPerTable: options.probesPerTable, candidateBudget: options.candidateBudget,
      reader: &reader
    ).compactMap { $0 }
    guard found.count == probes.rows else { return nil }
    let places = found.flatMap { result in
      zip(result.result.neighbors, result.locators).map { ($0.id, Int($1 >> 32)) }
    }
    let items = try store.items(at: places)
    // Whole shard writes only: a shard written during the search is searched again over a
    // snapshot.
    let after = try store.postingsState()
    guard after.generations == state.generations, after.version == version,
      !items.contains(where: { $0 == nil })
    else { return nil }
    let searched = MonotonicClock.now()
    probesByPostings.withLock { $0 += probes.rows }
    var resolved = items.makeIterator()
    var configuration = encoder.model.configuration
    if let probes = options.probesPerTable { configuration.probes = probes }
    if let budget = options.candidateBudget { configuration.candidateBudget = budget }
    var result = Query.Result(
      metric: metric, storeCount: state.count,
      neighbors: found.map { found in
        found.result.neighbors.compactMap { neighbor in
          (resolved.next() ?? nil).map { Query.Match(item: $0, distance: neighbor.distance) }
        }
      }, method: "lsh \(configuration.summary)", candidates: found.map(\.result.candidates))
    result.exactDistances = found.map(\.result.exactDistances)
    result.bucketsRead = found.map(\.result.bucketsRead)
    result.probeNames = names
    result.timing = (0, prepared - started, searched - prepared)
    result.readThroughPostings = true
    return result
  }
}

/// Reads one index version's postings and the vectors they locate from a store on a Redis
/// Cluster (a locator is the item's shard in the high 32 bits and its row in the low).
struct RedisPostingsReader: PostingsReader {
  let store: RedisStore
  let version: String
  let entryBytes: Int
  let count: Int
  let idLimit: UInt64

  func buckets(_ buckets: [(table: Int, code: UInt64)]) throws -> [(
    entries: [UInt8], locators: [UInt64]
  )] {
    try store.postings(of: buckets, version: version, entryBytes: entryBytes).map { postings in
      (
        postings.flatMap(\.entry),
        postings.map { UInt64($0.shard) << 32 | UInt64($0.row) }
      )
    }
  }

  func vectors(at locators: [UInt64]) throws -> [[Float]] {
    try store.vectors(at: locators.map { (shard: Int($0 >> 32), row: Int($0 & 0xffff_ffff)) })
  }
}
