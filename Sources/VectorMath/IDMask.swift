/// The item ids a search may return: a bitset over ids `0..<limit` (ids at or beyond the limit
/// are never allowed). Searches apply it inside the scan, so they return the k nearest allowed
/// items whenever that many exist.
public struct IDMask: Sendable, Equatable {
  /// Ids below this are covered.
  public let limit: Int
  @usableFromInline var words: [UInt64]
  /// Allowed ids.
  public private(set) var count = 0

  /// A mask allowing nothing.
  ///
  /// - Parameter limit: the id space (every id of the store is below it).
  public init(limit: Int) {
    precondition(limit >= 0, "the id limit cannot be negative")
    self.limit = limit
    words = [UInt64](repeating: 0, count: (limit + 63) / 64)
  }

  /// Whether `id` is allowed.
  @inlinable
  public func contains(_ id: UInt64) -> Bool {
    guard id < UInt64(limit) else { return false }
    return words[Int(id >> 6)] & (1 << (id & 63)) != 0
  }

  /// Allows `id`.
  ///
  /// - Parameter id: an id below ``limit``.
  public mutating func insert(_ id: UInt64) {
    precondition(id < UInt64(limit), "id \(id) beyond the mask's limit \(limit)")
    let word = Int(id >> 6)
    let bit: UInt64 = 1 << (id & 63)
    if words[word] & bit == 0 {
      words[word] |= bit
      count += 1
    }
  }

  /// Disallows `id`.
  ///
  /// - Parameter id: any id.
  public mutating func remove(_ id: UInt64) {
    guard id < UInt64(limit) else { return }
    let word = Int(id >> 6)
    let bit: UInt64 = 1 << (id & 63)
    if words[word] & bit != 0 {
      words[word] &= ~bit
      count -= 1
    }
  }

  /// Calls `body` with every allowed id, ascending.
  ///
  /// - Parameter body: receives each id.
  public func forEach(_ body: (UInt64) -> Void) {
    for (index, word) in words.enumerated() where word != 0 {
      var bits = word
      while bits != 0 {
        body(UInt64(index) << 6 | UInt64(bits.trailingZeroBitCount))
        bits &= bits - 1
      }
    }
  }
}
