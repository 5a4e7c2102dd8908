import CKernels
import RealModule

/// Adam (Kingma & Ba 2015) with L2 weight decay added to the gradient, as PyTorch's `Adam` does.
public struct Adam<T: TrainingScalar>: Sendable {
  /// First-moment decay.
  public var beta1: T = 0.9
  /// Second-moment decay.
  public var beta2: T = 0.999
  /// Denominator guard.
  public var epsilon: T = 1e-8
  /// L2 weight decay λ (the gradient gets + λ·w).
  public var weightDecay: T
  private var firstMoments: [T]
  private var secondMoments: [T]
  /// Steps taken.
  public private(set) var steps = 0

  /// Creates an optimiser for `count` parameters.
  ///
  /// - Parameters:
  ///   - count: parameters.
  ///   - weightDecay: λ.
  public init(count: Int, weightDecay: T) {
    self.weightDecay = weightDecay
    firstMoments = Array(repeating: 0, count: count)
    secondMoments = Array(repeating: 0, count: count)
  }

  /// One update.
  ///
  /// - Parameters:
  ///   - parameters: the values to change.
  ///   - gradients: their gradients.
  ///   - learningRate: the step size for this update.
  @_specialize(exported:true,where T == Float)
  public mutating func update(_ parameters: inout [T], gradients: [T], learningRate: T) {
    update(
      &parameters, gradients: gradients, learningRate: learningRate, only: [0..<parameters.count])
  }

  /// One "lazy" update of some parameters only (as for sparse gradients: a sampled softmax
  /// changes only the classes it scored); the others keep their values and moments. The bias
  /// corrections count every step.
  ///
  /// - Parameters:
  ///   - parameters: the values to change.
  ///   - gradients: their gradients.
  ///   - learningRate: the step size for this update.
  ///   - ranges: the indices to update.
  @_specialize(exported:true,where T == Float)
  public mutating func update(
    _ parameters: inout [T], gradients: [T], learningRate: T, only ranges: [Range<Int>]
  ) {
    precondition(
      parameters.count == firstMoments.count && gradients.count == parameters.count, "size mismatch"
    )
    steps += 1
    let correction1 = 1 - T.pow(beta1, steps)
    let correction2 = 1 - T.pow(beta2, steps)
    let stepSize = learningRate / correction1
    let inverseCorrection2 = 1 / correction2
    let (beta1, beta2, epsilon, weightDecay) = (
      self.beta1, self.beta2, self.epsilon, self.weightDecay
    )
    let (keep1, keep2) = (1 - beta1, 1 - beta2)
    parameters.withUnsafeMutableBufferPointer { parameters in
      gradients.withUnsafeBufferPointer { gradients in
        firstMoments.withUnsafeMutableBufferPointer { first in
          secondMoments.withUnsafeMutableBufferPointer { second in
            guard let p = parameters.baseAddress, let g = gradients.baseAddress,
              let m = first.baseAddress, let v = second.baseAddress
            else { return }
            for range in ranges {
              precondition(
                range.lowerBound >= 0 && range.upperBound <= parameters.count, "range outside")
              var index = range.lowerBound
              if T.self == Float.self {
                // The vectorised C loop (same arithmetic).
                func float(_ value: T) -> Float { Float(value) }
                func floats(_ pointer: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<Float> {
                  UnsafeMutableRawPointer(pointer + index).assumingMemoryBound(to: Float.self)
                }
                tripindex_adam_update(
                  floats(p), UnsafeRawPointer(g + index).assumingMemoryBound(to: Float.self),
                  floats(m), floats(v), range.count,
                  tripindex_adam_constants(
                    beta1: float(beta1), beta2: float(beta2), keep1: float(keep1),
                    keep2: float(keep2), weight_decay: float(weightDecay),
                    step_size: float(stepSize), inverse_correction2: float(inverseCorrection2),
                    epsilon: float(epsilon)))
                index = range.upperBound
              }
              while index < range.upperBound {
                let gradient = g[index] + weightDecay * p[index]
                m[index] = beta1 * m[index] + keep1 * gradient
                v[index] = beta2 * v[index] + keep2 * gradient * gradient
                p[index] -=
                  stepSize * m[index] / ((v[index] * inverseCorrection2).squareRoot() + epsilon)
                index += 1
              }
            }
          }
        }
      }
    }
  }
}

/// The learning-rate schedule of Hermans et al. 2017: constant ε₀ until iteration t₀, then an
/// exponential decay to ε₀ · 0.001 at the last iteration t₁.
public struct LearningRateSchedule: Sendable, Equatable {
  /// ε₀.
  public var initial: Double
  /// t₀.
  public var decayStart: Int
  /// t₁, the last iteration.
  public var end: Int

  /// Creates a schedule.
  ///
  /// - Parameters:
  ///   - initial: ε₀.
  ///   - decayStart: t₀.
  ///   - end: t₁.
  public init(initial: Double, decayStart: Int, end: Int) {
    self.initial = initial
    self.decayStart = decayStart
    self.end = end
  }

  /// The learning rate at 1-based iteration `t`.
  ///
  /// - Parameter t: the iteration.
  /// - Returns: ε(t).
  public func rate(at t: Int) -> Double {
    guard t > decayStart && end > decayStart else { return initial }
    let progress = Double(min(t, end) - decayStart) / Double(end - decayStart)
    return initial * Double.pow(0.001, progress)
  }
}
