/// How two vectors are compared. Smaller is closer for every metric.
public enum DistanceMetric: String, Sendable, CaseIterable, Codable {
  /// Squared Euclidean distance, Σ (a_i − b_i)².
  case l2
  /// Cosine distance, 1 − cos(a, b); stores keep vectors L2-normalised, so it is 1 − a·b.
  case cosine

  /// Whether stored vectors and probes are L2-normalised before use.
  public var normalizesVectors: Bool { self == .cosine }
}
