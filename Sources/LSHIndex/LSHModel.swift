import VectorMath

/// What a search needs to know of an LSH index besides its tables: the settings, the data
/// transform, the hash functions and the store's metric.
public struct LSHModel: Sendable {
  /// The settings.
  public let configuration: LSHConfiguration
  /// Centring and principal-component projection.
  public let transform: DataTransform
  /// The hash functions.
  public let hasher: BucketHasher
  /// The store's metric (cosine distances are reported as 1 − cos).
  public let metric: DistanceMetric

  /// Creates a model.
  public init(
    configuration: LSHConfiguration, transform: DataTransform, hasher: BucketHasher,
    metric: DistanceMetric
  ) {
    self.configuration = configuration
    self.transform = transform
    self.hasher = hasher
    self.metric = metric
  }

  /// The bucket codes of one projected vector in every table.
  ///
  /// - Parameter projection: the vector's projection (at least ``LSHConfiguration/hashDimensions`` values).
  /// - Returns: L codes.
  public func codes(ofProjection projection: UnsafeBufferPointer<Float>) -> [UInt64] {
    var codes = [UInt64](repeating: 0, count: configuration.tables)
    codes.withUnsafeMutableBufferPointer { codes in
      hasher.codes(
        UnsafeBufferPointer(rebasing: projection[0..<configuration.hashDimensions]), into: codes)
    }
    return codes
  }
}
