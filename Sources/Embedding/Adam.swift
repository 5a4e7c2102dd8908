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
  public mutating func update(_ parameters: inout [T], gradients: [T], learningRate: T) {
    precondition(
      parameters.count == firstMoments.count && gradients.count == parameters.count, "size mismatch"
    )
    steps += 1
    let correction1 = 1 - T.pow(beta1, steps)
    let correction2 = 1 - T.pow(beta2, steps)
    let stepSize = learningRate / correction1
    for index in parameters.indices {
      let gradient = gradients[index] + weightDecay * parameters[index]
      firstMoments[index] = beta1 * firstMoments[index] + (1 - beta1) * gradient
      secondMoments[index] = beta2 * secondMoments[index] + (1 - beta2) * gradient * gradient
      let denominator = (secondMoments[index] / correction2).squareRoot() + epsilon
      parameters[index] -= stepSize * firstMoments[index] / denominator
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
