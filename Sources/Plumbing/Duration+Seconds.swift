extension Duration {
  /// The duration in seconds, as a `Double` (for timings and rates).
  public var inSeconds: Double {
    let parts = components
    return Double(parts.seconds) + Double(parts.attoseconds) * 1e-18
  }
}

/// Seconds on a monotonic clock since the process first asked: for timing spans
/// (`let started = MonotonicClock.now()`, later `MonotonicClock.now() - started`).
public enum MonotonicClock {
  private static let origin = ContinuousClock.now

  /// Seconds since the first call in this process.
  public static func now() -> Double { origin.duration(to: ContinuousClock.now).inSeconds }
}
