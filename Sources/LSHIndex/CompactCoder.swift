import CKernels

/// Compact per-item codes that bound the true distance from below: each of the top
/// ``dimensions`` principal components quantised to one byte (one of 256 intervals holding equal
/// shares of a sample, so dense regions get narrow intervals), and the norm of the rest of the
/// centred vector (what the components leave out) to one more byte.
///
/// Since the principal basis is orthonormal, ‖x − q‖² = ‖P(x − q)‖² + ‖R(x − q)‖², where P
/// projects onto the kept components and R onto the rest; the first term is at least the sum,
/// over components, of the squared distance from q's component to x's interval, and the second
/// at least (‖Rx‖ − ‖Rq‖)² (the triangle inequality), taken from the interval of ‖Rx‖. The
/// sum is therefore a lower bound on the squared distance that needs no float of the item —
/// only `dimensions + 1` bytes, stored inline in the hash tables beside the item's id.
///
/// Table entries are `dimensions` code bytes, the residual byte, then the id as 8 big-endian
/// bytes: sorted byte by byte (as LMDB sorts duplicates), a bucket's entries are ordered by the
/// first principal component, which lets a crowded bucket be scanned outwards from the query.
public struct CompactCoder: Sendable, Equatable {
  /// Quantised components per item.
  public let dimensions: Int
  /// Per component, 257 increasing interval edges: code `c` is `[edges[c], edges[c + 1])`,
  /// code 0 open below and code 255 open above.
  public let edges: [Float]
  /// The width of one residual-norm code.
  public let residualStep: Float
  /// Slack added to every residual interval (float rounding of projections and norms).
  public let residualSlack: Float

  /// Bytes of one table entry.
  public var entryBytes: Int { dimensions + 1 + 8 }
  /// Offset of the id within an entry.
  public var idOffset: Int { dimensions + 1 }

  /// Wraps stored parameters.
  public init(dimensions: Int, edges: [Float], residualStep: Float, residualSlack: Float) {
    precondition(edges.count == dimensions * 257, "257 edges per component")
    self.dimensions = dimensions
    self.edges = edges
    self.residualStep = residualStep
    self.residualSlack = residualSlack
  }

  /// Fits the intervals to a sample of projections and residual norms: each component's 256
  /// intervals hold equal shares of the sample (values beyond the sample's range get the end
  /// codes, whose intervals are open).
  ///
  /// - Parameters:
  ///   - projections: one projection per row (`dimensions` of the `columns` are used).
  ///   - columns: values per row.
  ///   - residuals: the sample's residual norms.
  ///   - norms: the sample's centred norms (the float error of a residual grows with them).
  ///   - dimensions: components to quantise.
  /// - Returns: the coder.
  public static func fit(
    projections: [Float], columns: Int, residuals: [Float], norms: [Float], dimensions: Int
  ) -> CompactCoder {
    let rows = columns == 0 ? 0 : projections.count / columns
    var edges: [Float] = []
    edges.reserveCapacity(dimensions * 257)
    for column in 0..<dimensions {
      var values = (0..<rows).map { projections[$0 * columns + column] }.filter(\.isFinite)
      values.sort()
      if values.isEmpty { values = [0, 1] }
      for index in 0...256 {
        edges.append(values[min(values.count - 1, index * (values.count - 1) / 256)])
      }
    }
    let largest = residuals.max() ?? 0
    let largestNorm = norms.max() ?? 0
    return CompactCoder(
      dimensions: dimensions, edges: edges, residualStep: max(largest * 1.1, 1e-12) / 256,
      residualSlack: 2e-3 * largestNorm + 1e-12)
  }

  /// The parameters as floats, for storage: dimensions, residual step, slack, then the edges.
  public var parameters: [Float] {
    [Float(dimensions), residualStep, residualSlack] + edges
  }

  /// Reads stored parameters.
  ///
  /// - Parameter parameters: what ``parameters`` wrote.
  /// - Returns: the coder, or `nil` when the values do not fit together.
  public init?(parameters: [Float]) {
    guard parameters.count >= 3, parameters[0] >= 0, parameters[0] <= 4096,
      parameters[0] == parameters[0].rounded()
    else { return nil }
    let dimensions = Int(parameters[0])
    guard parameters.count == 3 + 257 * dimensions,
      parameters.allSatisfy({ $0.isFinite }), parameters[1] > 0, parameters[2] >= 0
    else { return nil }
    let edges = Array(parameters[3...])
    for column in 0..<dimensions {
      for index in 0..<256 where edges[column * 257 + index] > edges[column * 257 + index + 1] {
        return nil
      }
    }
    self.init(
      dimensions: dimensions, edges: edges, residualStep: parameters[1],
      residualSlack: parameters[2])
  }

  /// The code of a component's value: the last interval whose lower edge is at most the value.
  @inline(__always)
  public func code(_ value: Float, component: Int) -> UInt8 {
    precondition(component >= 0 && component < dimensions, "a component of the code")
    // The largest c in 0...255 with edges[c] <= value (0 when none is): edges ascend, so eight
    // halving steps (128 + 64 + … + 1 = 255) find it, each a select rather than a branch.
    return edges.withUnsafeBufferPointer { edges in
      let row = edges.baseAddress.unsafelyUnwrapped + component * 257
      var low = 0
      var step = 128
      while step > 0 {
        // Arithmetic on the comparison, not a branch: the outcome is data, unpredictable.
        let below = unsafeBitCast(row[low &+ step] <= value, to: UInt8.self)
        low &+= step & (0 &- Int(below))
        step &>>= 1
      }
      return UInt8(truncatingIfNeeded: low)
    }
  }

  /// Writes an entry: the codes of `projection` and `residual`, then `id`.
  ///
  /// - Parameters:
  ///   - projection: at least ``dimensions`` values.
  ///   - residual: the norm of what the kept components leave out.
  ///   - id: the item's id.
  ///   - entry: ``entryBytes`` bytes.
  @inline(__always)
  public func encode(
    projection: UnsafeBufferPointer<Float>, residual: Float, id: UInt64,
    into entry: UnsafeMutableRawBufferPointer
  ) {
    for index in 0..<dimensions { entry[index] = code(projection[index], component: index) }
    let scaled = residual / residualStep
    entry[dimensions] = scaled.isFinite ? UInt8(max(0, min(255, scaled.rounded(.down)))) : 255
    entry.storeBytes(of: id.bigEndian, toByteOffset: idOffset, as: UInt64.self)
  }

  /// The id stored in an entry.
  @inline(__always)
  public func id(in entries: UnsafeRawBufferPointer, at index: Int) -> UInt64 {
    UInt64(
      bigEndian: entries.loadUnaligned(
        fromByteOffset: index * entryBytes + idOffset, as: UInt64.self))
  }

  /// Fills a query's look-up tables: `table[i * 256 + c]` is the squared distance from the
  /// query's component `i` to code `c`'s interval, `residual[c]` the squared distance from its
  /// residual norm to that code's interval (each interval widened by float slack).
  ///
  /// - Parameters:
  ///   - projection: the query's projection (≥ ``dimensions`` values).
  ///   - residualNorm: the query's residual norm.
  ///   - table: `dimensions × 256` values.
  ///   - residual: 256 values.
  public func queryTables(
    projection: UnsafeBufferPointer<Float>, residualNorm: Float,
    table: UnsafeMutableBufferPointer<Float>, residual: UnsafeMutableBufferPointer<Float>
  ) {
    guard let base = table.baseAddress else { return }
    edges.withUnsafeBufferPointer { edges in
      guard let edgesBase = edges.baseAddress else { return }
      for index in 0..<dimensions {
        let value = projection[index]
        let first = edges[index * 257]
        let last = edges[index * 257 + 256]
        let slack = (last - first) * 1e-4 + abs(value) * 1e-5
        tripindex_interval_edges_table(value, edgesBase + index * 257, slack, base + index * 256)
      }
    }
    for code in 0..<256 {
      let lower = max(0, (Float(code) - 0.5) * residualStep - residualSlack)
      let upper = code == 255 ? Float.infinity : (Float(code) + 1.5) * residualStep + residualSlack
      let gap = max(0, lower - residualNorm, residualNorm - upper)
      residual[code] = gap * gap
    }
  }
}
