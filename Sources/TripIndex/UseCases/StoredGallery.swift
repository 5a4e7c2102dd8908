import Embedding
import Evaluation
import LSHIndex
import Plumbing
import VectorIO
import VectorMath
import VectorStore

/// A gallery kept in a store: its items (vectors as stored, labels, names), its model, and each
/// stored id's row.
struct StoredGallery {
  /// The store (open read-only).
  var store: VectorStore
  /// The model its vectors were embedded with, or `nil` for raw vectors.
  var model: EmbeddingModel?
  /// Its items in id order.
  var items: LabelledVectors
  /// Each stored id's row in ``items``.
  var rowOfID: [UInt64: Int]

  /// Reads a store's items.
  ///
  /// - Parameters:
  ///   - path: the store.
  ///   - modelOverride: a model to use instead of the recorded one (same fingerprint).
  ///   - progress: status output.
  /// - Throws: `VectorStoreError` or ``TripIndexError``.
  init(path: String, modelOverride: String?, progress: any ProgressReporting) throws {
    progress.update("reading the gallery from store \(path)", force: true)
    store = try VectorStore.open(path: path, readOnly: true)
    model = try StoreModel.load(for: store, override: modelOverride)
    var names: [String] = []
    var labels: [ItemLabels] = []
    var values: [Float] = []
    var rowOfID: [UInt64: Int] = [:]
    let dimension = store.dimension
    try store.read { snapshot in
      names.reserveCapacity(snapshot.count)
      labels.reserveCapacity(snapshot.count)
      values.reserveCapacity(snapshot.count * dimension)
      try snapshot.forEachItem { item, vector in
        rowOfID[item.id] = names.count
        names.append(item.name)
        labels.append(item.labels)
        values.append(contentsOf: vector)
      }
    }
    guard !names.isEmpty else { throw TripIndexError("store \(path) holds no items to rank") }
    self.rowOfID = rowOfID
    items = LabelledVectors(
      source: "store \(path)", names: names, labels: labels,
      vectors: Matrix(rows: names.count, columns: dimension, values: values))
  }
}
