import LSHIndex
import Plumbing
import VectorIO
import VectorMath
import VectorStore

/// LSH settings as a user chooses them: a family's defaults, overridden where given. The family
/// defaults to p-stable for l2 and random hyperplanes for cosine, so one set of choices can serve
/// stores (or models) of either metric.
public struct LSHChoices: Sendable {
  /// The family; `nil` follows the metric.
  public var family: HashFamily?
  /// L.
  public var tables: Int?
  /// K.
  public var hashesPerTable: Int?
  /// The p-stable bucket width; `nil` estimates it from the data.
  public var bucketWidth: Double?
  /// Principal components fed to the hashes.
  public var hashDimensions: Int?
  /// Principal components kept per item as a sketch.
  public var sketchDimensions: Int?
  /// T: probes per table.
  public var probes: Int?
  /// The most candidates per query (0: none).
  public var candidateBudget: Int?
  /// The hash functions' seed.
  public var seed: UInt64?

  /// No choices: every default.
  public init() {}

  /// The settings for a metric.
  ///
  /// - Parameter metric: the store's (or model's) metric.
  /// - Returns: the configuration.
  public func configuration(metric: DistanceMetric) -> LSHConfiguration {
    var configuration = LSHConfiguration.defaults(
      for: family ?? (metric == .cosine ? .hyperplane : .pstable))
    if let tables { configuration.tables = tables }
    if let hashesPerTable { configuration.hashesPerTable = hashesPerTable }
    if let bucketWidth { configuration.bucketWidth = bucketWidth }
    if let hashDimensions { configuration.hashDimensions = hashDimensions }
    if configuration.family == .itq {
      // ITQ's K bits rotate the top K components: one of K and m given sets the other.
      if hashesPerTable == nil, let hashDimensions { configuration.hashesPerTable = hashDimensions }
      if hashDimensions == nil, let hashesPerTable { configuration.hashDimensions = hashesPerTable }
    }
    if let sketchDimensions { configuration.sketchDimensions = sketchDimensions }
    if let probes { configuration.probes = probes }
    if let candidateBudget { configuration.candidateBudget = candidateBudget }
    if let seed { configuration.seed = seed }
    return configuration
  }
}
