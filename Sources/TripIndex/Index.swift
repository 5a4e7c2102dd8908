import LSHIndex
import VectorIO
import VectorStore

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

    /// A one-line summary.
    public var summary: String {
      guard let configuration else { return "\(storePath): LSH index dropped" }
      return
        "\(storePath): LSH index \(configuration.summary) over \(TextFormatting.grouped(items)) items "
        + "(hashes on \(configuration.hashDimensions) principal components, \(configuration.sketchDimensions)-d sketches); "
        + TextFormatting.seconds(seconds)
    }
  }

  /// Index settings from command-line choices: a family's defaults, overridden where given. The
  /// family defaults to p-stable for l2 stores and random hyperplanes for cosine stores.
  ///
  /// - Returns: the configuration.
  public static func configuration(
    family: HashFamily?, metric: DistanceMetric, tables: Int?, hashesPerTable: Int?,
    bucketWidth: Double?,
    hashDimensions: Int?, sketchDimensions: Int?, probes: Int?, candidateBudget: Int?, seed: UInt64?
  ) -> LSHConfiguration {
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
    let store = try openForWriting(storePath)
    guard let configuration else {
      try LSHIndex.drop(from: store)
      return Report(
        storePath: storePath, configuration: nil, items: try store.count(),
        seconds: Progress.now() - started)
    }
    let index = try LSHIndex.build(on: store, configuration: configuration)
    return Report(
      storePath: storePath, configuration: index.configuration, items: try store.count(),
      seconds: Progress.now() - started)
  }
}
