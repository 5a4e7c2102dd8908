import Embedding
import LSHIndex
import Plumbing
import RedisStore
import Synchronization
import VectorIO
import VectorMath
import VectorStore

/// A store opened once for many searches — by one `query` command, or by a server for its
/// lifetime — with its model and LSH index resolved. Probes come in as vectors (from files or
/// from requests), are prepared as the store holds its items, and are searched in one consistent
/// view of the store each; results are resolved to items before it ends.
///
/// The store is an LMDB directory (each search one read transaction; LMDB readers never block
/// the writer) or a store on a Redis Cluster (each search reads a snapshot of every shard, kept
/// while no shard changes). A session is safe to share between threads.
public final class SearchSession: Sendable {
  /// The store's location as given (an LMDB directory, or a Redis address without password).
  public let location: String
  /// Values per stored vector.
  public let dimension: Int
  /// The store's metric.
  public let metric: DistanceMetric
  /// The model probes are embedded with, or `nil` for raw vectors.
  public let model: EmbeddingModel?
  /// The engine holding the store.
  let backend: Backend

  /// The engine holding the store, and what searches and writes need of it.
  enum Backend: Sendable {
    /// An LMDB store, with its LSH index when it has one (also the hook that keeps it current
    /// on writes).
    case lmdb(VectorStore, index: LSHIndex?)
    /// A store on a Redis Cluster, and the replicas its writes wait for.
    case redis(RedisStore, replicas: Int)
  }
  /// A Redis store's last snapshot and the index tables built over it, searched again while no
  /// shard and no index version has changed.
  private let redisState = Mutex<RedisSearchState?>(nil)
  /// How searches of a Redis store read it.
  let redisReads: RedisReads
  /// Probes searched through a Redis store's postings since its snapshot was last read: once
  /// they cost what a snapshot costs, the next search reads one (and keeps it while no shard
  /// changes).
  let probesByPostings = Mutex(0)

  /// How searches of a store on a Redis Cluster read it.
  public enum RedisReads: Sendable {
    /// A few probes through the index's postings, many over a snapshot of the whole store, by
    /// what each costs; tables held for the store as it is are searched again.
    case automatic
    /// Through the postings whenever the index keeps them and the search can (tests compare
    /// both ways).
    case postings
    /// Always over a snapshot.
    case snapshot
  }

  /// What searches of a Redis store reuse.
  private struct RedisSearchState: Sendable {
    var snapshot: RedisSnapshot
    /// The index version and its tables over ``snapshot``, when built.
    var index: (version: String, tables: LSHMemoryIndex)?
  }

  /// Opens a store for searching.
  ///
  /// - Parameters:
  ///   - storePath: the store's directory, or a `redis://` address.
  ///   - modelPath: a model to use instead of the recorded one (same fingerprint), or `nil`.
  ///   - readOnly: open without write access.
  ///   - usesIndex: open the store's LSH index (when searches may use it, or writes must keep
  ///     it current).
  ///   - redis: how to reach a store on a Redis Cluster.
  ///   - redisReads: how searches of a Redis store read it.
  /// - Throws: `VectorStoreError`, `ModelFileError`, `LSHError`; `RedisError` and
  ///   `RedisStoreError` for a Redis store.
  public init(
    storePath: String, modelPath: String? = nil, readOnly: Bool, usesIndex: Bool = true,
    redis: RedisAccess = RedisAccess(), redisReads: RedisReads = .automatic
  ) throws {
    self.redisReads = redisReads
    if RedisAccess.isRedis(storePath) {
      let store = try redis.open(storePath)
      location = "\(store.address)"
      (dimension, metric) = (store.dimension, store.metric)
      model = try StoreModel.load(
        metadata: store.metadata, location: location, override: modelPath)
      backend = .redis(store, replicas: readOnly ? 0 : try redis.replicaCount(for: store))
    } else {
      let store = try VectorStore.open(path: storePath, readOnly: readOnly)
      location = store.path
      (dimension, metric) = (store.dimension, store.metric)
      model = try StoreModel.load(for: store, override: modelPath)
      backend = .lmdb(store, index: usesIndex ? try LSHIndex.open(store) : nil)
    }
  }

  /// The store's description, as `info` gives it.
  ///
  /// - Returns: the description.
  /// - Throws: `VectorStoreError`, `RedisError`.
  public func info() throws -> StoreInfo {
    switch backend {
    case .lmdb(let store, let index):
      return try StoreInfo.describe(store, index: index, indexProblem: nil)
    case .redis(let store, _):
      return try StoreInfo.describe(store)
    }
  }

  /// The dimension of a probe as given: the model's input, or the store's vectors.
  public var probeDimension: Int { model?.architecture.inputDimension ?? dimension }

  /// Prepares probes given as vectors (a request's) as the store holds its items: each value
  /// checked, embedded with the store's model, normalised for the cosine metric.
  ///
  /// - Parameters:
  ///   - vectors: one probe per row, of ``probeDimension`` columns.
  ///   - names: a name per probe, for messages.
  /// - Returns: the prepared probes.
  /// - Throws: ``TripIndexError`` naming the probe for a wrong dimension, a value that is not
  ///   finite or too large, or a probe without a direction under cosine.
  public func prepare(_ vectors: Matrix, names: [String]) throws -> Matrix {
    guard vectors.columns == probeDimension else {
      throw TripIndexError(
        "probes have dimension \(vectors.columns) but store \(location) takes \(probeDimension)-dimensional \(model == nil ? "vectors" : "inputs to its model")"
      )
    }
    // Raw vectors are checked as the store would hold them; a model's inputs only for size.
    let normalizing = model == nil && metric.normalizesVectors
    try vectors.values.withUnsafeBufferPointer { values in
      let columns = vectors.columns
      for row in 0..<vectors.rows {
        let vector = UnsafeBufferPointer(rebasing: values[(row * columns)..<((row + 1) * columns)])
        if let problem = VectorLimits.storageProblem(vector, normalizing: normalizing) {
          throw TripIndexError("probe '\(names[row])': \(problem)")
        }
      }
    }
    var prepared = try StoreModel.embed(vectors, with: model, source: "the probes")
    if metric.normalizesVectors, let zero = prepared.normalizeRows() {
      throw TripIndexError(
        "probe '\(names[zero])' is all zeros, which has no direction for the cosine metric")
    }
    return prepared
  }

  /// Searches the store for prepared probes.
  ///
  /// - Parameters:
  ///   - probes: prepared probes (see ``prepare(_:names:)``), one per row.
  ///   - names: each probe's name (may be empty).
  ///   - labels: each probe's labels, needed by the per-probe exclusions (else `nil`).
  ///   - options: how to search.
  /// - Returns: the neighbours of every probe, resolved to items, with the method and counters.
  /// - Throws: ``TripIndexError`` for bad options, `VectorStoreError`, `LSHError`.
  public func search(
    _ probes: Matrix, names: [String] = [], labels: [ItemLabels]?, options: Query.SearchOptions
  ) throws -> Query.Result {
    try options.validate()
    let started = MonotonicClock.now()
    switch backend {
    case .lmdb(let store, let index):
      return try store.read { snapshot in
        try search(
          probes, names: names, labels: labels, options: options, in: snapshot,
          index: options.exact ? nil : index.map { .stored($0) },
          recordedSpeed: try LSHIndex.recordedSpeed(in: snapshot), started: started)
      }
    case .redis(let store, _):
      if !options.exact,
        let answered = try searchPostings(
          of: store, probes, names: names, options: options, started: started)
      {
        return answered
      }
      let state = try currentRedisState(of: store, withIndex: !options.exact)
      return try search(
        probes, names: names, labels: labels, options: options, in: state.snapshot,
        index: state.index.map { .memory($0.tables) },
        recordedSpeed: try LSHIndex.recordedSpeed(in: state.snapshot), started: started)
    }
  }

  /// The time of one core a search of `probes` probes with `options` is expected to take, from
  /// the speeds the store's index recorded against exact search when it was built, or `nil`
  /// when that record does not describe the search: a store on a Redis Cluster (its searches
  /// wait on the network), a store without an index or a record, or a search with a filter,
  /// exclusions, or probing settings of its own. A server runs searches expected to be short
  /// where their requests arrive and longer ones on a pool of threads.
  ///
  /// - Parameters:
  ///   - probes: the number of probes.
  ///   - options: how they would be searched.
  /// - Returns: seconds, or `nil`.
  /// - Throws: `VectorStoreError`.
  public func expectedSearchSeconds(probes: Int, options: Query.SearchOptions) throws -> Double? {
    guard case .lmdb(let store, let index?) = backend, options.filter == nil,
      !options.excludesPerProbe, !options.excludeJunk, options.probesPerTable == nil,
      options.candidateBudget == nil, let speed = try LSHIndex.recordedSpeed(of: store)
    else { return nil }
    // The method the search itself would choose (as `search` passes the index).
    let plan = SearchPlan(
      index: options.exact ? nil : .stored(index), options: options, recordedSpeed: speed)
    return Double(probes) * (plan.index != nil ? speed.lsh : speed.exact) * 1e-6
  }

  /// Whether this session holds a snapshot of a Redis store read at these write counters, with
  /// the tables of index `version` over it (a search over them needs no reads but two).
  func holdsRedisTables(generations: [Int64?], version: String) -> Bool {
    redisState.withLock { state in
      guard let state else { return false }
      return state.snapshot.generations == generations && state.index?.version == version
    }
  }

  /// The Redis store's snapshot (the last one while no shard has changed) and, when asked for,
  /// the current index's tables over it (built again only when the snapshot or the index
  /// version changed).
  private func currentRedisState(of store: RedisStore, withIndex: Bool) throws
    -> RedisSearchState
  {
    let previous = redisState.withLock { $0 }
    var state = RedisSearchState(
      snapshot: try store.snapshot(reusing: previous?.snapshot), index: nil)
    if state.snapshot !== previous?.snapshot { probesByPostings.withLock { $0 = 0 } }
    if withIndex, let version = try store.indexVersion() {
      if let held = previous?.index, held.version == version,
        previous?.snapshot === state.snapshot
      {
        state.index = held
      } else if let (current, encoder) = try RedisIndex.current(of: store) {
        state.index = (current, LSHMemoryIndex(encoder: encoder, over: state.snapshot))
      }
    } else if let held = previous?.index, previous?.snapshot === state.snapshot {
      state.index = held  // kept for the next search that uses the index
    }
    let kept = state
    redisState.withLock { $0 = kept }
    return state
  }

  /// Searches one consistent view of the store, whatever engine holds it.
  private func search(
    _ probes: Matrix, names: [String], labels: [ItemLabels]?, options: Query.SearchOptions,
    in snapshot: some ItemSnapshot, index: SearchIndex?,
    recordedSpeed: (lsh: Double, exact: Double)?, started: Double
  ) throws -> Query.Result {
    let recordedJunk = try PIDConventions.recorded(snapshot.metadata)?.junk ?? -1
    var plan = SearchPlan(index: index, options: options, recordedSpeed: recordedSpeed)
    let selection = try plan.selection(in: snapshot)
    plan.considerFilter(selection, count: snapshot.count)
    let junk = options.excludeJunk ? options.junkPID ?? recordedJunk : nil
    let groups = Self.probeGroups(
      probes.rows, labels: labels, selection: selection, junk: junk, options: options)
    var result = Query.Result(
      metric: metric, storeCount: snapshot.count, neighbors: [], method: plan.method,
      candidates: nil)
    let prepared = MonotonicClock.now()
    let found = try plan.run(
      probes, groups: groups, in: snapshot, k: min(options.k, max(snapshot.count, 1)),
      into: &result)
    let searched = MonotonicClock.now()
    // Resolved all at once: a Redis snapshot fetches the records in one pipeline.
    let items = try snapshot.items(ids: found.flatMap { $0.map(\.id) })
    var resolved = items.makeIterator()
    result.neighbors = try found.map { neighbors in
      try neighbors.map { neighbor in
        guard let item = resolved.next() ?? nil else {
          throw VectorStoreError(
            .notAStore, path: location, "item \(neighbor.id) has a vector but no record")
        }
        return Query.Match(item: item, distance: neighbor.distance)
      }
    }
    result.probeNames = names
    result.methodReason = plan.reason
    if selection != nil {
      var passing = [Int](repeating: 0, count: probes.rows)
      for group in groups {
        for row in group.rows { passing[row] = group.mask?.count ?? snapshot.count }
      }
      result.passing = passing
    }
    result.timing = (0, prepared - started, searched - prepared)
    return result
  }

  /// What an upsert did to its item.
  public enum UpsertOutcome: String, Sendable {
    /// A new item.
    case added
    /// An item of that name, with a new vector or labels.
    case updated
    /// An item of that name, already holding that vector and those labels.
    case unchanged
  }

  /// Adds or updates one item by name — embedded with the store's model, as `build` stores it —
  /// in one transaction that also updates the index.
  ///
  /// - Parameters:
  ///   - name: the item's name (compared as bytes).
  ///   - vector: its vector as given (a model's input when the store has a model).
  ///   - labels: its labels.
  /// - Returns: its id and what was done.
  /// - Throws: ``TripIndexError`` for a bad vector, `VectorStoreError` for a bad name or a
  ///   read-only store.
  public func upsert(name: String, vector: [Float], labels: ItemLabels) throws -> (
    id: UInt64, outcome: UpsertOutcome
  ) {
    let prepared = try prepare(
      Matrix(rows: 1, columns: vector.count, values: vector), names: [name])
    let summary: (added: Int, updated: Int, ids: [UInt64])
    switch backend {
    case .lmdb(let store, _):
      let written = try store.write { writer in
        try prepared.values.withUnsafeBufferPointer { values in
          try writer.upsert(names: [name], labels: [labels], vectors: values)
        }
      }
      summary = (written.added, written.updated, written.ids)
    case .redis(let store, let replicas):
      let written = try Self.takingTurns(with: store) {
        try store.upsert(names: [name], labels: [labels], vectors: prepared, replicas: replicas)
      }
      summary = (written.added, written.updated, written.ids)
    }
    let outcome: UpsertOutcome =
      summary.added > 0 ? .added : summary.updated > 0 ? .updated : .unchanged
    return (summary.ids.first ?? 0, outcome)
  }

  /// Deletes one item by name in one transaction that also updates the index.
  ///
  /// - Parameter name: the item's name.
  /// - Returns: the deleted item's id, or `nil` when no item has that name (nothing changes).
  /// - Throws: `VectorStoreError`.
  public func delete(name: String) throws -> UInt64? {
    switch backend {
    case .lmdb(let store, _):
      return try store.write { writer in try writer.delete(name: name)?.id }
    case .redis(let store, let replicas):
      return try Self.takingTurns(with: store) {
        try store.delete(names: [name], replicas: replicas)[0]
      }
    }
  }

  /// Runs one single-item write on a Redis store; when another writer (another server, a
  /// build) has taken the store since, takes it back once and writes again. Each such write is
  /// atomic and checked against what it read, so servers that share a store take turns
  /// instead of refusing each other.
  private static func takingTurns<R>(with store: RedisStore, _ write: () throws -> R) throws -> R {
    do {
      return try write()
    } catch let error as RedisStoreError where error.kind == .fenced {
      store.releaseWriterToken()
      return try write()
    }
  }

  /// The camera and pid a group of probes excludes.
  private struct ProbeExclusion: Hashable {
    var camera: Int32?
    var pid: Int32?
    var pidCamera: ItemFilter.Selection.PIDCamera?
  }

  /// The probes in groups that share one mask of passing items: one group without
  /// exclusions, else one per camera and pid the exclusions remove.
  private static func probeGroups(
    _ count: Int, labels: [ItemLabels]?, selection: ItemFilter.Selection?, junk: Int32?,
    options: Query.SearchOptions
  ) -> [(mask: IDMask?, rows: [Int])] {
    guard let selection, let labels else {
      return [(selection.map { $0.excluding(junk: junk) }, Array(0..<count))]
    }
    var rowsByKey: [ProbeExclusion: [Int]] = [:]
    var keys: [ProbeExclusion] = []
    for (row, labels) in labels.enumerated() {
      var key = ProbeExclusion(
        camera: options.excludeSameCamera ? labels.camera : nil,
        pid: options.excludeSamePID ? labels.pid : nil)
      if options.excludeSamePIDCamera, let pid = labels.pid, let camera = labels.camera {
        key.pidCamera = ItemFilter.Selection.PIDCamera(pid: pid, camera: camera)
      }
      if rowsByKey[key] == nil { keys.append(key) }
      rowsByKey[key, default: []].append(row)
    }
    return keys.map { key in
      (
        selection.excluding(
          camera: key.camera, pid: key.pid, pidCamera: key.pidCamera, junk: junk),
        rowsByKey[key] ?? []
      )
    }
  }
}

/// How one search is done: with the index or exactly, and why.
private struct SearchPlan {
  var index: SearchIndex?
  let options: Query.SearchOptions
  let recordedSpeed: (lsh: Double, exact: Double)?
  /// The method in words.
  var method: UserText = "exact"
  /// Why the index was put aside, as a short code, or `nil`.
  var reason: String?

  /// Whether the caller asked for the index by name or by its settings.
  private var asksForIndex: Bool {
    options.forceIndex || options.probesPerTable != nil || options.candidateBudget != nil
  }

  init(
    index: SearchIndex?, options: Query.SearchOptions,
    recordedSpeed: (lsh: Double, exact: Double)?
  ) {
    self.index = index
    self.options = options
    self.recordedSpeed = recordedSpeed
    // An index measured slower than exact search on this store is not used unless asked for.
    if index != nil, !asksForIndex, let speed = recordedSpeed, speed.lsh >= speed.exact {
      self.index = nil
      reason = "index-slower-than-exact"
      method =
        "exact (the LSH index measured \(TextFormatting.fixed(speed.lsh, 1)) µs/query against \(TextFormatting.fixed(speed.exact, 1)) µs for exact search on this store; \(option: .lsh) uses it anyway)"
    }
    // A probe's own camera or pid holds its nearest items on re-ID data, so what passes lies
    // far beyond the probe's buckets (LSH recall@10 fell to 0.004 on camera-shifted
    // embeddings): the exclusions search exactly unless the index is asked for.
    if self.index != nil, !asksForIndex, options.excludesPerProbe {
      self.index = nil
      reason = "exclusions-search-exactly"
      method =
        "exact (a probe's own camera or pid holds its nearest items, so the LSH index would miss what passes; \(option: .lsh) uses it anyway)"
    }
  }

  /// The items the filter and exclusions let through, or `nil` when nothing is filtered.
  func selection(in snapshot: some ItemSnapshot) throws -> ItemFilter.Selection? {
    let filtering = options.filter != nil || options.excludesPerProbe || options.excludeJunk
    guard filtering else { return nil }
    return try ItemFilter.Selection(
      snapshot: snapshot, filter: options.filter,
      groups: options.excludesPerProbe || options.excludeJunk)
  }

  /// A filter passing a fraction f costs LSH search about 1/f of its unfiltered time (it reads
  /// that much farther); where that exceeds exact search's recorded time, search exactly.
  mutating func considerFilter(_ selection: ItemFilter.Selection?, count: Int) {
    guard index != nil, !asksForIndex, let selection, let speed = recordedSpeed,
      selection.mask.count > LSHSearcher.directFilterLimit, count > 0
    else { return }
    let fraction = Double(selection.mask.count) / Double(count)
    let predicted = speed.lsh / fraction
    if predicted >= speed.exact {
      index = nil
      reason = "filter-slower-than-exact"
      method =
        "exact (with a filter passing \(TextFormatting.fixed(100 * fraction, 1))% of the items the LSH index would take about \(TextFormatting.fixed(predicted, 1)) µs/query against \(TextFormatting.fixed(speed.exact, 1)) µs for exact search; \(option: .lsh) uses it anyway)"
    }
  }

  /// Searches every group; LSH searches record their counters and settings in `result`.
  mutating func run(
    _ probes: Matrix, groups: [(mask: IDMask?, rows: [Int])], in snapshot: some ItemSnapshot,
    k: Int, into result: inout Query.Result
  ) throws -> [[Neighbor]] {
    var found: [[Neighbor]] = Array(repeating: [], count: probes.rows)
    guard snapshot.count > 0 else { return found }
    /// The probes of one group, as a matrix.
    func probeRows(_ rows: [Int]) -> Matrix {
      rows.count == probes.rows
        ? probes
        : Matrix(rows: rows.count, columns: probes.columns, values: rows.flatMap { probes.row($0) })
    }
    guard let index else {
      var search = snapshot.exactSearch
      search.threads = max(1, options.threads)
      for group in groups {
        let results = search.search(probeRows(group.rows), k: k, allowed: group.mask)
        for (position, row) in group.rows.enumerated() { found[row] = results[position] }
      }
      return found
    }
    var candidates = [Int](repeating: 0, count: probes.rows)
    var distances = [Int](repeating: 0, count: probes.rows)
    var buckets = [Int](repeating: 0, count: probes.rows)
    // The searcher's configuration is the one of this snapshot's index (another process may
    // have rebuilt it since it was opened).
    var configuration = index.configuration
    let options = self.options
    try index.withSearcher(in: snapshot) { searcher in
      configuration = searcher.model.configuration
      for group in groups {
        let results = try searcher.search(
          probeRows(group.rows), k: k, probesPerTable: options.probesPerTable,
          candidateBudget: options.candidateBudget, threads: options.threads,
          allowed: group.mask)
        for (position, row) in group.rows.enumerated() {
          found[row] = results[position].neighbors
          candidates[row] = results[position].candidates
          distances[row] = results[position].exactDistances
          buckets[row] = results[position].bucketsRead
        }
      }
    }
    result.candidates = candidates
    result.exactDistances = distances
    result.bucketsRead = buckets
    if let probes = options.probesPerTable { configuration.probes = probes }
    if let budget = options.candidateBudget { configuration.candidateBudget = budget }
    method = "lsh \(configuration.summary)"
    result.method = method
    return found
  }
}
