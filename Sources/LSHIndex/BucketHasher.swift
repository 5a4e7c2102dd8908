import CKernels
import VectorMath

/// Maps a projected vector (``LSHConfiguration/hashDimensions`` values) to one bucket code per
/// table, and lists the buckets to probe next, best first.
public struct BucketHasher: Sendable, Equatable {
  /// The family.
  public let family: HashFamily
  /// L.
  public let tables: Int
  /// K.
  public let hashesPerTable: Int
  /// m: input values.
  public let dimensions: Int
  /// The p-stable bucket width.
  public let bucketWidth: Float
  /// Family parameters: hyperplane and p-stable projection rows (L·K rows of m), then p-stable
  /// offsets (L·K); cross-polytope ±1 diagonals (L·K·3 of d′).
  public let parameters: [Float]
  /// 1 / ‖row‖² of every projection row (hyperplane, p-stable), for distance lower bounds.
  let inverseSquaredNorms: [Float]
  /// The projection rows (hyperplane, p-stable) eight at a time, interleaved: for rows
  /// `8g ..< 8g + 8`, value `i` of each at `(g · m + i) · 8 + lane` (zeros past the last row), so
  /// that ``codes(_:into:)`` forms eight projections at once.
  let interleavedRows: [Float]
  /// The start of each of those projections: the p-stable offsets (zeros for hyperplanes).
  let interleavedStarts: [Float]

  /// Compares the defining values (the derived norms follow from them).
  public static func == (lhs: BucketHasher, rhs: BucketHasher) -> Bool {
    lhs.family == rhs.family && lhs.tables == rhs.tables && lhs.hashesPerTable == rhs.hashesPerTable
      && lhs.dimensions == rhs.dimensions && lhs.bucketWidth == rhs.bucketWidth
      && lhs.parameters == rhs.parameters
  }

  /// Draws a hasher's random parameters.
  ///
  /// - Parameters:
  ///   - family: the family.
  ///   - tables: L.
  ///   - hashesPerTable: K.
  ///   - dimensions: m.
  ///   - bucketWidth: w (p-stable).
  ///   - seed: the seed.
  ///   - projectedSample: the data the ``HashFamily/itq`` rotations are learned from (centred
  ///     and projected as the hashes' input); the other families ignore it.
  public init(
    family: HashFamily, tables: Int, hashesPerTable: Int, dimensions: Int, bucketWidth: Float,
    seed: UInt64, projectedSample: Matrix? = nil
  ) {
    var random = SeededRandom(seed: seed)
    var parameters: [Float] = []
    switch family {
    case .itq:
      guard let projectedSample else {
        preconditionFailure("ITQ tables are learned from a projected sample")
      }
      let bits = hashesPerTable
      for _ in 0..<tables {
        let rotation = ITQRotation.fit(projectedSample, bits: bits, random: &random)
        // Bit j's row is column j of the rotation, zero past the K components it rotates.
        for bit in 0..<bits {
          for index in 0..<dimensions {
            parameters.append(index < bits ? Float(rotation[index * bits + bit]) : 0)
          }
        }
      }
    case .hyperplane, .pstable:
      for _ in 0..<(tables * hashesPerTable * dimensions) {
        parameters.append(Float(random.normal()))
      }
      if family == .pstable {
        for _ in 0..<(tables * hashesPerTable) {
          parameters.append(Float(random.uniform()) * bucketWidth)
        }
      }
    case .crosspolytope:
      let padded = CrossPolytopeHasher.paddedDimension(dimensions)
      for _ in 0..<(tables * hashesPerTable * 3 * padded) {
        parameters.append(random.next() & 1 == 0 ? 1 : -1)
      }
    }
    self.init(
      family: family, tables: tables, hashesPerTable: hashesPerTable, dimensions: dimensions,
      bucketWidth: bucketWidth,
      parameters: parameters)
  }

  /// The number of parameters a hasher of this shape stores (what ``parameters`` must hold).
  ///
  /// - Parameters:
  ///   - family: the family.
  ///   - tables: L.
  ///   - hashesPerTable: K.
  ///   - dimensions: m.
  /// - Returns: the count.
  public static func parameterCount(
    family: HashFamily, tables: Int, hashesPerTable: Int, dimensions: Int
  ) -> Int {
    switch family {
    case .hyperplane, .itq: return tables * hashesPerTable * dimensions
    case .pstable: return tables * hashesPerTable * (dimensions + 1)
    case .crosspolytope:
      return tables * hashesPerTable * 3 * CrossPolytopeHasher.paddedDimension(dimensions)
    }
  }

  /// Draws the hash functions a (validated) configuration names: its family, L, K, m, bucket
  /// width (1 when unset) and seed.
  ///
  /// - Parameters:
  ///   - configuration: the settings.
  ///   - projectedSample: what ``HashFamily/itq`` learns its rotations from (needed for it).
  public init(drawing configuration: LSHConfiguration, projectedSample: Matrix? = nil) {
    self.init(
      family: configuration.family, tables: configuration.tables,
      hashesPerTable: configuration.hashesPerTable, dimensions: configuration.hashDimensions,
      bucketWidth: Float(configuration.bucketWidth ?? 1), seed: configuration.seed,
      projectedSample: projectedSample)
  }

  /// Wraps stored parameters.
  public init(
    family: HashFamily, tables: Int, hashesPerTable: Int, dimensions: Int, bucketWidth: Float,
    parameters: [Float]
  ) {
    self.family = family
    self.tables = tables
    self.hashesPerTable = hashesPerTable
    self.dimensions = dimensions
    self.bucketWidth = bucketWidth
    self.parameters = parameters
    (interleavedRows, interleavedStarts) = Self.interleaved(
      family: family, rows: tables * hashesPerTable, dimensions: dimensions,
      parameters: parameters)
    if family == .crosspolytope {
      inverseSquaredNorms = []
    } else {
      inverseSquaredNorms = (0..<(tables * hashesPerTable)).map { row in
        var sum: Float = 0
        for index in 0..<dimensions {
          sum += parameters[row * dimensions + index] * parameters[row * dimensions + index]
        }
        return sum > 0 ? 1 / sum : 0
      }
    }
  }

  /// The rows and starts of ``interleavedRows`` and ``interleavedStarts``.
  private static func interleaved(
    family: HashFamily, rows: Int, dimensions: Int, parameters: [Float]
  ) -> ([Float], [Float]) {
    guard family != .crosspolytope else { return ([], []) }
    let groups = (rows + 7) / 8
    var interleaved = [Float](repeating: 0, count: groups * dimensions * 8)
    var starts = [Float](repeating: 0, count: groups * 8)
    for row in 0..<rows {
      let (group, lane) = row.quotientAndRemainder(dividingBy: 8)
      for index in 0..<dimensions {
        interleaved[(group * dimensions + index) * 8 + lane] = parameters[row * dimensions + index]
      }
      if family == .pstable { starts[row] = parameters[rows * dimensions + row] }
    }
    return (interleaved, starts)
  }

  /// The hasher of the first `count` tables: the same functions, so a table it hashes holds
  /// exactly what this hasher's table of the same number holds.
  ///
  /// - Parameter count: tables to keep, at most ``tables``.
  /// - Returns: the smaller hasher.
  public func prefix(tables count: Int) -> BucketHasher { tables(0..<min(count, tables)) }

  /// The hasher of a range of tables: its table `i` hashes exactly as this hasher's table
  /// `range.lowerBound + i` (each table's projections are summed on their own, in the same
  /// order, whichever tables are hashed beside them).
  ///
  /// - Parameter range: tables to keep, within `0..<tables`.
  /// - Returns: the smaller hasher.
  public func tables(_ range: Range<Int>) -> BucketHasher {
    precondition(range.lowerBound >= 0 && range.upperBound <= tables, "no such tables")
    let kept: [Float]
    switch family {
    case .hyperplane, .itq, .pstable:
      let rowValues = hashesPerTable * dimensions
      let rows = Array(parameters[(range.lowerBound * rowValues)..<(range.upperBound * rowValues)])
      if family != .pstable {
        kept = rows
      } else {
        let offsets = tables * rowValues
        kept =
          rows
          + parameters[
            (offsets + range.lowerBound * hashesPerTable)..<(offsets + range.upperBound
              * hashesPerTable)]
      }
    case .crosspolytope:
      let tableValues = hashesPerTable * 3 * CrossPolytopeHasher.paddedDimension(dimensions)
      kept = Array(
        parameters[(range.lowerBound * tableValues)..<(range.upperBound * tableValues)])
    }
    return BucketHasher(
      family: family, tables: range.count, hashesPerTable: hashesPerTable,
      dimensions: dimensions, bucketWidth: bucketWidth, parameters: kept)
  }

  /// The home bucket of `z` in every table.
  ///
  /// - Parameters:
  ///   - z: the projected vector.
  ///   - codes: receives L codes.
  public func codes(_ z: UnsafeBufferPointer<Float>, into codes: UnsafeMutableBufferPointer<UInt64>)
  {
    switch family {
    case .hyperplane, .itq, .pstable:
      // The home code alone, with the arithmetic of `code(_:table:scratch:)` (the same
      // projections, buckets and folding) but none of its multiprobe bookkeeping: indexing a
      // million items calls this for each. Eight projections are formed at once, each lane
      // summed exactly as `projection(_:rows:row:start:)` sums it (start, then each term in
      // order), so the bits are the same.
      let rows = tables * hashesPerTable
      var hyperplaneCode: UInt64 = 0
      var folded = CodeFolder()
      // Row `group * 8 + lane` is hash `hash` of table `table` (counted, not divided out).
      var (table, hash) = (0, 0)
      interleavedRows.withUnsafeBytes { interleaved in
        interleavedStarts.withUnsafeBytes { starts in
          for group in 0..<((rows + 7) / 8) {
            var sums = starts.loadUnaligned(fromByteOffset: group * 32, as: SIMD8<Float>.self)
            for index in 0..<dimensions {
              sums +=
                interleaved.loadUnaligned(
                  fromByteOffset: (group * dimensions + index) * 32, as: SIMD8<Float>.self)
                * SIMD8(repeating: z[index])
            }
            for lane in 0..<min(8, rows - group * 8) {
              if family != .pstable {
                if sums[lane] >= 0 { hyperplaneCode |= 1 << UInt64(hash) }
              } else {
                folded.add(Self.bucket(of: (sums[lane] / bucketWidth).rounded(.down)))
              }
              if hash == hashesPerTable - 1 {
                codes[table] = family == .pstable ? folded.code : hyperplaneCode
                hyperplaneCode = 0
                folded = CodeFolder()
                (table, hash) = (table + 1, 0)
              } else {
                hash += 1
              }
            }
          }
        }
      }
    case .crosspolytope:
      // The home codes only (combined as `code(_:table:scratch:)` combines them), without the
      // multiprobe alternatives a query needs.
      var scratch = [Float](repeating: 0, count: scratchSize)
      let padded = CrossPolytopeHasher.paddedDimension(dimensions)
      let bits = UInt64(CrossPolytopeHasher.bitsPerBlock(dimensions: dimensions))
      for table in 0..<tables {
        var code: UInt64 = 0
        for block in 0..<hashesPerTable {
          let hash = CrossPolytopeHasher.blockHash(
            z, dimensions: dimensions, padded: padded, signs: parameters,
            offset: ((table * hashesPerTable + block) * 3) * padded, scratch: &scratch)
          code = (code << bits) | UInt64(hash)
        }
        codes[table] = code
      }
    }
  }

  /// `start` plus the dot product of `z` with the parameters' row at `row`, summed in order
  /// (every path that hashes goes through this, so one vector always gets the same bits).
  @inline(__always)
  private func projection(
    _ z: UnsafeBufferPointer<Float>, rows: UnsafeBufferPointer<Float>, row: Int, start: Float
  ) -> Float {
    var projection = start
    for index in 0..<dimensions { projection += rows[row + index] * z[index] }
    return projection
  }

  /// A p-stable bucket index from its rounded-down scaled projection; huge (or non-finite)
  /// projections get the outermost buckets instead of trapping.
  @inline(__always)
  static func bucket(of rounded: Float) -> Int64 {
    rounded.isNaN ? 0 : Int64(max(-9.0e18, min(9.0e18, rounded)))
  }

  /// The buckets to visit in one table: the home bucket, then perturbed buckets in increasing
  /// score (multiprobe), each with a lower bound on the squared distance to anything in it.
  ///
  /// - Parameters:
  ///   - z: the projected vector.
  ///   - table: the table.
  ///   - count: T, the most codes to produce.
  ///   - probes: receives the codes and bounds.
  public func probes(
    _ z: UnsafeBufferPointer<Float>, table: Int, count: Int,
    into probes: inout [(code: UInt64, lowerBound: Float)]
  ) {
    var prober = Prober()
    probes.removeAll(keepingCapacity: true)
    prober.start(self, z: z, table: table)
    while probes.count < count, let next = prober.next(self) { probes.append(next) }
  }

  /// Walks one table's probe sequence for one query, lazily: the home bucket first.
  public struct Prober {
    var home = Home(code: 0, components: [], atoms: [])
    var sequence = PerturbationSequence()
    var startedHome = false
    var scratch: [Float] = []

    /// An idle prober.
    public init() {}

    /// Starts the sequence of `z` in `table`.
    public mutating func start(_ hasher: BucketHasher, z: UnsafeBufferPointer<Float>, table: Int) {
      if scratch.count < hasher.scratchSize {
        scratch = Array(repeating: 0, count: hasher.scratchSize)
      }
      home = hasher.code(z, table: table, scratch: &scratch)
      startedHome = false
    }

    /// The next bucket and its distance lower bound, or `nil` when no perturbation is left.
    public mutating func next(_ hasher: BucketHasher) -> (code: UInt64, lowerBound: Float)? {
      if !startedHome {
        startedHome = true
        sequence.reset(atoms: home.atoms)
        return (home.code, 0)
      }
      guard let (members, _) = sequence.next() else { return nil }
      var bound: Float = 0
      var rest = members
      while rest != 0 {
        bound = max(bound, sequence.atoms[rest.trailingZeroBitCount].lowerBound)
        rest &= rest - 1
      }
      return (hasher.perturbed(home, members: members, atoms: sequence.atoms), bound)
    }
  }

  var scratchSize: Int {
    family == .crosspolytope ? CrossPolytopeHasher.paddedDimension(dimensions) : hashesPerTable
  }

  /// A home bucket and what is needed to perturb it.
  public struct Home {
    var code: UInt64
    /// p-stable: the K bucket indices; cross-polytope: the K block hashes.
    var components: [Int64]
    var atoms: [Perturbation]
  }

  func code(_ z: UnsafeBufferPointer<Float>, table: Int, scratch: inout [Float]) -> Home {
    switch family {
    case .hyperplane, .itq:
      var code: UInt64 = 0
      var atoms: [Perturbation] = []
      atoms.reserveCapacity(hashesPerTable)
      parameters.withUnsafeBufferPointer { rows in
        for bit in 0..<hashesPerTable {
          let projection = projection(
            z, rows: rows, row: (table * hashesPerTable + bit) * dimensions, start: 0)
          if projection >= 0 { code |= 1 << UInt64(bit) }
          let squared = projection * projection
          atoms.append(
            Perturbation(
              score: squared, group: bit, value: bit,
              lowerBound: squared * inverseSquaredNorms[table * hashesPerTable + bit]))
        }
      }
      return Home(code: code, components: [], atoms: atoms)
    case .pstable:
      var buckets: [Int64] = []
      var atoms: [Perturbation] = []
      buckets.reserveCapacity(hashesPerTable)
      atoms.reserveCapacity(2 * hashesPerTable)
      let offsets = tables * hashesPerTable * dimensions
      parameters.withUnsafeBufferPointer { rows in
        for hash in 0..<hashesPerTable {
          let projection = projection(
            z, rows: rows, row: (table * hashesPerTable + hash) * dimensions,
            start: rows[offsets + table * hashesPerTable + hash])
          let scaled = projection / bucketWidth
          let bucket = scaled.rounded(.down)
          let fraction = scaled - bucket
          buckets.append(Self.bucket(of: bucket))
          let scale = bucketWidth * bucketWidth * inverseSquaredNorms[table * hashesPerTable + hash]
          let down = fraction * fraction
          let up = (1 - fraction) * (1 - fraction)
          atoms.append(
            Perturbation(score: down, group: hash, value: 2 * hash, lowerBound: down * scale))
          atoms.append(
            Perturbation(score: up, group: hash, value: 2 * hash + 1, lowerBound: up * scale))
        }
      }
      return Home(code: Self.combine(buckets), components: buckets, atoms: atoms)
    case .crosspolytope:
      let padded = CrossPolytopeHasher.paddedDimension(dimensions)
      var blocks: [Int64] = []
      var atoms: [Perturbation] = []
      for block in 0..<hashesPerTable {
        let signs = ((table * hashesPerTable + block) * 3) * padded
        let (hash, alternatives) = CrossPolytopeHasher.hash(
          z, dimensions: dimensions, padded: padded, signs: parameters, offset: signs,
          scratch: &scratch)
        blocks.append(Int64(hash))
        for (cost, alternative) in alternatives {
          atoms.append(
            Perturbation(
              score: cost, group: block, value: block * 2 * padded + alternative, lowerBound: 0))
        }
      }
      let bits = CrossPolytopeHasher.bitsPerBlock(dimensions: dimensions)
      return Home(
        code: CrossPolytopeHasher.combine(blocks, bits: bits), components: blocks, atoms: atoms)
    }
  }

  func perturbed(_ home: Home, members: UInt64, atoms: [Perturbation]) -> UInt64 {
    var rest = members
    switch family {
    case .hyperplane, .itq:
      var code = home.code
      while rest != 0 {
        code ^= 1 << UInt64(atoms[rest.trailingZeroBitCount].value)
        rest &= rest - 1
      }
      return code
    case .pstable:
      var buckets = home.components
      while rest != 0 {
        let value = atoms[rest.trailingZeroBitCount].value
        buckets[value / 2] += value % 2 == 0 ? -1 : 1
        rest &= rest - 1
      }
      return Self.combine(buckets)
    case .crosspolytope:
      let padded = CrossPolytopeHasher.paddedDimension(dimensions)
      var blocks = home.components
      while rest != 0 {
        let value = atoms[rest.trailingZeroBitCount].value
        blocks[value / (2 * padded)] = Int64(value % (2 * padded))
        rest &= rest - 1
      }
      return CrossPolytopeHasher.combine(
        blocks, bits: CrossPolytopeHasher.bitsPerBlock(dimensions: dimensions))
    }
  }

  /// Folds K bucket indices into one 64-bit code (FNV-1a, then a SplitMix finaliser).
  static func combine(_ buckets: [Int64]) -> UInt64 {
    var folded = CodeFolder()
    for bucket in buckets { folded.add(bucket) }
    return folded.code
  }

  /// ``combine(_:)`` one bucket at a time.
  struct CodeFolder {
    private var hash: UInt64 = 0xcbf2_9ce4_8422_2325

    /// Folds in the next bucket index.
    @inline(__always)
    mutating func add(_ bucket: Int64) {
      hash = (hash ^ UInt64(bitPattern: bucket)) &* 0x0000_0100_0000_01b3
    }

    /// The code of the buckets folded in.
    var code: UInt64 {
      var hash = (self.hash ^ (self.hash >> 30)) &* 0xbf58_476d_1ce4_e5b9
      hash = (hash ^ (hash >> 27)) &* 0x94d0_49bb_1331_11eb
      return hash ^ (hash >> 31)
    }
  }
}

/// The cross-polytope hash: three rounds of random ±1 signs followed by a fast Hadamard transform
/// (a pseudo-random rotation), then the signed axis of the largest coordinate.
enum CrossPolytopeHasher {
  /// The next power of two ≥ max(2, dimensions).
  static func paddedDimension(_ dimensions: Int) -> Int {
    var padded = 2
    while padded < dimensions { padded *= 2 }
    return padded
  }

  /// Bits per block hash: log2(2 d′).
  static func bitsPerBlock(dimensions: Int) -> Int {
    let values = 2 * paddedDimension(dimensions)
    return values.trailingZeroBitCount
  }

  /// Alternatives kept per block for multiprobe.
  static let alternativesPerBlock = 6

  /// The block hash (2 · axis + (negative ? 1 : 0)) and the cheapest alternatives with their
  /// costs (|y|max − s·y_j)².
  static func hash(
    _ z: UnsafeBufferPointer<Float>, dimensions: Int, padded: Int, signs: [Float], offset: Int,
    scratch: inout [Float]
  ) -> (Int, [(Float, Int)]) {
    let home = blockHash(
      z, dimensions: dimensions, padded: padded, signs: signs, offset: offset, scratch: &scratch)
    let largest = abs(scratch[home / 2])
    var alternatives: [(Float, Int)] = []
    alternatives.reserveCapacity(2 * padded)
    for index in 0..<padded {
      for negative in [false, true] {
        let hash = 2 * index + (negative ? 1 : 0)
        if hash == home { continue }
        let signed = negative ? -scratch[index] : scratch[index]
        alternatives.append(((largest - signed) * (largest - signed), hash))
      }
    }
    alternatives.sort { $0.0 < $1.0 }
    return (home, Array(alternatives.prefix(alternativesPerBlock)))
  }

  /// The block hash alone (what building tables needs): `z` padded and turned by three rounds
  /// of random signs and a Hadamard transform into `scratch`
  /// (`tripindex_crosspolytope_rotate`), then 2 · axis + (negative ? 1 : 0) of its largest
  /// absolute value.
  static func blockHash(
    _ z: UnsafeBufferPointer<Float>, dimensions: Int, padded: Int, signs: [Float], offset: Int,
    scratch: inout [Float]
  ) -> Int {
    precondition(
      scratch.count >= padded && signs.count >= offset + 3 * padded && z.count >= dimensions,
      "a block's values")
    return scratch.withUnsafeMutableBufferPointer { values in
      signs.withUnsafeBufferPointer { signs in
        // Checked above: every buffer holds what the kernel reads and writes.
        let values = values.baseAddress.unsafelyUnwrapped
        tripindex_crosspolytope_rotate(
          z.baseAddress, dimensions, padded, signs.baseAddress.unsafelyUnwrapped + offset, values)
        var best = 0
        for index in 1..<padded where abs(values[index]) > abs(values[best]) { best = index }
        return 2 * best + (values[best] < 0 ? 1 : 0)
      }
    }
  }

  static func combine(_ blocks: [Int64], bits: Int) -> UInt64 {
    var code: UInt64 = 0
    for block in blocks { code = (code << UInt64(bits)) | UInt64(block) }
    return code
  }
}
