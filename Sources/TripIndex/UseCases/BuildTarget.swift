import Embedding
import LSHIndex
import RedisStore
import VectorMath
import VectorStore

/// The store a `build` writes to, whatever engine holds it: what the build reads of it (shape,
/// model, conventions) and how it writes one batch (one LMDB transaction; on Redis one atomic
/// script per shard, acknowledged by replicas).
enum BuildTarget {
  /// An LMDB store.
  case lmdb(VectorStore)
  /// A store on a Redis Cluster, and the replicas each write waits for.
  case redis(RedisStore, replicas: Int)

  /// The existing store at `location`, or `nil` when there is none yet.
  static func existing(_ location: String, redis: RedisAccess) throws -> BuildTarget? {
    if RedisAccess.isRedis(location) {
      do {
        let store = try redis.open(location)
        return .redis(store, replicas: try redis.replicaCount(for: store))
      } catch let error as RedisStoreError where error.kind == .missing {
        return nil
      }
    }
    guard VectorStore.exists(at: location) else { return nil }
    return .lmdb(try Index.openForWriting(location))
  }

  /// Creates (or opens) the store at `location`.
  static func create(
    _ location: String, dimension: Int, metric: DistanceMetric, redis: RedisAccess
  ) throws -> BuildTarget {
    if RedisAccess.isRedis(location) {
      let store = try redis.openOrCreate(location, dimension: dimension, metric: metric)
      return .redis(store, replicas: try redis.replicaCount(for: store))
    }
    return .lmdb(try VectorStore.openOrCreate(path: location, dimension: dimension, metric: metric))
  }

  /// Values per stored vector.
  var dimension: Int {
    switch self {
    case .lmdb(let store): store.dimension
    case .redis(let store, _): store.dimension
    }
  }

  /// The store's metric.
  var metric: DistanceMetric {
    switch self {
    case .lmdb(let store): store.metric
    case .redis(let store, _): store.metric
    }
  }

  /// Live items.
  func count() throws -> Int {
    switch self {
    case .lmdb(let store): try store.count()
    case .redis(let store, _): try store.count()
    }
  }

  /// A metadata value.
  func metadata(_ key: String) throws -> String? {
    switch self {
    case .lmdb(let store): try store.metadata(key)
    case .redis(let store, _): try store.metadata(key)
    }
  }

  /// Writes one batch with the metadata that goes with it, then deletes `doomed` names: on LMDB
  /// in one transaction; on Redis the metadata first, then each shard's part atomically.
  ///
  /// - Returns: items added, updated and left unchanged, and the id of every row.
  func write(
    names: [String], labels: [ItemLabels], vectors: Matrix, metadata: [String: String],
    thenDeleting doomed: [String] = []
  ) throws -> (added: Int, updated: Int, unchanged: Int, ids: [UInt64]) {
    switch self {
    case .lmdb(let store):
      let summary = try vectors.values.withUnsafeBufferPointer { values in
        try store.write { writer in
          for (key, value) in metadata.sorted(by: { $0.key < $1.key }) {
            try writer.setMetadata(key, value)
          }
          let summary = try writer.upsert(names: names, labels: labels, vectors: values)
          for name in doomed { _ = try writer.delete(name: name) }
          return summary
        }
      }
      return (summary.added, summary.updated, summary.unchanged, summary.ids)
    case .redis(let store, let replicas):
      try store.setMetadata(metadata, replicas: replicas)
      let summary = try store.upsert(
        names: names, labels: labels, vectors: vectors, replicas: replicas)
      if !doomed.isEmpty { _ = try store.delete(names: doomed, replicas: replicas) }
      return (summary.added, summary.updated, summary.unchanged, summary.ids)
    }
  }

  /// The store's address for messages (a Redis address without its password).
  var location: String {
    switch self {
    case .lmdb(let store): store.path
    case .redis(let store, _): "\(store.address)"
    }
  }

  /// The settings of the store's LSH index, or `nil` when it has none.
  func indexConfiguration() throws -> LSHConfiguration? {
    switch self {
    case .lmdb(let store): try LSHIndex.open(store)?.configuration
    case .redis(let store, _): try RedisIndex.current(of: store)?.encoder.model.configuration
    }
  }

  /// Builds (replacing any) the store's LSH index, measures it against exact search and
  /// records that, as `index` does, so `query` knows whether it pays its way.
  ///
  /// - Returns: the index's settings, and its measured speed.
  func buildIndex(_ configuration: LSHConfiguration) throws -> (
    LSHConfiguration, (lsh: Double, exact: Double)?
  ) {
    switch self {
    case .lmdb(let store):
      let index = try LSHIndex.build(on: store, configuration: configuration)
      return (index.configuration, try Index.measureAndRecord(index))
    case .redis(let store, let replicas):
      let (encoder, speed) = try RedisIndex.build(
        on: store, configuration: configuration, replicas: replicas)
      return (encoder.model.configuration, speed)
    }
  }

  /// Gives the store an index with fitted parameters (another store's: `copy`), replacing any,
  /// measured against exact search as `index` does.
  ///
  /// - Throws: the engines' errors.
  func install(_ encoder: ItemEncoder) throws {
    switch self {
    case .lmdb(let store):
      _ = try Index.measureAndRecord(try LSHIndex.build(on: store, encoder: encoder))
    case .redis(let store, let replicas):
      try RedisIndex.install(encoder, on: store, replicas: replicas)
    }
  }

  /// Removes a store this build created and never wrote to.
  func removeIfNeverWritten() {
    switch self {
    case .lmdb(let store): VectorStore.removeIfNeverWritten(store)
    case .redis(let store, _):
      if (try? store.count()) == 0 { try? store.removeEverything() }
    }
  }
}
