/// A fast, seedable pseudo-random generator (xoshiro256**, seeded through SplitMix64), so that
/// every random draw is reproducible from a seed on every platform.
public struct SeededRandom: RandomNumberGenerator, Sendable {
  private var state: (UInt64, UInt64, UInt64, UInt64)
  private var spareNormal: Double?

  /// Creates a generator.
  ///
  /// - Parameter seed: any 64-bit seed; equal seeds give equal sequences.
  public init(seed: UInt64) {
    var mixer = seed
    func splitMix() -> UInt64 {
      mixer &+= 0x9E37_79B9_7F4A_7C15
      var z = mixer
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      return z ^ (z >> 31)
    }
    state = (splitMix(), splitMix(), splitMix(), splitMix())
  }

  /// The next 64 random bits.
  public mutating func next() -> UInt64 {
    let result = rotate(state.1 &* 5, 7) &* 9
    let shifted = state.1 << 17
    state.2 ^= state.0
    state.3 ^= state.1
    state.1 ^= state.2
    state.0 ^= state.3
    state.2 ^= shifted
    state.3 = rotate(state.3, 45)
    return result
  }

  @inline(__always)
  private func rotate(_ value: UInt64, _ count: UInt64) -> UInt64 {
    (value << count) | (value >> (64 - count))
  }

  /// A uniform `Double` in [0, 1) with 53 random bits.
  public mutating func uniform() -> Double {
    Double(next() >> 11) * 0x1.0p-53
  }

  /// A standard normal draw (Box–Muller, computed in `Double`).
  public mutating func normal() -> Double {
    if let spare = spareNormal {
      spareNormal = nil
      return spare
    }
    var u1 = uniform()
    while u1 <= Double.leastNormalMagnitude { u1 = uniform() }
    let u2 = uniform()
    let radius = (-2 * log(u1)).squareRoot()
    spareNormal = radius * sin(2 * Double.pi * u2)
    return radius * cos(2 * Double.pi * u2)
  }

  /// A uniform integer in `range`.
  public mutating func integer(in range: ClosedRange<Int>) -> Int {
    let span = UInt64(range.upperBound - range.lowerBound) &+ 1
    if span == 0 { return Int(truncatingIfNeeded: next()) }  // the full 64-bit range
    // Rejection sampling keeps every value equally likely.
    let limit = UInt64.max - UInt64.max % span
    var draw = next()
    while draw >= limit { draw = next() }
    return range.lowerBound + Int(draw % span)
  }

  /// Shuffles an array in place (Fisher–Yates with this generator's draws).
  public mutating func shuffle<T>(_ array: inout [T]) {
    guard array.count > 1 else { return }
    for index in stride(from: array.count - 1, to: 0, by: -1) {
      array.swapAt(index, integer(in: 0...index))
    }
  }
}

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif
