import LSHIndex
import Plumbing
import VectorIO
import VectorStore

/// The `index` command: build, rebuild or drop a store's LSH index.
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
    public var summary: UserText {
      guard let configuration else { return "\(storePath): LSH index dropped" }
      let text =
        "\(storePath): LSH index \(configuration.summary) over \(TextFormatting.grouped(items)) items "
        + "(hashes on \(configuration.hashDimensions) principal components, \(configuration.sketchDimensions)-byte codes); "
        + TextFormatting.seconds(seconds)
      return UserText(verbatim: text) + speedNote
    }

    /// What the speed check found, with advice when the index is slower than exact search.
    var speedNote: UserText { Index.speedNote(speed) }
  }

  /// What a speed check of a freshly built index found (``LSHTuner/speed(of:queries:)``), with
  /// advice when the index is slower than exact search; empty without a measurement.
  ///
  /// - Parameter speed: microseconds per query with the index and with exact search.
  /// - Returns: the note, starting with "; ".
  static func speedNote(_ speed: (lsh: Double, exact: Double)?) -> UserText {
    guard let speed, speed.exact > 0 else { return "" }
    let times: UserText =
      "; \(TextFormatting.fixed(speed.lsh, 1)) µs/query on one thread, exact search \(TextFormatting.fixed(speed.exact, 1)) µs/query"
    guard speed.lsh >= speed.exact else { return times }
    return times
      + "\nwarning: this index is slower than exact search on this store, so `query` searches exactly unless given \(option: .lsh) (or \(option: .probes)/\(option: .budget)); \(command: "tune") finds a faster setting or chooses exact search"
  }

  /// Measures a freshly built index against exact search (``LSHTuner/speed(of:queries:)``) and
  /// records the result with it, so `query` knows whether the index pays its way.
  ///
  /// - Returns: microseconds per query with the index and with exact search.
  /// - Throws: `VectorStoreError`, `LSHError`.
  static func measureAndRecord(_ index: LSHIndex) throws -> (lsh: Double, exact: Double) {
    let speed = try LSHTuner.speed(of: index)
    try index.recordSpeed(lsh: speed.lsh, exact: speed.exact)
    return speed
  }

  /// Opens a store for writing with its index (if any) attached, so changes keep it in step.
  ///
  /// - Parameter path: the store's directory.
  /// - Returns: the store.
  /// - Throws: `VectorStoreError`, `LSHError`.
  public static func openForWriting(_ path: String) throws -> VectorStore {
    let store = try VectorStore.open(path: path)
    _ = try LSHIndex.open(store)
    return store
  }

  /// Packs the tables of a store's LSH index again for reading (`LSHIndex.packAgain()`), when
  /// changes since the index was built (`delete`, serve's upserts and deletes) removed the packed
  /// copy: the index keeps its build, settings and measured speed.
  ///
  /// - Parameters:
  ///   - storePath: the store's directory.
  ///   - redis: how a `redis://` address would be reached (such stores keep no packed copy).
  /// - Returns: what was done, in one line.
  /// - Throws: ``TripIndexError`` for a store without an index, an index built before packed
  ///   copies, or a store on a Redis Cluster; `VectorStoreError`, `LSHError`.
  public static func pack(storePath: String, redis: RedisAccess = RedisAccess()) throws -> UserText
  {
    guard !RedisAccess.isRedis(storePath) else {
      throw TripIndexError(
        "\(storePath): a store on a Redis Cluster keeps no packed copy of its tables (its searches fetch each bucket by key); there is nothing to pack"
      )
    }
    let started = MonotonicClock.now()
    let store = try VectorStore.open(path: storePath)
    guard let index = try LSHIndex.open(store) else {
      throw TripIndexError(
        "\(storePath) has no LSH index to pack; build one with \(command: "index") or \(command: "tune")"
      )
    }
    guard index.keepsPackedCopy else {
      throw TripIndexError(
        "\(storePath): its LSH index was built by a tripindex without packed tables; \(command: "index") or \(command: "tune") builds it again with them"
      )
    }
    guard try index.packAgain() else {
      return "\(storePath): the LSH tables are already packed for reading; nothing to do"
    }
    return UserText(
      verbatim:
        "\(storePath): \(index.configuration.tables) LSH tables packed again for reading; "
        + TextFormatting.seconds(MonotonicClock.now() - started))
  }

  /// Advice after a change that removed the packed copy of a store's LSH tables: searches read
  /// the tables until ``pack(storePath:redis:)`` packs them again. `nil` when the store has no
  /// index with a packed copy to restore, or the copy is there.
  ///
  /// - Parameter storePath: the store's directory (a `redis://` address gives `nil`).
  /// - Returns: the advice.
  /// - Throws: `VectorStoreError`, `LSHError`.
  public static func packAdvice(storePath: String) throws -> UserText? {
    guard !RedisAccess.isRedis(storePath) else { return nil }
    let store = try VectorStore.open(path: storePath, readOnly: true)
    guard let index = try LSHIndex.open(store), try index.packedCopyIsRemoved() else { return nil }
    return
      "note: the change removed the packed copy of the LSH tables; searches read the tables (a little slower) until \(command: "index \(option: .pack)") packs them again"
  }

  /// Builds (replacing any existing) or drops the LSH index of a store, with settings resolved
  /// for the store's metric.
  ///
  /// - Parameters:
  ///   - storePath: the store's directory, or a `redis://` address.
  ///   - choices: the settings, or `nil` to drop the index.
  ///   - redis: how to reach a store on a Redis Cluster.
  ///   - progress: the stage being worked on.
  /// - Returns: what was done.
  /// - Throws: `LSHError` for bad settings, `VectorStoreError`; `RedisError` or
  ///   `RedisStoreError` for a Redis store.
  public static func run(
    storePath: String, choices: LSHChoices?, redis: RedisAccess = RedisAccess(),
    progress: any ProgressReporting = SilentProgress()
  ) throws -> Report {
    guard let choices else {
      return try run(storePath: storePath, configuration: nil, redis: redis, progress: progress)
    }
    // Only the metric is read here: a damaged index must stay replaceable.
    let metric =
      RedisAccess.isRedis(storePath)
      ? try redis.open(storePath).metric
      : try VectorStore.open(path: storePath, readOnly: true).metric
    return try run(
      storePath: storePath, configuration: choices.configuration(metric: metric), redis: redis,
      progress: progress)
  }

  /// Builds (replacing any existing) or drops the LSH index of a store.
  ///
  /// - Parameters:
  ///   - storePath: the store's directory, or a `redis://` address.
  ///   - configuration: the settings, or `nil` to drop the index.
  ///   - redis: how to reach a store on a Redis Cluster.
  ///   - progress: the stage being worked on (fitting, encoding and writing, timing).
  /// - Returns: what was done.
  /// - Throws: `LSHError` for bad settings, `VectorStoreError`; `RedisError` or
  ///   `RedisStoreError` for a Redis store.
  public static func run(
    storePath: String, configuration: LSHConfiguration?, redis: RedisAccess = RedisAccess(),
    progress: any ProgressReporting = SilentProgress()
  ) throws -> Report {
    let started = MonotonicClock.now()
    defer { progress.finish() }
    if RedisAccess.isRedis(storePath) {
      let store = try redis.open(storePath)
      let replicas = try redis.replicaCount(for: store)
      var report = Report(
        storePath: "\(store.address)", configuration: nil, items: 0, seconds: 0)
      if let configuration {
        let built = try RedisIndex.build(
          on: store, configuration: configuration, replicas: replicas, progress: progress)
        report.configuration = built.encoder.model.configuration
        report.speed = built.speed
      } else {
        try RedisIndex.drop(from: store, replicas: replicas)
      }
      report.items = try store.count()
      report.seconds = MonotonicClock.now() - started
      return report
    }
    // Building and dropping read nothing of an existing index, so a damaged one can always be
    // replaced or dropped.
    let store = try VectorStore.open(path: storePath)
    guard let configuration else {
      try LSHIndex.drop(from: store)
      return Report(
        storePath: storePath, configuration: nil, items: try store.count(),
        seconds: MonotonicClock.now() - started)
    }
    let index = try LSHIndex.build(on: store, configuration: configuration) {
      progress.update($0, force: true)
    }
    let seconds = MonotonicClock.now() - started
    progress.update("timing the index against exact search", force: true)
    let speed = try measureAndRecord(index)
    return Report(
      storePath: storePath, configuration: index.configuration, items: try store.count(),
      seconds: seconds, speed: speed)
  }
}
