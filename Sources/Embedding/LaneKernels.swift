import CKernels
import VectorMath

/// The element-wise and reduction loops of the training hot path: for `Float` (training) they
/// run vectorised (VectorMath's kernels, or C loops over `restrict` pointers in CKernels); for
/// `Double` (the finite-difference checks) they are plain loops. FloatPathTests checks that both
/// compute the same thing.
enum LaneKernels {
  /// Σ (a_i − b_i)²: VectorMath's vectorised kernel for `Float`, a plain loop otherwise (the
  /// `Double` gradient checks).
  ///
  /// - Parameters:
  ///   - a: the first vector.
  ///   - b: the second vector.
  ///   - count: their length.
  /// - Returns: the squared Euclidean distance.
  @inline(__always)
  static func squaredDistance<T: TrainingScalar>(
    _ a: UnsafePointer<T>, _ b: UnsafePointer<T>, count: Int
  ) -> T {
    if T.self == Float.self {
      return T(
        Vectors.squaredL2(
          UnsafeBufferPointer(start: floats(a), count: count),
          UnsafeBufferPointer(start: floats(b), count: count)))
    }
    var sum: T = 0
    for index in 0..<count {
      let difference = a[index] - b[index]
      sum += difference * difference
    }
    return sum
  }

  /// destination += source, element by element.
  ///
  /// - Parameters:
  ///   - source: the values to add.
  ///   - destination: the values added to (not overlapping `source`).
  ///   - count: the length.
  @inline(__always)
  static func accumulate<T: TrainingScalar>(
    _ source: UnsafePointer<T>, into destination: UnsafeMutablePointer<T>, count: Int
  ) {
    if T.self == Float.self {
      tripindex_accumulate(
        UnsafeRawPointer(source).assumingMemoryBound(to: Float.self),
        UnsafeMutableRawPointer(destination).assumingMemoryBound(to: Float.self), count)
      return
    }
    for index in 0..<count { destination[index] += source[index] }
  }

  /// ReLU in place: negative values become 0.
  ///
  /// - Parameters:
  ///   - values: the values.
  ///   - count: the length.
  @inline(__always)
  static func rectify<T: TrainingScalar>(_ values: UnsafeMutablePointer<T>, count: Int) {
    if T.self == Float.self {
      tripindex_rectify(UnsafeMutableRawPointer(values).assumingMemoryBound(to: Float.self), count)
      return
    }
    for index in 0..<count where values[index] < 0 { values[index] = 0 }
  }

  /// ReLU's backward pass in place: the gradient is kept where the layer's input was positive
  /// and zeroed elsewhere.
  ///
  /// - Parameters:
  ///   - gradient: ∂loss/∂output, becoming ∂loss/∂input.
  ///   - input: the layer's input in the forward pass (not overlapping `gradient`).
  ///   - count: the length.
  @inline(__always)
  static func rectifyGradient<T: TrainingScalar>(
    _ gradient: UnsafeMutablePointer<T>, input: UnsafePointer<T>, count: Int
  ) {
    if T.self == Float.self {
      tripindex_rectify_gradient(
        UnsafeMutableRawPointer(gradient).assumingMemoryBound(to: Float.self),
        UnsafeRawPointer(input).assumingMemoryBound(to: Float.self), count)
      return
    }
    for index in 0..<count where input[index] <= 0 { gradient[index] = 0 }
  }

  /// Reinterprets a pointer to `T` (known to be `Float`) as a `Float` pointer.
  @inline(__always)
  private static func floats<T>(_ pointer: UnsafePointer<T>) -> UnsafePointer<Float> {
    UnsafeRawPointer(pointer).assumingMemoryBound(to: Float.self)
  }

  @inline(__always)
  private static func floats<T>(_ pointer: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<Float> {
    UnsafeMutableRawPointer(pointer).assumingMemoryBound(to: Float.self)
  }

  /// BatchNorm batch statistics of a row-major `rows × features` matrix: per-feature means and
  /// biased variances (two passes).
  static func batchNormStatistics<T: TrainingScalar>(
    _ input: UnsafePointer<T>, rows: Int, features: Int, means: UnsafeMutablePointer<T>,
    variances: UnsafeMutablePointer<T>
  ) {
    if T.self == Float.self {
      tripindex_batchnorm_statistics(
        floats(input), rows, features, floats(means), floats(variances))
      return
    }
    means.update(repeating: 0, count: features)
    variances.update(repeating: 0, count: features)
    for row in 0..<rows {
      for feature in 0..<features { means[feature] += input[row * features + feature] }
    }
    for feature in 0..<features { means[feature] /= T(rows) }
    for row in 0..<rows {
      for feature in 0..<features {
        let difference = input[row * features + feature] - means[feature]
        variances[feature] += difference * difference
      }
    }
    for feature in 0..<features { variances[feature] /= T(rows) }
  }

  /// BatchNorm output, row by row: y = scale · (x − mean) · inverse + shift; the normalised
  /// values are kept in `normalized` when it is given.
  static func batchNormApply<T: TrainingScalar>(
    _ input: UnsafePointer<T>, rows: Int, features: Int,
    statistics: (means: UnsafePointer<T>, inverse: UnsafePointer<T>),
    affine: (scale: UnsafePointer<T>, shift: UnsafePointer<T>),
    normalized: UnsafeMutablePointer<T>?, output: UnsafeMutablePointer<T>
  ) {
    if T.self == Float.self {
      tripindex_batchnorm_apply(
        floats(input), rows, features, floats(statistics.means), floats(statistics.inverse),
        floats(affine.scale), floats(affine.shift), normalized.map { floats($0) }, floats(output))
      return
    }
    for row in 0..<rows {
      for feature in 0..<features {
        let position = row * features + feature
        let normal = (input[position] - statistics.means[feature]) * statistics.inverse[feature]
        normalized?[position] = normal
        output[position] = affine.scale[feature] * normal + affine.shift[feature]
      }
    }
  }

  /// BatchNorm backward sums per feature: Σ ∂y and Σ ∂y · x̂ over rows.
  static func batchNormGradientSums<T: TrainingScalar>(
    _ gradient: UnsafePointer<T>, normalized: UnsafePointer<T>, rows: Int, features: Int,
    sums: UnsafeMutablePointer<T>, products: UnsafeMutablePointer<T>
  ) {
    if T.self == Float.self {
      tripindex_batchnorm_gradient_sums(
        floats(gradient), floats(normalized), rows, features, floats(sums), floats(products))
      return
    }
    sums.update(repeating: 0, count: features)
    products.update(repeating: 0, count: features)
    for row in 0..<rows {
      for feature in 0..<features {
        let position = row * features + feature
        sums[feature] += gradient[position]
        products[feature] += gradient[position] * normalized[position]
      }
    }
  }

  /// BatchNorm input gradient in place: ∂x = factor · (n · ∂y − Σ∂y − x̂ · Σ∂y·x̂).
  static func batchNormInputGradient<T: TrainingScalar>(
    _ gradient: UnsafeMutablePointer<T>, normalized: UnsafePointer<T>, rows: Int, features: Int,
    factors: UnsafePointer<T>, sums: UnsafePointer<T>, products: UnsafePointer<T>
  ) {
    if T.self == Float.self {
      tripindex_batchnorm_input_gradient(
        floats(gradient), floats(normalized), rows, features, floats(factors), floats(sums),
        floats(products))
      return
    }
    let count = T(rows)
    for row in 0..<rows {
      for feature in 0..<features {
        let position = row * features + feature
        gradient[position] =
          factors[feature]
          * (count * gradient[position] - sums[feature] - normalized[position] * products[feature])
      }
    }
  }
}
