import Embedding
import Plumbing
import VectorIO
import VectorMath
import VectorStore

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The link between a store and the model that embedded its vectors: the model's fingerprint and
/// absolute path live in the store's metadata, so `query` embeds probes with the same model.
public enum StoreModel {
  /// Metadata key of the model's fingerprint.
  public static let fingerprintKey = "model_fingerprint"
  /// Metadata key of the model file's absolute path.
  public static let pathKey = "model_path"

  /// Records `model` (read from `path`) as the store's model, inside a write transaction.
  static func record(_ model: EmbeddingModel, path: String, in writer: StoreWriter) throws {
    try writer.setMetadata(fingerprintKey, model.fingerprint)
    try writer.setMetadata(pathKey, Directories.absolutePath(path))
  }

  /// The model a store was built with, loaded and checked, or `nil` for a store of raw vectors.
  ///
  /// - Parameters:
  ///   - store: the store.
  ///   - override: a model file given explicitly, which must be the same model.
  /// - Returns: the model, or `nil`.
  /// - Throws: ``TripIndexError`` when the recorded model file is missing or has changed, or when
  ///   a model is given for a store of raw vectors; `VectorIOError` for a damaged model file.
  public static func load(for store: VectorStore, override: String? = nil) throws -> EmbeddingModel?
  {
    let fingerprint = try store.metadata(fingerprintKey)
    let recordedPath = try store.metadata(pathKey)
    guard let fingerprint, let recordedPath else {
      if let override {
        throw TripIndexError(
          "store \(store.path) holds raw vectors (it was built without \(option: .model)), so \(option: .model) \(override) cannot apply"
        )
      }
      return nil
    }
    let path = override ?? recordedPath
    guard access(path, F_OK) == 0 else {
      throw TripIndexError(
        "store \(store.path) was built with the model \(recordedPath), which is missing; restore it or pass the same model with \(option: .model)"
      )
    }
    let model = try EmbeddingModel.read(from: path)
    guard model.fingerprint == fingerprint else {
      throw TripIndexError(
        "the model \(path) (fingerprint \(model.fingerprint)) is not the one store \(store.path) was built with (fingerprint \(fingerprint)); rebuild the store or use that model"
      )
    }
    return model
  }

  /// Embeds raw vectors for a store: checks the input dimension against the model's, embeds, and
  /// normalises for the cosine metric.
  ///
  /// - Parameters:
  ///   - vectors: raw inputs.
  ///   - model: the model, or `nil` to use the vectors as they are.
  ///   - source: the file they came from, for messages.
  /// - Returns: the vectors to search or store.
  /// - Throws: `VectorIOError` naming the file when the dimension is wrong.
  static func embed(_ vectors: Matrix, with model: EmbeddingModel?, source: String) throws -> Matrix
  {
    guard let model else { return vectors }
    guard vectors.columns == model.architecture.inputDimension else {
      throw VectorIOError(
        path: source,
        "vectors have dimension \(vectors.columns); the model takes \(model.architecture.inputDimension)-dimensional inputs"
      )
    }
    return model.embed(vectors)
  }
}
