import RealModule

/// Distance and norm kernels over contiguous `Float` buffers. The loops use relaxed arithmetic so
/// the compiler may reorder and vectorise them.
public enum Vectors {
  /// Σ a_i b_i.
  ///
  /// - Parameters:
  ///   - a: a vector.
  ///   - b: a vector of the same length.
  /// - Returns: the inner product.
  /// - Complexity: O(n).
  @inlinable
  public static func dot(_ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>) -> Float
  {
    var sum: Float = 0
    for index in 0..<min(a.count, b.count) {
      sum = Relaxed.multiplyAdd(a[index], b[index], sum)
    }
    return sum
  }

  /// Σ (a_i − b_i)².
  ///
  /// - Parameters:
  ///   - a: a vector.
  ///   - b: a vector of the same length.
  /// - Returns: the squared Euclidean distance.
  /// - Complexity: O(n).
  @inlinable
  public static func squaredL2(_ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>)
    -> Float
  {
    var sum: Float = 0
    for index in 0..<min(a.count, b.count) {
      let difference = a[index] - b[index]
      sum = Relaxed.multiplyAdd(difference, difference, sum)
    }
    return sum
  }

  /// Σ a_i².
  ///
  /// - Parameter a: a vector.
  /// - Returns: its squared Euclidean norm.
  /// - Complexity: O(n).
  @inlinable
  public static func squaredNorm(_ a: UnsafeBufferPointer<Float>) -> Float {
    dot(a, a)
  }

  /// Scales a vector to unit length in place.
  ///
  /// - Parameter a: the vector.
  /// - Returns: `false` (leaving it unchanged) when it is all zeros.
  @discardableResult
  public static func normalize(_ a: UnsafeMutableBufferPointer<Float>) -> Bool {
    let norm = squaredNorm(UnsafeBufferPointer(a)).squareRoot()
    guard norm > 0 && norm.isFinite else { return false }
    let scale = 1 / norm
    for index in a.indices { a[index] *= scale }
    return true
  }

  /// The distance between two vectors under `metric` (for cosine, both must be unit length).
  ///
  /// - Parameters:
  ///   - metric: the metric.
  ///   - a: a vector.
  ///   - b: a vector of the same length.
  /// - Returns: squared L2, or 1 − a·b.
  @inlinable
  public static func distance(
    _ metric: DistanceMetric, _ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>
  ) -> Float {
    switch metric {
    case .l2: return squaredL2(a, b)
    case .cosine: return 1 - dot(a, b)
    }
  }
}
