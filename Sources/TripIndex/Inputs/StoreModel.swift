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
    try load(metadata: store.metadata, location: store.path, override: override)
  }

  /// The model recorded in a store's metadata, whatever engine holds it (see
  /// ``load(for:override:)``).
  ///
  /// - Parameters:
  ///   - metadata: reads one of the store's metadata values.
  ///   - location: the store, for messages.
  ///   - override: a model file given explicitly, which must be the same model.
  static func load(
    metadata: (String) throws -> String?, location: String, override: String?
  ) throws -> EmbeddingModel? {
    let fingerprint = try metadata(fingerprintKey)
    let recordedPath = try metadata(pathKey)
    guard let fingerprint, let recordedPath else {
      if let override {
        throw TripIndexError(
          "store \(location) holds raw vectors (it was built without \(option: .model)), so \(option: .model) \(override) cannot apply"
        )
      }
      return nil
    }
    let path = override ?? recordedPath
    guard access(path, F_OK) == 0 else {
      throw TripIndexError(
        "store \(location) was built with the model \(recordedPath), which is missing; restore it or pass the same model with \(option: .model)"
      )
    }
    let model = try EmbeddingModel.read(from: path)
    guard model.fingerprint == fingerprint else {
      throw TripIndexError(
        "the model \(path) (fingerprint \(model.fingerprint)) is not the one store \(location) was built with (fingerprint \(fingerprint)); rebuild the store or use that model"
      )
    }
    return model
  }

  /// The metadata that records `model` (read from `path`) as a store's model.
  static func metadata(of model: EmbeddingModel, path: String) -> [String: String] {
    [fingerprintKey: model.fingerprint, pathKey: Directories.absolutePath(path)]
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

extension EmbeddingModel {
  /// Its architecture and loss in a line, as `info` shows a store's model.
  var summary: String {
    "\(architecture.summary), \(training.loss.kind.rawValue) (margin \(training.loss.margin), \(training.loss.distance.rawValue))"
  }
}
