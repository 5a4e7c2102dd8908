import Embedding
import LSHIndex
import Plumbing
import VectorIO
import VectorMath
import VectorStore

/// The `query` command: the nearest stored items of each probe vector.
public enum Query {
  /// The dataset read from an HDF5 probe file when none is named: ann-benchmarks' queries.
  public static let defaultDataset = "test"

  /// How to search, whatever the probes come from (files for the command, requests for a
  /// server).
  public struct SearchOptions: Sendable {
    /// Neighbours per probe.
    public var k: Int
    /// Search exhaustively even when the store has an LSH index.
    public var exact: Bool
    /// Worker threads (all cores by default).
    public var threads: Int = Parallel.processorCount
    /// LSH: probes per table (`nil`: the index's setting).
    public var probesPerTable: Int?
    /// LSH: the most table entries examined per probe (`nil`: the index's setting; 0: no limit).
    public var candidateBudget: Int?
    /// Use the LSH index even when it measured slower than exact search on this store.
    public var forceIndex = false
    /// Only items passing this filter are returned (applied inside the search).
    public var filter: ItemFilter?
    /// Leave out the items of each probe's own camera (all of them).
    public var excludeSameCamera = false
    /// Leave out the items of each probe's own pid.
    public var excludeSamePID = false
    /// Leave out the items with the probe's pid and camera both (Market-1501's rule).
    public var excludeSamePIDCamera = false
    /// Leave out junk items (pid ``junkPID``): with ``excludeSamePIDCamera``, the gallery that
    /// `eval`'s Market-1501 protocol ranks for each query.
    public var excludeJunk = false
    /// The junk pid given (`.some(nil)` for none); `nil` takes the store's record, else
    /// Market-1501's −1.
    public var junkPID: Int32?? = nil

    /// Creates options.
    ///
    /// - Parameters:
    ///   - k: neighbours per probe.
    ///   - exact: search exhaustively even when the store has an LSH index.
    public init(k: Int = 20, exact: Bool = false) {
      self.k = k
      self.exact = exact
    }

    /// Whether any per-probe exclusion is asked for.
    var excludesPerProbe: Bool { excludeSameCamera || excludeSamePID || excludeSamePIDCamera }

    /// Refuses settings out of range.
    ///
    /// - Throws: ``TripIndexError`` naming the option.
    func validate() throws {
      guard k > 0 else { throw TripIndexError("\(option: .k) must be at least 1, not \(k)") }
      guard threads > 0 else {
        throw TripIndexError("\(option: .threads) must be at least 1, not \(threads)")
      }
      if let probes = probesPerTable, probes < 1 {
        throw TripIndexError("\(option: .probes) must be at least 1, not \(probes)")
      }
      if let budget = candidateBudget, budget < 0 {
        throw TripIndexError(
          "\(option: .budget) cannot be negative (0 means no limit), not \(budget)")
      }
    }
  }

  /// What to search: the probes' file, the store, and how to search (its settings read and
  /// set through this value, `options.k`).
  @dynamicMemberLookup
  public struct Options: Sendable {
    /// A folder of probes, or a `.vec`, `.fvecs`, `.npy` or HDF5 file with one or many, read
    /// as `build` reads it: names from files and `labels.csv`, labels from `labels.csv` or
    /// Market-1501 and MSMT17 names.
    public var probePath: String
    /// The dataset read from an HDF5 probe file (`nil`: ``Query/defaultDataset``).
    public var dataset: String?
    /// The store's directory, or a `redis://` address.
    public var storePath: String
    /// How to reach a store on a Redis Cluster.
    public var redis = RedisAccess()
    /// The model to embed probes with; by default the one the store was built with.
    public var modelPath: String?
    /// A labels.csv with one row per probe, in probe order, for the exclusions (instead of the
    /// labels read with the probes).
    public var probeLabelsPath: String?
    /// How to search.
    public var search: SearchOptions

    /// Creates options.
    ///
    /// - Parameters:
    ///   - probePath: the probe file.
    ///   - storePath: the store's directory.
    ///   - k: neighbours per probe.
    ///   - exact: search exhaustively even when the store has an LSH index.
    public init(
      probePath: String, storePath: String = "tripindex.lmdb", k: Int = 20, exact: Bool = false
    ) {
      self.probePath = probePath
      self.storePath = storePath
      search = SearchOptions(k: k, exact: exact)
    }

    /// A search setting.
    public subscript<Value>(dynamicMember path: WritableKeyPath<SearchOptions, Value>) -> Value {
      get { search[keyPath: path] }
      set { search[keyPath: path] = newValue }
    }

    /// A property of the search settings.
    subscript<Value>(dynamicMember path: KeyPath<SearchOptions, Value>) -> Value {
      search[keyPath: path]
    }
  }

  /// One neighbour, resolved to the stored item.
  public struct Match: Hashable, Sendable {
    /// The item.
    public var item: StoredItem
    /// Its distance to the probe: squared L2, or 1 − cos.
    public var distance: Float
  }

  /// The answer to a query.
  public struct Result: Sendable {
    /// The store's metric.
    public var metric: DistanceMetric
    /// Items in the store.
    public var storeCount: Int
    /// Per probe, in input order, its neighbours closest first.
    public var neighbors: [[Match]]
    /// Each probe's name (its file's stem, `FILESTEM#ROW`, or its `labels.csv` name).
    public var probeNames: [String] = []
    /// How the search was done, in words ("exact", or the LSH settings, with the reason when
    /// the index was not used).
    public var method: UserText
    /// `exact` or `lsh` (LSH searches count their candidates).
    public var methodKind: String { candidates == nil ? "exact" : "lsh" }
    /// Why the search was exact although the store has an index, as a short code
    /// (`index-slower-than-exact`, `exclusions-search-exactly`, `filter-slower-than-exact`), or
    /// `nil`.
    public var methodReason: String?
    /// LSH: table entries examined per probe; `nil` for exact search.
    public var candidates: [Int]?
    /// LSH: exact distances computed per probe; `nil` for exact search.
    public var exactDistances: [Int]?
    /// LSH: buckets read per probe; `nil` for exact search.
    public var bucketsRead: [Int]?
    /// With a filter or an exclusion: per probe, the live items that pass (every exclusion
    /// counted).
    public var passing: [Int]?
    /// Seconds spent opening the store and reading the probes, preparing the search (loading the
    /// LSH tables), and searching.
    public var timing: (load: Double, prepare: Double, search: Double) = (0, 0, 0)
    /// Whether a store on a Redis Cluster was searched through its index's postings (each
    /// probe's buckets, then the vectors it scored) rather than over a snapshot of every item.
    public var readThroughPostings = false
  }

  /// Runs a query: opens the store, reads and prepares the probes, searches.
  ///
  /// - Parameter options: what to search.
  /// - Returns: the neighbours of every probe.
  /// - Throws: `VectorIOError` for a bad probe file (dimension, values), `VectorStoreError`,
  ///   or ``TripIndexError`` for a bad `k`.
  public static func run(_ options: Options) throws -> Result {
    try options.search.validate()
    if let dataset = options.dataset, VectorFileFormat(path: options.probePath) != .hdf5 {
      throw TripIndexError(
        "\(option: .dataset) \(dataset) names a dataset of an HDF5 file, and \(options.probePath) is not one"
      )
    }
    let started = MonotonicClock.now()
    let session = try SearchSession(
      storePath: options.storePath, modelPath: options.modelPath, readOnly: true,
      usesIndex: !options.exact, redis: options.redis)
    let read = try readProbes(
      options.probePath, dimension: session.dimension, metric: session.metric,
      store: session.location, model: session.model, dataset: options.dataset)
    let probeLabels = try readProbeLabels(options, read: read)
    let loaded = MonotonicClock.now()
    var result = try session.search(
      read.vectors, names: read.names, labels: probeLabels, options: options.search)
    result.timing.load = loaded - started
    return result
  }

  /// The probes' labels when an exclusion needs them: those read with the probes (from
  /// `labels.csv` or their names), or a `labels.csv` given for them (one row per probe, in
  /// order).
  ///
  /// - Throws: ``TripIndexError`` for a labels file without an exclusion, `VectorIOError` naming
  ///   the file and line for a bad file, a row count that differs, or a probe without the label
  ///   an exclusion uses.
  static func readProbeLabels(_ options: Options, read: LabelledVectors) throws -> [ItemLabels]? {
    guard options.excludesPerProbe else {
      if options.probeLabelsPath != nil {
        throw TripIndexError(
          "\(option: .probeLabels) is read for \(option: .excludeSameCamera), \(option: .excludeSamePid) or \(option: .excludeSamePidCamera); add one"
        )
      }
      return nil
    }
    var labels = read.labels.map { (labels: $0, where: "probe") }
    var names = read.names
    if let path = options.probeLabelsPath {
      let file = try LabelsFile(path: path)
      guard file.entries.count == read.count else {
        throw VectorIOError(
          path: path,
          "has \(file.entries.count) rows but \(read.source) has \(read.count) probes; give one row per probe, in order"
        )
      }
      labels = file.entries.map { ($0.labels, "\(path), line \($0.line): probe") }
      names = file.entries.map(\.name)
    }
    for (index, (label, place)) in labels.enumerated() {
      let needsCamera = options.excludeSameCamera || options.excludeSamePIDCamera
      let needsPID = options.excludeSamePID || options.excludeSamePIDCamera
      if (needsCamera && label.camera == nil) || (needsPID && label.pid == nil) {
        throw TripIndexError(
          "\(place) '\(names[index])' has no \(needsPID && label.pid == nil ? "pid" : "camera"), which the exclusion needs: give its labels in a labels.csv beside the probes (or \(option: .probeLabels)), or use Market-1501 or MSMT17 names"
        )
      }
    }
    return labels.map(\.labels)
  }

  /// Reads probes as `build` reads a folder or file (names, labels, every value checked as the
  /// store would hold it, after the store's model, naming the file and row), embedded with the
  /// store's model and normalised for the cosine metric. From an HDF5 file, `dataset` (default
  /// `test`) is read.
  ///
  /// - Throws: `VectorIOError` naming the file and row, ``TripIndexError``.
  static func readProbes(
    _ path: String, dimension: Int, metric: DistanceMetric, store: String,
    model: EmbeddingModel?, dataset: String? = nil
  ) throws -> LabelledVectors {
    // Probes are often unlabelled files: the reading's warnings are not shown.
    var probes = try LabelledVectors.load(
      path, storing: StoredForm(model: model, normalizing: metric.normalizesVectors),
      expectedDimension: (
        model?.architecture.inputDimension ?? dimension,
        model == nil ? "store \(store)" : "the store's model (its input)"
      ), dataset: dataset ?? defaultDataset, progress: SilentProgress()
    ).items
    probes.vectors = try StoreModel.embed(probes.vectors, with: model, source: path)
    // The rows were checked as stored, so every embedding has a direction here.
    if metric.normalizesVectors, let zero = probes.vectors.normalizeRows() {
      throw TripIndexError(
        "probe '\(probes.names[zero])' cannot be normalised for the cosine metric")
    }
    return probes
  }
}

extension Query.Result {
  /// The name of probe `row` (`nil` when none was read, as for a result made in code).
  public func probeName(_ row: Int) -> String? { row < probeNames.count ? probeNames[row] : nil }

  /// JSON lines: one object per probe, in input order, keys in snake_case:
  ///
  /// `{"probe": "q1", "row": 0, "method": "lsh", "method_reason": null, "neighbors": [{"id": 3,
  /// "name": "x", "pid": 1, "camera": null, "group": null, "distance": 0.5}], "passing": 812,
  /// "candidates": 420, "codes_scanned": 420, "buckets_read": 9, "exact_distances": 37}`
  ///
  /// `probe` is the probe's name (`null` when it has none) and `row` its index in the input;
  /// `method` is `exact` or `lsh`, and `method_reason` says why a store's index was not used
  /// (`index-slower-than-exact`, `exclusions-search-exactly`, `filter-slower-than-exact`) or
  /// is `null`; `passing` (with a filter or an exclusion) counts the items this probe could
  /// return; `candidates` (table entries examined; `codes_scanned` says the same),
  /// `buckets_read` and `exact_distances` are the index's counters (LSH only).
  ///
  /// - Parameter output: where to write.
  public func writeJSONLines(to output: inout OutputBuffer) {
    for row in neighbors.indices {
      writeJSONObject(row: row, to: &output)
      output.write("\n")
    }
  }

  /// One probe's JSON object, as a line of ``writeJSONLines(to:)`` holds it (without the line
  /// break): the one encoder of results for every front end.
  ///
  /// - Parameters:
  ///   - row: the probe.
  ///   - output: where to write.
  public func writeJSONObject(row: Int, to output: inout OutputBuffer) {
    let matches = neighbors[row]
    output.write("{\"probe\": ")
    if let name = probeName(row) { output.writeJSONString(name) } else { output.write("null") }
    output.write(", \"row\": \(row), \"method\": ")
    output.writeJSONString(methodKind)
    output.write(", \"method_reason\": ")
    if let methodReason { output.writeJSONString(methodReason) } else { output.write("null") }
    output.write(", \"neighbors\": [")
    for (index, match) in matches.enumerated() {
      output.write(index == 0 ? "{\"id\": " : ", {\"id\": ")
      output.write(match.item.id)
      output.write(", \"name\": ")
      output.writeJSONString(match.item.name)
      let labels = match.item.labels
      // Piece by piece: an interpolated string this long would be allocated per neighbour.
      output.write(", \"pid\": ")
      output.write(optional: labels.pid)
      output.write(", \"camera\": ")
      output.write(optional: labels.camera)
      output.write(", \"group\": ")
      output.write(optional: labels.group)
      output.write(", \"distance\": ")
      output.writeJSONNumber(match.distance)
      output.write("}")
    }
    output.write("]")
    if let passing { output.write(", \"passing\": \(passing[row])") }
    if let candidates {
      output.write(", \"candidates\": \(candidates[row]), \"codes_scanned\": \(candidates[row])")
    }
    if let bucketsRead { output.write(", \"buckets_read\": \(bucketsRead[row])") }
    if let exactDistances {
      output.write(", \"exact_distances\": \(exactDistances[row])")
    }
    output.write("}")
  }
}
