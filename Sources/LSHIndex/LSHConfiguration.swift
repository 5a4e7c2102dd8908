import Plumbing

/// The locality-sensitive hash families on offer.
public enum HashFamily: String, Sendable, CaseIterable, Codable {
  /// Random hyperplanes (Charikar 2002): K sign bits per table; for angular similarity.
  case hyperplane
  /// p-stable projections (Datar et al. 2004): ⌊(a·v + b) / w⌋, K per table; for L2.
  case pstable
  /// Cross-polytope (Andoni et al. 2015, FALCONN): K pseudo-random rotations per table, each
  /// hashing to the nearest signed axis; for angular similarity.
  case crosspolytope
  /// Iterative quantization (Gong & Lazebnik 2011): K sign bits per table over the top K
  /// principal components (K ≤ m) turned by a rotation learned from the data so that the
  /// bits lose the least of it, one rotation per table from its own random start. Hyperplanes
  /// that follow the data: on clustered data its cells hold a query's neighbours with fewer
  /// strangers than random ones (`Benchmarks/results/hash-partitions.md`).
  case itq
}

/// The parameters of an LSH index.
///
/// Hashes are data-aware: vectors are centred and projected onto their top principal components
/// before hashing (``hashDimensions`` of them), and every item's table entries carry a compact
/// code of its top ``sketchDimensions`` components (``CompactCoder``) that bounds the true L2
/// distance from below, so an entry's vector is read only when its bound could beat the k-th
/// distance.
public struct LSHConfiguration: Sendable, Equatable {
  /// The hash family.
  public var family: HashFamily
  /// L: hash tables.
  public var tables: Int
  /// K: hashes per table (bits, projections, or rotation blocks).
  public var hashesPerTable: Int
  /// w: the p-stable bucket width, in units of the projected data; `nil` picks it from the data
  /// (2.5 × the 90th percentile of sampled points' distance to their 10th nearest sampled
  /// neighbour, in hash space; ``LSHTuner`` searches around it).
  public var bucketWidth: Double?
  /// m: principal components fed to the hashes.
  public var hashDimensions: Int
  /// s: principal components in each item's compact code (≥ m; one byte each).
  public var sketchDimensions: Int
  /// T: probes per table at query time (1 = the home bucket only).
  public var probes: Int
  /// The most table entries a query examines (0 = no limit; bounds prune without one).
  public var candidateBudget: Int
  /// The seed of every random draw.
  public var seed: UInt64

  /// Creates a configuration.
  public init(
    family: HashFamily, tables: Int, hashesPerTable: Int, bucketWidth: Double? = nil,
    hashDimensions: Int = 8,
    sketchDimensions: Int = 32, probes: Int = 4, candidateBudget: Int = 0, seed: UInt64 = 1
  ) {
    self.family = family
    self.tables = tables
    self.hashesPerTable = hashesPerTable
    self.bucketWidth = bucketWidth
    self.hashDimensions = hashDimensions
    self.sketchDimensions = sketchDimensions
    self.probes = probes
    self.candidateBudget = candidateBudget
    self.seed = seed
  }

  /// A sensible starting point for a family (``LSHTuner`` searches around it).
  ///
  /// - Parameter family: the family.
  /// - Returns: the configuration.
  public static func defaults(for family: HashFamily) -> LSHConfiguration {
    switch family {
    case .hyperplane: return LSHConfiguration(family: family, tables: 8, hashesPerTable: 14)
    case .pstable: return LSHConfiguration(family: family, tables: 8, hashesPerTable: 8)
    case .crosspolytope: return LSHConfiguration(family: family, tables: 8, hashesPerTable: 2)
    case .itq:
      return LSHConfiguration(family: family, tables: 8, hashesPerTable: 16, hashDimensions: 16)
    }
  }

  /// The highest vector dimension the index takes: its principal components come from a
  /// d × d covariance (32 MiB and a few seconds of eigen-decomposition at 2048).
  public static let maximumDimension = 2048

  /// Checks the values against each other and the data's dimension.
  ///
  /// - Parameter dimension: the vectors' dimension.
  /// - Returns: the configuration with dimensions clamped to the data's.
  /// - Throws: ``LSHError`` naming the bad value.
  public func validated(forDimension dimension: Int) throws(LSHError) -> LSHConfiguration {
    guard dimension <= Self.maximumDimension else {
      throw LSHError(
        .dimensionTooLarge,
        "the LSH index learns principal components from a \(dimension) × \(dimension) covariance; it takes vectors of at most \(Self.maximumDimension) dimensions, so search this store exactly (or embed it to fewer dimensions)"
      )
    }
    var result = self
    result.hashDimensions = min(hashDimensions, dimension)
    if family == .itq && hashDimensions > dimension {
      // The data has fewer components than asked for: ITQ rotates what there is.
      result.hashesPerTable = min(hashesPerTable, dimension)
    }
    result.sketchDimensions = max(result.hashDimensions, min(sketchDimensions, dimension))
    guard tables >= 1 && tables <= 256 else {
      throw LSHError(.invalidSetting("tables"), "must be in 1…256, not \(tables)")
    }
    guard probes >= 1 else {
      throw LSHError(.invalidSetting("probes"), "must be at least 1, not \(probes)")
    }
    guard candidateBudget >= 0 else {
      throw LSHError(.invalidSetting("candidateBudget"), "cannot be negative")
    }
    guard result.sketchDimensions <= 200 else {
      throw LSHError(
        .invalidSetting("sketchDimensions"), "must be at most 200, not \(sketchDimensions)")
    }
    guard hashDimensions >= 1 else {
      throw LSHError(.invalidSetting("hashDimensions"), "must be at least 1")
    }
    switch family {
    case .hyperplane:
      guard (1...64).contains(hashesPerTable) else {
        throw LSHError(
          .invalidSetting("hashesPerTable"),
          "must be in 1…64 for hyperplane tables (bits), not \(hashesPerTable)")
      }
    case .itq:
      // At most m (the bits rotate the top K hashed components) and 64 (a code's bits).
      let most = min(64, result.hashDimensions)
      guard (1...most).contains(result.hashesPerTable) else {
        throw LSHError(
          .invalidSetting("hashesPerTable"),
          "must be in 1…\(most) for ITQ tables (bits over at most the \(result.hashDimensions) hashed components, and at most 64), not \(result.hashesPerTable)"
        )
      }
    case .pstable:
      guard (1...64).contains(hashesPerTable) else {
        throw LSHError(
          .invalidSetting("hashesPerTable"),
          "must be in 1…64 for p-stable tables (projections), not \(hashesPerTable)")
      }
      if let width = bucketWidth, !(width > 0 && width.isFinite) {
        throw LSHError(.invalidSetting("bucketWidth"), "must be positive, not \(width)")
      }
    case .crosspolytope:
      let bitsPerBlock = CrossPolytopeHasher.bitsPerBlock(dimensions: result.hashDimensions)
      guard hashesPerTable >= 1 && hashesPerTable * bitsPerBlock <= 64 else {
        throw LSHError(
          .invalidSetting("hashesPerTable"),
          "must be in 1…\(64 / bitsPerBlock) for cross-polytope tables of \(result.hashDimensions)-d inputs (rotations), not \(hashesPerTable)"
        )
      }
    }
    return result
  }

  /// The configuration as JSON (stored in the index).
  public var json: JSONValue {
    .object([
      ("family", .string(family.rawValue)), ("tables", .integer(tables)),
      ("hashes_per_table", .integer(hashesPerTable)),
      ("bucket_width", bucketWidth.map { .number($0) } ?? .null),
      ("hash_dimensions", .integer(hashDimensions)),
      ("sketch_dimensions", .integer(sketchDimensions)), ("probes", .integer(probes)),
      ("candidate_budget", .integer(candidateBudget)), ("seed", .string(String(seed))),
    ])
  }

  /// Reads a configuration from JSON.
  ///
  /// - Parameter json: the stored value.
  /// - Returns: the configuration, or `nil` when a field is missing.
  public init?(json: JSONValue) {
    guard let familyName = json["family"]?.stringValue,
      let family = HashFamily(rawValue: familyName),
      let tables = json["tables"]?.intValue, let hashes = json["hashes_per_table"]?.intValue,
      let hashDimensions = json["hash_dimensions"]?.intValue,
      let sketchDimensions = json["sketch_dimensions"]?.intValue,
      let probes = json["probes"]?.intValue, let budget = json["candidate_budget"]?.intValue,
      let seed = json["seed"]?.stringValue.flatMap({ UInt64($0) })
    else { return nil }
    self.init(
      family: family, tables: tables, hashesPerTable: hashes,
      bucketWidth: json["bucket_width"]?.doubleValue,
      hashDimensions: hashDimensions, sketchDimensions: sketchDimensions, probes: probes,
      candidateBudget: budget,
      seed: seed)
  }

  /// `pstable L8 K6 m8 w412.3 T8`.
  public var summary: String {
    var text = "\(family.rawValue) L\(tables) K\(hashesPerTable) m\(hashDimensions)"
    if family == .pstable, let width = bucketWidth { text += " w\(TextFormatting.fixed(width, 1))" }
    text += " T\(probes)"
    if candidateBudget > 0 { text += " budget \(candidateBudget)" }
    return text
  }
}

/// A problem with an LSH index's parameters or data, with a case callers can match.
public struct LSHError: Error, Sendable, CustomStringConvertible {
  /// What is wrong.
  public enum Kind: Sendable, Hashable {
    /// A setting is out of its range; the associated value names it as ``LSHConfiguration`` or
    /// the tuner does (`tables`, `probes`, `bucketWidth`, `target`, `sampleSize`, …), and the
    /// message says what it must be.
    case invalidSetting(String)
    /// The store holds too few items (or too few queries were given) for what was asked.
    case tooFewItems
    /// The vectors have more dimensions than the index takes.
    case dimensionTooLarge
    /// The index cannot be used as it is (parameters missing, damaged or from an older format):
    /// it must be built again.
    case needsRebuild
    /// A table could not be read (a damaged store).
    case unreadableTable
    /// The index was dropped (by another process) after this one opened it.
    case dropped
    /// Anything else.
    case other
  }

  /// What is wrong.
  public let kind: Kind
  /// Details in words. For ``Kind/invalidSetting(_:)``, the requirement alone ("must be in
  /// 1…256, not 0"): ``description`` puts the setting's name in front.
  public let message: String

  /// Creates an error.
  ///
  /// - Parameters:
  ///   - kind: what is wrong.
  ///   - message: details.
  public init(_ kind: Kind, _ message: String) {
    self.kind = kind
    self.message = message
  }

  /// Creates an error of kind ``Kind/other``.
  ///
  /// - Parameter message: what is wrong.
  public init(_ message: String) { self.init(.other, message) }

  /// The message, preceded by the setting's name for an invalid setting.
  public var description: String {
    if case .invalidSetting(let setting) = kind { return "\(setting) \(message)" }
    return message
  }
}
