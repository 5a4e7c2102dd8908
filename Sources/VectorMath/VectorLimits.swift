/// The limits every input path applies before it allocates or stores anything, so that no file,
/// probe or header can make the reader allocate without bound or overflow a distance.
public enum VectorLimits {
  /// The most values per vector, in every format (checked before a row is allocated).
  public static let maximumDimension = 1 << 20

  /// The largest Euclidean norm a stored or probe vector may have: 2^62 (≈ 4.6e18). Squared
  /// distances between such vectors stay below 2^126, well inside `Float`'s range, so no distance
  /// is ever infinite.
  public static let maximumNorm: Float = 0x1p62

  /// The most bytes a batch of rows read at once may take (64 MiB): batches of high-dimensional
  /// vectors hold fewer rows.
  public static let maximumBatchBytes = 64 << 20

  /// Rows per batch for `dimension`-value vectors: `wanted`, or fewer so that the batch stays
  /// within ``maximumBatchBytes``; at least 1.
  ///
  /// - Parameters:
  ///   - wanted: the rows the caller would like.
  ///   - dimension: values per row.
  /// - Returns: the rows to read at once.
  public static func batchRows(_ wanted: Int, dimension: Int) -> Int {
    max(1, min(wanted, maximumBatchBytes / max(1, dimension * MemoryLayout<Float>.size)))
  }

  /// The first problem with a vector's size, or `nil` when its norm is within
  /// ``maximumNorm`` (values are assumed finite).
  ///
  /// - Parameter vector: the values.
  /// - Returns: what is wrong, for an error message.
  public static func normProblem(_ vector: UnsafeBufferPointer<Float>) -> String? {
    // Eight lanes of Float: the limit's square (2^124) is well inside Float's range, and a sum
    // that overflows to +inf is over it too, so Float is exact enough for the comparison.
    var lanes = SIMD8<Float>()
    var index = 0
    if let base = vector.baseAddress {
      let raw = UnsafeRawPointer(base)
      while index + 8 <= vector.count {
        let values = raw.loadUnaligned(fromByteOffset: index * 4, as: SIMD8<Float>.self)
        lanes += values * values
        index += 8
      }
    }
    var squared = lanes.sum()
    while index < vector.count {
      squared += vector[index] * vector[index]
      index += 1
    }
    guard squared > maximumNorm * maximumNorm else { return nil }
    var exact = 0.0
    for value in vector { exact += Double(value) * Double(value) }
    return
      "its norm is \(Float(exact.squareRoot())); vectors may have a norm of at most 2^62 (≈ 4.6e18) so that distances stay finite"
  }

  /// The first reason a vector cannot be stored as it is, computed exactly as the store computes
  /// it when it writes (so a check made before writing and the store's own check agree): a value
  /// that is not finite, a norm over ``maximumNorm``, and, for a metric that normalises, a norm
  /// that is zero in `Float` (all zeros, or values so small that their squares underflow).
  ///
  /// - Parameters:
  ///   - vector: the values.
  ///   - normalizing: whether the store normalises vectors (the cosine metric).
  /// - Returns: what is wrong, for an error message, or `nil`.
  public static func storageProblem(_ vector: UnsafeBufferPointer<Float>, normalizing: Bool)
    -> String?
  {
    if let position = vector.firstIndex(where: { !$0.isFinite }) {
      return "value \(vector[position]) at position \(position) is not finite"
    }
    if let problem = normProblem(vector) { return problem }
    guard normalizing else { return nil }
    let norm = Vectors.squaredNorm(vector).squareRoot()
    guard norm > 0 && norm.isFinite else {
      return vector.allSatisfy({ $0 == 0 })
        ? "the vector is all zeros, which has no direction for the cosine metric"
        : "the vector's norm underflows to zero in 32-bit floats (its largest value is \(vector.map(abs).max() ?? 0)), so it has no direction for the cosine metric; scale it up"
    }
    return nil
  }
}

/// The checks every store makes on a batch before writing any of it, in one place so that the
/// stores take exactly the same items: names present, short enough, none twice (compared as
/// bytes), every vector storable; for a normalising metric, the rows are normalised.
public enum ItemBatchCheck {
  /// The first problem of a batch, for an error message (naming the item), or `nil`.
  ///
  /// - Parameters:
  ///   - names: one name per row.
  ///   - maximumNameBytes: the longest name the store takes.
  ///   - rows: the vectors; normalised in place when `normalizing` and nothing is wrong.
  ///   - normalizing: whether the store normalises vectors (the cosine metric).
  /// - Returns: what is wrong, or `nil`.
  public static func problem(
    names: [String], maximumNameBytes: Int, rows: inout Matrix, normalizing: Bool
  ) -> String? {
    var seen = Set<ItemNameKey>()
    for (index, name) in names.enumerated() {
      if name.isEmpty { return "item \(index) has an empty name" }
      if name.utf8.count > maximumNameBytes {
        return
          "name '\(name.prefix(40))…' is \(name.utf8.count) bytes long; names may have at most \(maximumNameBytes)"
      }
      if !seen.insert(ItemNameKey(name)).inserted {
        return "name '\(name)' appears twice in one batch"
      }
    }
    let columns = rows.columns
    let found: String? = rows.values.withUnsafeBufferPointer { values in
      for (index, name) in names.enumerated() {
        let vector = UnsafeBufferPointer(
          rebasing: values[(index * columns)..<((index + 1) * columns)])
        if let problem = VectorLimits.storageProblem(vector, normalizing: normalizing) {
          return "item '\(name)': \(problem)"
        }
      }
      return nil
    }
    if let found { return found }
    if normalizing, let zero = rows.normalizeRows() {
      return "item '\(names[zero])' cannot be normalised for the cosine metric"
    }
    return nil
  }
}
