/// ann-benchmarks' recall tolerance: a returned item counts towards recall@k when its distance is
/// within the true k-th distance plus ``distance``, in the metric's own units (Euclidean, not
/// squared; 1 − cos for cosine). The one definition `tune`, `annbench` and `eval` share.
public enum ANNTolerance {
  /// The tolerance, in the metric's own units.
  public static let distance = 1e-3

  /// Whether a squared L2 distance (of unit vectors, for cosine) counts against the true k-th.
  ///
  /// - Parameters:
  ///   - squared: the returned item's squared L2 distance.
  ///   - kthSquared: the true k-th squared L2 distance.
  ///   - cosine: the vectors are unit length and the metric is 1 − cos (= squared / 2).
  public static func within(squared: Float, kthSquared: Float, cosine: Bool) -> Bool {
    if cosine { return Double(squared) / 2 <= Double(kthSquared) / 2 + distance }
    return Double(max(squared, 0)).squareRoot() <= Double(max(kthSquared, 0)).squareRoot()
      + distance
  }
}
