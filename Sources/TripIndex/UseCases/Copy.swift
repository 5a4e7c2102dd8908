import LSHIndex
import Plumbing
import VectorMath
import VectorStore

/// The `copy` command: every item of one store into a new store, on the same engine or another
/// (LMDB to Redis, Redis to LMDB, Redis to Redis): the same ids, names, labels, vectors, pid
/// conventions and model, and the source's LSH index with the same fitted parameters (so that
/// searches give the same answers).
///
/// Ids are kept by writing in id order into an empty store; an id the source deleted is taken
/// by a placeholder deleted in the same batch, so the target assigns the next one as the source
/// did. Each batch checks that the target gave every row its source id.
public enum Copy {
  /// What to copy.
  public struct Options: Sendable {
    /// The source store: a directory or a `redis://` address.
    public var from: String
    /// The target store, which must not exist yet (or be empty) unless ``replace`` is set.
    public var to: String
    /// Remove the target's contents first.
    public var replace = false
    /// Rows per write (one transaction on LMDB, one script per shard on Redis).
    public var batchRows = 1024
    /// How to reach stores on a Redis Cluster.
    public var redis = RedisAccess()

    /// Creates options.
    ///
    /// - Parameters:
    ///   - from: the source store.
    ///   - to: the target store.
    public init(from: String, to: String) {
      self.from = from
      self.to = to
    }
  }

  /// What a copy did.
  public struct Report: Sendable {
    /// The source and target, as given (Redis addresses without password).
    public var from: String, to: String
    /// Live items copied.
    public var items = 0
    /// Deleted ids of the source kept as deleted ids in the target.
    public var deletedIDs = 0
    /// The LSH index copied to the target, if the source has one.
    public var index: LSHConfiguration?
    /// Wall-clock seconds.
    public var seconds = 0.0

    /// The one-line summary.
    public var summary: String {
      "\(from) → \(to): \(TextFormatting.grouped(items)) items copied with their ids (\(TextFormatting.grouped(deletedIDs)) deleted ids kept deleted)"
        + (index.map { "; LSH index \($0.summary)" } ?? "") + "; \(TextFormatting.seconds(seconds))"
    }

    /// The summary as one JSON object.
    public var json: String {
      JSONValue.object([
        ("from", .string(from)), ("to", .string(to)), ("items", .integer(items)),
        ("deleted_ids", .integer(deletedIDs)), ("index", index.map { $0.json } ?? .null),
        ("seconds", .number(seconds)),
      ]).serialized()
    }
  }

  /// The metadata a copy carries over (pid conventions, model).
  static let copiedMetadata = [
    PIDConventions.distractorKey, PIDConventions.junkKey, StoreModel.fingerprintKey,
    StoreModel.pathKey,
  ]

  /// Copies a store.
  ///
  /// - Parameters:
  ///   - options: what to copy.
  ///   - progress: where status goes.
  /// - Returns: what was done.
  /// - Throws: ``TripIndexError`` for a target that exists (without `replace`) or is the source;
  ///   the engines' errors. A copy that fails part-way leaves a partial target: run it again
  ///   with `replace`.
  public static func run(_ options: Options, progress: any ProgressReporting) throws -> Report {
    let started = MonotonicClock.now()
    guard options.batchRows > 0 else {
      throw TripIndexError("\(option: .batch) must be positive, not \(options.batchRows)")
    }
    guard options.from != options.to else {
      throw TripIndexError("the source and the target are the same store (\(options.to))")
    }
    try prepareTarget(options)
    let encoder = try StoreView.indexEncoder(of: options.from, redis: options.redis)
    var (report, target) = try StoreView.read(options.from, redis: options.redis) { source in
      try copyItems(from: source, options: options, progress: progress)
    }
    if let encoder {
      progress.update("writing the LSH index", force: true)
      try target.install(encoder)
      report.index = encoder.model.configuration
    }
    progress.finish()
    report.seconds = MonotonicClock.now() - started
    return report
  }

  /// Refuses a target that holds items (or removes them with `replace`).
  private static func prepareTarget(_ options: Options) throws {
    let refusal: UserText =
      "store \(options.to) exists; \(command: "copy") writes a new store so that every id stays the same: pass \(option: .replace) to remove it first"
    if RedisAccess.isRedis(options.to) {
      guard case .redis(let store, _)? = try BuildTarget.existing(options.to, redis: options.redis)
      else { return }
      guard try store.assignedIDs() == 0 || options.replace else {
        throw TripIndexError(refusal)
      }
      try store.removeEverything()
    } else if VectorStore.exists(at: options.to) {
      guard options.replace else { throw TripIndexError(refusal) }
      VectorStore.remove(at: options.to)
    }
  }

  /// Writes every item of `source`, in id order, into the new target.
  ///
  /// - Returns: what was copied, and the target.
  private static func copyItems(
    from source: any ItemSnapshot, options: Options, progress: any ProgressReporting
  ) throws -> (Report, BuildTarget) {
    var metadata: [String: String] = [:]
    for key in copiedMetadata {
      if let value = try source.metadata(key) { metadata[key] = value }
    }
    let target = try BuildTarget.create(
      options.to, dimension: source.dimension, metric: source.metric, redis: options.redis)
    var report = Report(from: options.from, to: target.location)
    let dimension = source.dimension
    var names: [String] = []
    var labels: [ItemLabels] = []
    var values: [Float] = []
    var placeholders: [String] = []
    var firstID: UInt64 = 0
    var nextID: UInt64 = 0
    // A deleted id's placeholder: a name no source item has (it is checked below through the
    // ids), a unit vector, deleted again in its batch.
    let placeholderVector = [Float(1)] + [Float](repeating: 0, count: dimension - 1)
    func flush() throws {
      guard !names.isEmpty else { return }
      let written = try target.write(
        names: names, labels: labels,
        vectors: Matrix(rows: names.count, columns: dimension, values: values),
        metadata: metadata, thenDeleting: placeholders)
      let expected = (0..<UInt64(names.count)).map { firstID + $0 }
      guard written.ids == expected, written.added == names.count else {
        throw TripIndexError(
          "the target \(target.location) gave ids \(written.ids.first ?? 0)… to the source's ids \(firstID)…\(nextID - 1) (\(written.added) of \(names.count) added): it was not empty, or a placeholder name clashed; nothing past id \(firstID) was copied"
        )
      }
      report.items += names.count - placeholders.count
      report.deletedIDs += placeholders.count
      firstID = nextID
      names.removeAll(keepingCapacity: true)
      labels.removeAll(keepingCapacity: true)
      values.removeAll(keepingCapacity: true)
      placeholders.removeAll(keepingCapacity: true)
      progress.update(
        "copying \(TextFormatting.grouped(Int(nextID)))/\(TextFormatting.grouped(Int(source.idLimit))) ids"
      )
    }
    func append(name: String, labels itemLabels: ItemLabels, vector: some Collection<Float>) throws
    {
      names.append(name)
      labels.append(itemLabels)
      values.append(contentsOf: vector)
      nextID += 1
      if names.count >= options.batchRows { try flush() }
    }
    func keepDeleted(upTo id: UInt64) throws {
      while nextID < id {
        let name = "\u{1}tripindex-copy-deleted-\(nextID)"
        placeholders.append(name)
        try append(name: name, labels: ItemLabels(), vector: placeholderVector)
      }
    }
    try source.forEachItem { item, vector in
      try keepDeleted(upTo: item.id)
      try append(name: item.name, labels: item.labels, vector: vector)
    }
    try keepDeleted(upTo: source.idLimit)
    try flush()
    return (report, target)
  }
}
