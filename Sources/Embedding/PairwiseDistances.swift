import RealModule

/// How two embeddings are compared by a loss.
public enum EmbeddingDistance: String, Sendable, CaseIterable {
  /// Euclidean distance ‖a − b‖ (what the soft-margin triplet loss of Hermans et al. uses).
  case euclidean = "l2"
  /// Squared Euclidean distance ‖a − b‖² (FaceNet).
  case squaredEuclidean = "sql2"
  /// Cosine distance 1 − cos(a, b).
  case cosine
}

/// All pairwise distances of a batch of embeddings, and the way back from ∂loss/∂distance to
/// ∂loss/∂embedding.
struct PairwiseDistances<T: TrainingScalar> {
  let kind: EmbeddingDistance
  let embeddings: Tensor<T>
  /// `distances[i * n + j]`.
  private(set) var distances: [T]
  /// Cosine: the embeddings' norms and unit versions.
  private var norms: [T] = []
  private var units: [T] = []

  /// Below this squared distance the Euclidean distance's gradient is taken as zero.
  static var euclideanFloor: T { 1e-16 }

  init(_ embeddings: Tensor<T>, kind: EmbeddingDistance) {
    self.kind = kind
    self.embeddings = embeddings
    let count = embeddings.rows
    let width = embeddings.columns
    distances = Array(repeating: 0, count: count * count)
    let values = embeddings.values
    switch kind {
    case .euclidean, .squaredEuclidean:
      let squareRoot = kind == .euclidean
      values.withUnsafeBufferPointer { values in
        distances.withUnsafeMutableBufferPointer { distances in
          for i in 0..<count {
            guard let base = values.baseAddress else { return }
            for j in (i + 1)..<max(count, i + 1) {
              let sum = LaneKernels.squaredDistance(
                base + i * width, base + j * width, count: width)
              let distance = squareRoot ? sum.squareRoot() : sum
              distances[i * count + j] = distance
              distances[j * count + i] = distance
            }
          }
        }
      }
    case .cosine:
      norms = (0..<count).map { row in
        var sum: T = 0
        for column in 0..<width {
          sum += values[row * width + column] * values[row * width + column]
        }
        return Swift.max(sum.squareRoot(), T.leastNormalMagnitude)
      }
      units = values
      for row in 0..<count {
        for column in 0..<width { units[row * width + column] /= norms[row] }
      }
      for i in 0..<count {
        for j in i..<count {
          var dot: T = 0
          for column in 0..<width { dot += units[i * width + column] * units[j * width + column] }
          distances[i * count + j] = 1 - dot
          distances[j * count + i] = 1 - dot
        }
      }
    }
  }

  subscript(i: Int, j: Int) -> T { distances[i * embeddings.rows + j] }

  /// ∂loss/∂embeddings from `coefficients[i * n + j]` = ∂loss/∂distance(i, j) (either triangle).
  func embeddingGradient(_ coefficients: [T]) -> Tensor<T> {
    let count = embeddings.rows
    let width = embeddings.columns
    let values = embeddings.values
    var gradient = Tensor<T>(rows: count, columns: width)
    // Symmetrise: distance(i, j) and distance(j, i) are one quantity.
    var symmetric = [T](repeating: 0, count: count * count)
    coefficients.withUnsafeBufferPointer { coefficients in
      symmetric.withUnsafeMutableBufferPointer { symmetric in
        for i in 0..<count {
          for j in 0..<count where i != j {
            symmetric[i * count + j] = coefficients[i * count + j] + coefficients[j * count + i]
          }
        }
      }
    }
    switch kind {
    case .euclidean, .squaredEuclidean:
      // ∂d_ij/∂e_i = w (e_i − e_j) with w = 2 (squared) or 1/d_ij (Euclidean).
      var weights = symmetric
      var rowSums = [T](repeating: 0, count: count)
      let squared = kind == .squaredEuclidean
      weights.withUnsafeMutableBufferPointer { weights in
        distances.withUnsafeBufferPointer { distances in
          for i in 0..<count {
            var rowSum: T = 0
            for j in 0..<count where i != j {
              let position = i * count + j
              if squared {
                weights[position] *= 2
              } else {
                let distance = distances[position]
                weights[position] =
                  distance * distance > Self.euclideanFloor ? weights[position] / distance : 0
              }
              rowSum += weights[position]
            }
            rowSums[i] = rowSum
          }
        }
      }
      multiply(weights, values, into: &gradient.values, m: count, n: width, k: count)
      values.withUnsafeBufferPointer { values in
        gradient.values.withUnsafeMutableBufferPointer { gradient in
          for i in 0..<count {
            for column in 0..<width {
              let position = i * width + column
              gradient[position] = rowSums[i] * values[position] - gradient[position]
            }
          }
        }
      }
    case .cosine:
      // d_ij = 1 − u_i·u_j, ∂d_ij/∂e_i = −(u_j − (u_i·u_j) u_i) / ‖e_i‖.
      var projections = [T](repeating: 0, count: count)
      for i in 0..<count {
        for j in 0..<count where i != j {
          projections[i] += symmetric[i * count + j] * (1 - distances[i * count + j])
        }
      }
      multiply(symmetric, units, into: &gradient.values, m: count, n: width, k: count)
      for i in 0..<count {
        for column in 0..<width {
          let position = i * width + column
          gradient.values[position] =
            -(gradient.values[position] - projections[i] * units[position]) / norms[i]
        }
      }
    }
    return gradient
  }
}
