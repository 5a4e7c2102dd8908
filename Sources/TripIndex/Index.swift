import LSHIndex
import VectorIO
import VectorStore

/// LSH settings as a user chooses them: a family's defaults, overridden where given. The family
/// defaults to p-stable for l2 and random hyperplanes for cosine, so one set of choices can serve
/// stores (or models) of either metric.
public struct LSHChoices: Sendable {
  /// The family; `nil` follows the metric.
  public var family: HashFamily?
  /// L.
  public var tables: Int?
  /// K.
  public var hashesPerTable: Int?
  /// The p-stable bucket width; `nil` estimates it from the data.
  public var bucketWidth: Double?
  /// Principal components fed to the hashes.
  public var hashDimensions: Int?
  /// Principal components kept per item as a sketch.
  public var sketchDimensions: Int?
  /// T: probes per table.
  public var probes: Int?
  /// The most candidates per query (0: none).
  public var candidateBudget: Int?
  /// The hash functions' seed.
  public var seed: UInt64?

  /// No choices: every default.
  public init() {}

  /// The settings for a metric.
  ///
  /// - Parameter metric: the store's (or model's) metric.
  /// - Returns: the configuration.
  public func configuration(metric: DistanceMetric) -> LSHConfiguration {
    var configuration = LSHConfiguration.defaults(
      for: family ?? (metric == .cosine ? .hyperplane : .pstable))
    if let tables { configuration.tables = tables }
    if let hashesPerTable { configuration.hashesPerTable = hashesPerTable }
    if let bucketWidth { configuration.bucketWidth = bucketWidth }
    if let hashDimensions { configuration.hashDimensions = hashDimensions }
    if let sketchDimensions { configuration.sketchDimensions = sketchDimensions }
    if let probes { configuration.probes = probes }
    if let candidateBudget { configuration.candidateBudget = candidateBudget }
    if let seed { configuration.seed = seed }
    return configuration
  }
}

/// `tripindex index`: build, rebuild or drop a store's LSH index.
public enum Index {
  /// What an indexing run did.
  public struct Report: Sendable {
    /// The store.
    public var storePath: String
    /// The index's settings (with the bucket width resolved), or `nil` after a drop.
    public var configuration: LSHConfiguration?
    /// Items indexed.
    public var items: Int
    /// Seconds taken.
    public var seconds: Double
    /// Single-threaded microseconds per query of the index and of exact search, on stored
    /// items used as queries (`nil` after a drop).
    public var speed: (lsh: Double, exact: Double)?

    /// A one-line summary.
    public var summary: String {
      guard let configuration else { return "\(storePath): LSH index dropped" }
      return
        "\(storePath): LSH index \(configuration.summary) over \(TextFormatting.grouped(items)) items "
        + "(hashes on \(configuration.hashDimensions) principal components, \(configuration.sketchDimensions)-byte codes); "
        + TextFormatting.seconds(seconds) + speedNote
    }

    /// What the speed check found, with advice when the index is slower than exact search.
    var speedNote: String {
      guard let speed, speed.exact > 0 else { return "" }
      let times =
        "; \(TextFormatting.fixed(speed.lsh, 1)) µs/query on one thread, exact search \(TextFormatting.fixed(speed.exact, 1))"
      guard speed.lsh >= speed.exact else { return times }
      return times
        + "\nwarning: this index is slower than exact search on this store, so `query` searches exactly unless given --lsh (or --probes/--budget); `tripindex tune` finds a faster setting or chooses exact search"
    }
  }

  /// Opens a store for writing with its index (if any) attached, so changes keep it in step.
  ///
  /// - Parameter path: the store's directory.
  /// - Returns: the store.
  /// - Throws: ``VectorStoreError``, ``LSHError``.
  public static func openForWriting(_ path: String) throws -> VectorStore {
    let store = try VectorStore.open(path: path)
    _ = try LSHIndex.open(store)
    return store
  }

  /// Builds (replacing any existing) or drops the LSH index of a store.
  ///
  /// - Parameters:
  ///   - storePath: the store's directory.
  ///   - configuration: the settings, or `nil` to drop the index.
  /// - Returns: what was done.
  /// - Throws: ``LSHError`` for bad settings, ``VectorStoreError``.
  public static func run(storePath: String, configuration: LSHConfiguration?) throws -> Report {
    let started = Progress.now()
    // Building and dropping read nothing of an existing index, so a damaged one can always be
    // replaced or dropped.
    let store = try VectorStore.open(path: storePath)
    guard let configuration else {
      try LSHIndex.drop(from: store)
      return Report(
        storePath: storePath, configuration: nil, items: try store.count(),
        seconds: Progress.now() - started)
    }
    let index = try LSHIndex.build(on: store, configuration: configuration)
    let seconds = Progress.now() - started
    let speed = try LSHTuner.speed(of: index)
    try index.recordSpeed(lsh: speed.lsh, exact: speed.exact)
    return Report(
      storePath: storePath, configuration: index.configuration, items: try store.count(),
      seconds: seconds, speed: speed)
  }
}
