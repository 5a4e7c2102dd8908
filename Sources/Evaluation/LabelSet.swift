/// The identities and cameras of a list of items (queries or gallery), in item order.
///
/// Re-ID conventions (Market-1501): pid 0 is a distractor, never a match; pid −1 is a junk image
/// that re-ID protocols remove from rankings.
public struct LabelSet: Sendable, Equatable {
  /// The identity of each item.
  public var pids: [Int32]
  /// The camera of each item (ignored by the retrieval protocol).
  public var cameras: [Int32]

  /// Creates labels.
  ///
  /// - Parameters:
  ///   - pids: one identity per item.
  ///   - cameras: one camera per item, as many as `pids`.
  public init(pids: [Int32], cameras: [Int32]) {
    precondition(pids.count == cameras.count, "one camera per pid")
    self.pids = pids
    self.cameras = cameras
  }

  /// The number of items.
  public var count: Int { pids.count }
}

/// How a ranking is scored.
public enum EvaluationProtocol: Sendable, Hashable, CustomStringConvertible {
  /// Market-1501 (as torchreid and fast-reid compute it): gallery items with the query's pid and
  /// camera are removed, junk (pid −1) is removed, distractors (pid 0) never match; queries with no
  /// remaining match are skipped and counted.
  case market1501
  /// Market-1501 without the camera filter, for data from a single camera: only junk is removed.
  case market1501AllCameras
  /// CUHK03 single-gallery-shot: as Market-1501, but CMC is averaged over `repeats` draws that keep
  /// one random gallery item per identity (seeded); AP uses the full list.
  case cuhk03(repeats: Int, seed: UInt64)
  /// Metric-learning retrieval (pytorch-metric-learning's definitions): every item with the
  /// query's label is relevant; with `excludeSelf`, query `i` is reference item `i` and is left out.
  case retrieval(excludeSelf: Bool)

  /// Whether this is a re-identification protocol (pid 0 and −1 special, queries need pid > 0).
  public var isReID: Bool {
    if case .retrieval = self { return false }
    return true
  }

  /// The protocol's name as reports print it.
  public var description: String {
    switch self {
    case .market1501: return "market1501"
    case .market1501AllCameras: return "market1501 (all cameras)"
    case .cuhk03(let repeats, let seed):
      return "cuhk03 (single-gallery-shot, \(repeats) repeats, seed \(seed))"
    case .retrieval(let excludeSelf):
      return excludeSelf ? "retrieval (query excluded)" : "retrieval"
    }
  }
}
