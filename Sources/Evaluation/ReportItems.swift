import Plumbing
import VectorMath

/// The names and labels of a report's queries and gallery items, so that per-query outcomes
/// (``QueryOutcome``, which hold indices) can name what they rank.
public struct ReportItems: Sendable {
  /// Query names, in query order.
  public var queryNames: [String]
  /// Query labels, as the user gave them (before any renumbering for the protocol).
  public var queryLabels: [ItemLabels]
  /// Gallery names, in gallery order.
  public var galleryNames: [String]
  /// Gallery labels, as the user gave them.
  public var galleryLabels: [ItemLabels]

  /// Creates the description.
  ///
  /// - Parameters:
  ///   - queryNames: query names.
  ///   - queryLabels: query labels, one per name.
  ///   - galleryNames: gallery names.
  ///   - galleryLabels: gallery labels, one per name.
  public init(
    queryNames: [String], queryLabels: [ItemLabels], galleryNames: [String],
    galleryLabels: [ItemLabels]
  ) {
    precondition(queryNames.count == queryLabels.count, "one label per query")
    precondition(galleryNames.count == galleryLabels.count, "one label per gallery item")
    self.queryNames = queryNames
    self.queryLabels = queryLabels
    self.galleryNames = galleryNames
    self.galleryLabels = galleryLabels
  }

  /// One query's outcome as JSON: `query`, `ap` and `first_match` (`null` when skipped),
  /// `valid`, `top` (each kept item's `rank`, `name`, `distance`, `outcome`) and `removed`
  /// (the items the protocol removed ahead of the last listed one, without a rank).
  ///
  /// - Parameter outcome: the outcome.
  /// - Returns: the JSON object.
  public func json(_ outcome: QueryOutcome) -> JSONValue {
    func item(_ item: QueryOutcome.RankedItem) -> JSONValue {
      var members: [(String, JSONValue)] = []
      if let rank = item.rank { members.append(("rank", .integer(rank))) }
      members += [
        ("name", .string(galleryNames[item.galleryIndex])),
        ("distance", .number(Double(item.distance))), ("outcome", .string(item.outcome.rawValue)),
      ]
      return .object(members)
    }
    return .object([
      ("query", .string(queryNames[outcome.queryIndex])),
      ("ap", outcome.averagePrecision.map { .number($0) } ?? .null),
      ("first_match", outcome.firstMatchRank.map { .integer($0) } ?? .null),
      ("valid", .bool(outcome.isValid)),
      ("top", .array(outcome.top.map(item))),
      ("removed", .array(outcome.removed.map(item))),
    ])
  }
}
