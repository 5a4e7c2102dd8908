/// Batch normalisation's passes over row-major batches (statistics accumulated a row at a time,
/// so the inner loops run over contiguous features): shared by the network's hidden layers and
/// the BNNeck in front of a softmax head.
enum BatchNormalization<Scalar: TrainingScalar> {
  /// What a training forward pass keeps for the backward pass.
  struct Saved: Sendable {
    /// The normalised inputs x̂.
    var normalized: [Scalar]
    /// 1 / √(σ² + ε) per feature.
    var inverseDeviations: [Scalar]
  }

  /// The variance epsilon.
  static var epsilon: Scalar { 1e-5 }

  /// y = γ x̂ + β, with x̂ from the batch's statistics when training (the running statistics move
  /// towards them by `momentum`, the variance unbiased) and from the running statistics otherwise.
  ///
  /// - Parameters:
  ///   - input: `rows × features` values.
  ///   - rows: batch rows.
  ///   - features: features per row.
  ///   - affine: γ then β, `features` each.
  ///   - running: running mean then running variance, `features` each.
  ///   - momentum: the running statistics' momentum.
  ///   - training: use (and record) the batch's statistics.
  /// - Returns: the output, and what the backward pass needs when training.
  static func forward(
    _ input: [Scalar], rows: Int, features: Int, affine: UnsafePointer<Scalar>,
    running: UnsafeMutablePointer<Scalar>, momentum: Scalar, training: Bool
  ) -> (output: [Scalar], saved: Saved?) {
    var output = [Scalar](repeating: 0, count: input.count)
    var normalizedValues = [Scalar](repeating: 0, count: training ? input.count : 0)
    var means = [Scalar](repeating: 0, count: features)
    var inverseDeviations = [Scalar](repeating: 0, count: features)
    if training {
      var variances = [Scalar](repeating: 0, count: features)
      input.withUnsafeBufferPointer { input in
        means.withUnsafeMutableBufferPointer { means in
          variances.withUnsafeMutableBufferPointer { variances in
            guard let x = input.baseAddress, let mean = means.baseAddress,
              let variance = variances.baseAddress
            else { return }
            LaneKernels.batchNormStatistics(
              x, rows: rows, features: features, means: mean, variances: variance)
          }
        }
      }
      let unbiasing = rows > 1 ? Scalar(rows) / Scalar(rows - 1) : 1
      for feature in 0..<features {
        running[feature] += momentum * (means[feature] - running[feature])
        running[features + feature] +=
          momentum * (variances[feature] * unbiasing - running[features + feature])
        inverseDeviations[feature] = 1 / (variances[feature] + epsilon).squareRoot()
      }
    } else {
      for feature in 0..<features {
        means[feature] = running[feature]
        inverseDeviations[feature] = 1 / (running[features + feature] + epsilon).squareRoot()
      }
    }
    input.withUnsafeBufferPointer { input in
      means.withUnsafeBufferPointer { means in
        inverseDeviations.withUnsafeBufferPointer { inverse in
          output.withUnsafeMutableBufferPointer { output in
            normalizedValues.withUnsafeMutableBufferPointer { normalized in
              guard let x = input.baseAddress, let mean = means.baseAddress,
                let inverseBase = inverse.baseAddress, let y = output.baseAddress
              else { return }
              LaneKernels.batchNormApply(
                x, rows: rows, features: features, statistics: (mean, inverseBase),
                affine: (affine, affine + features),
                normalized: training ? normalized.baseAddress : nil, output: y)
            }
          }
        }
      }
    }
    return (
      output,
      training ? Saved(normalized: normalizedValues, inverseDeviations: inverseDeviations) : nil
    )
  }

  /// The backward pass of a training ``forward(_:rows:features:affine:running:momentum:training:)``:
  /// adds ∂γ and ∂β to `affineGradients` and returns ∂input.
  ///
  /// - Parameters:
  ///   - outputGradient: ∂loss/∂output.
  ///   - saved: the forward pass's record.
  ///   - rows: batch rows.
  ///   - features: features per row.
  ///   - affine: γ then β.
  ///   - affineGradients: ∂γ then ∂β, added to.
  /// - Returns: ∂loss/∂input.
  static func backward(
    _ outputGradient: [Scalar], saved: Saved, rows: Int, features: Int,
    affine: UnsafePointer<Scalar>, affineGradients: UnsafeMutablePointer<Scalar>
  ) -> [Scalar] {
    var inputGradient = outputGradient
    var sums = [Scalar](repeating: 0, count: features)
    var products = [Scalar](repeating: 0, count: features)
    outputGradient.withUnsafeBufferPointer { dY in
      saved.normalized.withUnsafeBufferPointer { normal in
        sums.withUnsafeMutableBufferPointer { sums in
          products.withUnsafeMutableBufferPointer { products in
            guard let gradient = dY.baseAddress, let normalBase = normal.baseAddress,
              let sum = sums.baseAddress, let product = products.baseAddress
            else { return }
            LaneKernels.batchNormGradientSums(
              gradient, normalized: normalBase, rows: rows, features: features, sums: sum,
              products: product)
          }
        }
      }
    }
    var factors = [Scalar](repeating: 0, count: features)
    for feature in 0..<features {
      affineGradients[feature] += products[feature]
      affineGradients[features + feature] += sums[feature]
      factors[feature] = affine[feature] * saved.inverseDeviations[feature] / Scalar(rows)
    }
    inputGradient.withUnsafeMutableBufferPointer { dX in
      saved.normalized.withUnsafeBufferPointer { normal in
        factors.withUnsafeBufferPointer { factors in
          sums.withUnsafeBufferPointer { sums in
            products.withUnsafeBufferPointer { products in
              guard let gradient = dX.baseAddress, let normalBase = normal.baseAddress,
                let factor = factors.baseAddress, let sum = sums.baseAddress,
                let product = products.baseAddress
              else { return }
              LaneKernels.batchNormInputGradient(
                gradient, normalized: normalBase, rows: rows, features: features, factors: factor,
                sums: sum, products: product)
            }
          }
        }
      }
    }
    return inputGradient
  }
}
