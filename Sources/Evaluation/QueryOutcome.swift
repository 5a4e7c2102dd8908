/// How one query fared: its average precision, the rank of its first true match, and the top of
/// its ranking with each item's outcome — what a ranked-list page or `--per-query` JSON shows.
///
/// Ranks count only the items the protocol keeps (junk, same pid and camera, and the query
/// itself are removed before ranking), so they agree with the metrics.
public struct QueryOutcome: Sendable, Equatable {
  /// What a ranked item is to the query.
  public enum Outcome: String, Sendable, CaseIterable {
    /// The same identity (or label), kept by the protocol: a true match.
    case match
    /// Another identity, a distractor, or any item of an unscorable query.
    case mismatch
    /// Junk (pid −1): removed by re-ID protocols.
    case junk
    /// The query's identity seen by the query's camera: removed by Market-1501 and CUHK03.
    case sameCamera = "same-camera"
  }

  /// One gallery item in the query's ranking.
  public struct RankedItem: Sendable, Equatable {
    /// Its index in the gallery.
    public var galleryIndex: Int
    /// Its distance to the query as the ranking used it (squared L2 for `l2`, 1 − cos for
    /// cosine, the re-ranked distance after re-ranking).
    public var distance: Float
    /// Its 1-based rank among kept items; `nil` for an item the protocol removed.
    public var rank: Int?
    /// What it is to the query.
    public var outcome: Outcome

    /// Creates a ranked item.
    ///
    /// - Parameters:
    ///   - galleryIndex: its gallery index.
    ///   - distance: its distance as ranked.
    ///   - rank: its rank among kept items, or `nil` when removed.
    ///   - outcome: what it is to the query.
    public init(galleryIndex: Int, distance: Float, rank: Int?, outcome: Outcome) {
      self.galleryIndex = galleryIndex
      self.distance = distance
      self.rank = rank
      self.outcome = outcome
    }
  }

  /// The query's index in the query set.
  public var queryIndex: Int
  /// Its average precision, or `nil` when the query was skipped (no true match left, or not
  /// scorable under the protocol).
  public var averagePrecision: Double?
  /// The 1-based rank of its first true match among kept items, or `nil` when skipped.
  public var firstMatchRank: Int?
  /// The kept items of the top of its ranking, best first.
  public var top: [RankedItem]
  /// Removed items that rank before the last item of ``top`` (junk, same camera), best first:
  /// what the query met but the protocol does not count.
  public var removed: [RankedItem]

  /// Creates an outcome.
  ///
  /// - Parameters:
  ///   - queryIndex: the query's index.
  ///   - averagePrecision: its AP, or `nil` when skipped.
  ///   - firstMatchRank: its first true match's rank, or `nil` when skipped.
  ///   - top: the kept items listed, best first.
  ///   - removed: removed items ahead of the last listed one, best first.
  public init(
    queryIndex: Int, averagePrecision: Double?, firstMatchRank: Int?, top: [RankedItem],
    removed: [RankedItem]
  ) {
    self.queryIndex = queryIndex
    self.averagePrecision = averagePrecision
    self.firstMatchRank = firstMatchRank
    self.top = top
    self.removed = removed
  }

  /// Whether the query was scored.
  public var isValid: Bool { averagePrecision != nil }
}
