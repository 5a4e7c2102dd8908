import Embedding
import Evaluation
import LSHIndex
import Plumbing
import VectorIO
import VectorMath
import VectorStore

/// A gallery kept in a store (LMDB or Redis): its items (vectors as stored, labels, names), its
/// model and pid conventions, and each stored id's row.
struct StoredGallery {
  /// The store, as it may be shown (a Redis address without its password).
  var location: String
  /// The store's metric.
  var metric: DistanceMetric
  /// The LMDB store (open read-only), whose own LSH index `eval --lsh` can search; `nil` for a
  /// Redis store.
  var lmdbStore: VectorStore?
  /// The model its vectors were embedded with, or `nil` for raw vectors.
  var model: EmbeddingModel?
  /// The pid conventions the store records, if any.
  var conventions: PIDConventions?
  /// Its items in id order.
  var items: LabelledVectors
  /// Each stored id's row in ``items``.
  var rowOfID: [UInt64: Int]

  /// Reads a store's items.
  ///
  /// - Parameters:
  ///   - path: the store's directory, or a `redis://` address.
  ///   - modelOverride: a model to use instead of the recorded one (same fingerprint).
  ///   - redis: how to reach a store on a Redis Cluster.
  ///   - progress: status output.
  /// - Throws: `VectorStoreError`, `RedisError`, `RedisStoreError` or ``TripIndexError``.
  init(
    path: String, modelOverride: String?, redis: RedisAccess, progress: any ProgressReporting
  ) throws {
    location = RedisAccess.displayed(path)
    progress.update("reading the gallery from store \(location)", force: true)
    lmdbStore = RedisAccess.isRedis(path) ? nil : try VectorStore.open(path: path, readOnly: true)
    var names: [String] = []
    var labels: [ItemLabels] = []
    var values: [Float] = []
    var rowOfID: [UInt64: Int] = [:]
    let location = self.location
    (metric, model, conventions) = try StoreView.read(path, redis: redis) { snapshot in
      names.reserveCapacity(snapshot.count)
      labels.reserveCapacity(snapshot.count)
      values.reserveCapacity(snapshot.count * snapshot.dimension)
      try snapshot.forEachItem { item, vector in
        rowOfID[item.id] = names.count
        names.append(item.name)
        labels.append(item.labels)
        values.append(contentsOf: vector)
      }
      return (
        snapshot.metric,
        try StoreModel.load(
          metadata: snapshot.metadata, location: location, override: modelOverride),
        try PIDConventions.recorded(snapshot.metadata)
      )
    }
    guard !names.isEmpty else { throw TripIndexError("store \(location) holds no items to rank") }
    self.rowOfID = rowOfID
    items = LabelledVectors(
      source: "store \(location)", names: names, labels: labels,
      vectors: Matrix(rows: names.count, columns: values.count / names.count, values: values))
  }
}
