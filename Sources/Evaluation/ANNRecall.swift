/// Recall of an approximate search against exact search.
public enum ANNRecall {
  /// Mean of |approximate top-k ∩ exact top-k| / k over queries.
  ///
  /// - Parameters:
  ///   - approximate: per query, the ids an approximate index returned (only the first k count).
  ///   - exact: per query, the exact nearest ids (the first k count).
  ///   - k: the depth.
  /// - Returns: the mean recall in [0, 1].
  public static func recall<ID: Hashable>(approximate: [[ID]], exact: [[ID]], k: Int) -> Double {
    precondition(approximate.count == exact.count, "one approximate list per exact list")
    precondition(k > 0, "k must be positive")
    guard !exact.isEmpty else { return 0 }
    var total = 0.0
    for (found, truth) in zip(approximate, exact) {
      let truthSet = Set(truth.prefix(k))
      let depth = min(k, truth.count)
      guard depth > 0 else { continue }
      total += Double(found.prefix(k).filter { truthSet.contains($0) }.count) / Double(depth)
    }
    return total / Double(exact.count)
  }
}
