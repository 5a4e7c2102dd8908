/// Exact k-nearest-neighbour search of many probes against blocks of base vectors.
///
/// Large probe batches go through BLAS: each worker multiplies a tile of probes by each base block
/// (`sgemm`) and scans the products with a per-probe threshold, so most candidates cost one compare.
/// Small batches compute distances directly, split across workers by base block. Distances of the
/// final `k` are recomputed directly (not via the norm expansion), so they are exact to rounding.
/// Ties go to the smaller id.
public struct ExactSearch {
  /// Values per vector.
  public let dimension: Int
  /// The metric; for cosine, base rows and probes must already be unit length.
  public let metric: DistanceMetric
  /// The base vectors, in ascending id order.
  public let blocks: [VectorBlock]
  /// Probe batches smaller than this use direct distances instead of BLAS.
  public var directSearchLimit = 8
  /// The products' orientation and probe tile; `nil` lets ``ScanShapeChoice`` pick the one
  /// measured fastest on this machine (see there).
  public var shape: ScanShape?
  /// Threads the search may use (its workers and the BLAS calls they make).
  public var threads = Parallel.processorCount

  /// Prepares a search.
  ///
  /// - Parameters:
  ///   - dimension: values per vector.
  ///   - metric: the metric.
  ///   - blocks: the base vectors, ids ascending and not overlapping.
  public init(dimension: Int, metric: DistanceMetric, blocks: [VectorBlock]) {
    self.dimension = dimension
    self.metric = metric
    self.blocks = blocks
  }

  /// Finds the `k` nearest base rows of each probe.
  ///
  /// - Parameters:
  ///   - probes: one probe per row, `dimension` columns.
  ///   - k: neighbours per probe.
  ///   - allowed: the ids that may be returned (`nil`: every live item); applied inside the
  ///     scan, so the k nearest allowed items come back whenever that many exist.
  /// - Returns: per probe, up to `k` neighbours, closest first.
  /// - Complexity: O(probes · rows · dimension).
  public func search(_ probes: Matrix, k: Int, allowed: IDMask? = nil) -> [[Neighbor]] {
    precondition(probes.columns == dimension, "probe dimension \(probes.columns) ≠ \(dimension)")
    guard probes.rows > 0 else { return [] }
    let selections =
      probes.rows < directSearchLimit
      ? searchDirect(probes, k: k, allowed: allowed)
      : searchBatched(probes, k: k, allowed: allowed)
    return probes.values.withUnsafeBufferPointer { probeValues in
      selections.enumerated().map { index, selection in
        refine(selection, probe: probeRow(probeValues, index))
      }
    }
  }

  @inline(__always)
  private func probeRow(_ values: UnsafeBufferPointer<Float>, _ index: Int) -> UnsafeBufferPointer<
    Float
  > {
    UnsafeBufferPointer(rebasing: values[(index * dimension)..<((index + 1) * dimension)])
  }

  /// The base row with id `id`.
  func row(id: UInt64) -> UnsafeBufferPointer<Float>? {
    var low = 0
    var high = blocks.count
    while low < high {
      let middle = (low + high) / 2
      if blocks[middle].firstID + UInt64(blocks[middle].rowCount) <= id {
        low = middle + 1
      } else {
        high = middle
      }
    }
    guard low < blocks.count, blocks[low].firstID <= id else { return nil }
    let offset = Int(id - blocks[low].firstID)
    return UnsafeBufferPointer(start: blocks[low].values + offset * dimension, count: dimension)
  }

  /// Recomputes the selected neighbours' distances directly and re-sorts them.
  private func refine(_ selection: TopK, probe: UnsafeBufferPointer<Float>) -> [Neighbor] {
    selection.sorted().map { neighbor in
      guard let vector = row(id: neighbor.id) else { return neighbor }
      return Neighbor(id: neighbor.id, distance: max(0, Vectors.distance(metric, probe, vector)))
    }.sorted()
  }

  /// Few probes: each worker scans a share of the blocks with direct distances.
  private func searchDirect(_ probes: Matrix, k: Int, allowed: IDMask?) -> [TopK] {
    let workers = max(1, min(threads, blocks.count))
    var partials = [[TopK]](repeating: [], count: workers)
    let dimension = self.dimension
    let metric = self.metric
    probes.values.withUnsafeBufferPointer { probeValues in
      partials.withUnsafeMutableBufferPointer { results in
        let results = results
        Parallel.forEachChunk(of: blocks.count, count: workers) { worker, blockRange in
          var selections = (0..<probes.rows).map { _ in TopK(k: k) }
          for block in blocks[blockRange] {
            for index in 0..<block.rowCount where !block.isDeleted(index) {
              if let allowed, !allowed.contains(block.firstID + UInt64(index)) { continue }
              let vector = UnsafeBufferPointer(
                start: block.values + index * dimension, count: dimension)
              for probe in 0..<probes.rows {
                let distance = Vectors.distance(metric, probeRow(probeValues, probe), vector)
                if distance < selections[probe].threshold {
                  selections[probe].insert(id: block.firstID + UInt64(index), distance: distance)
                }
              }
            }
          }
          results[worker] = selections
        }
      }
    }
    var merged = partials[0]
    for partial in partials.dropFirst() where !partial.isEmpty {
      for probe in merged.indices { merged[probe].merge(partial[probe]) }
    }
    return merged
  }

  /// Many probes: tiles of probes are multiplied by each block with BLAS. Workers split the probes
  /// when there are enough of them, otherwise the blocks (and their selections are merged).
  private func searchBatched(_ probes: Matrix, k: Int, allowed: IDMask?) -> [TopK] {
    let bias = rowBiases(allowed: allowed)
    var offsets: [Int] = []
    var total = 0
    for block in blocks {
      offsets.append(total)
      total += block.rowCount
    }
    let splitProbes = probes.rows >= 64 * threads
    let workers = max(1, min(threads, splitProbes ? probes.rows : blocks.count))
    let shape =
      self.shape
      ?? ScanShapeChoice.shape(
        dimension: dimension, blockRows: blocks.map(\.rowCount).max() ?? 0,
        worthwhile: ScanShapeChoice.measurementWorthwhile(
          probes: probes.rows, rows: total, dimension: dimension))
    let previousThreads = BLAS.shareThreads(threads, among: workers)
    defer { BLAS.setThreadCount(previousThreads) }
    var partials = [[TopK]](repeating: [], count: workers)
    probes.values.withUnsafeBufferPointer { probeValues in
      bias.withUnsafeBufferPointer { bias in
        partials.withUnsafeMutableBufferPointer { partials in
          let partials = partials
          guard let probeBase = probeValues.baseAddress, let biasBase = bias.baseAddress else {
            return  // no probes or no rows: nothing to select
          }
          Parallel.forEachChunk(of: splitProbes ? probes.rows : blocks.count, count: workers) {
            worker, range in
            let probeRange = splitProbes ? range : 0..<probes.rows
            let blockRange = splitProbes ? 0..<blocks.count : range
            partials[worker] = scan(
              probes: probeBase, probeRange: probeRange, blockRange: blockRange, k: k,
              bias: biasBase, offsets: offsets, shape: shape)
          }
        }
      }
    }
    if splitProbes { return partials.flatMap { $0 } }
    guard !blocks.isEmpty else { return Array(repeating: TopK(k: k), count: probes.rows) }
    var merged = partials[0]
    for partial in partials.dropFirst() {
      for probe in merged.indices { merged[probe].merge(partial[probe]) }
    }
    return merged
  }

  /// Selects neighbours for `probeRange` among the rows of `blockRange`, one probe tile at a time,
  /// with products in the orientation `shape` names.
  private func scan(
    probes: UnsafePointer<Float>, probeRange: Range<Int>, blockRange: Range<Int>, k: Int,
    bias: UnsafePointer<Float>, offsets: [Int], shape: ScanShape
  ) -> [TopK] {
    // Distance = bias_j + scale · (probe · row_j): bias is ‖row‖² (l2) or 1 (cosine), +∞ when deleted.
    let scale: Float = metric == .l2 ? -2 : -1
    let maxRows = blocks[blockRange].map(\.rowCount).max() ?? 0
    let tileSize = min(shape.probeTile, probeRange.count)
    let products = UnsafeMutablePointer<Float>.allocate(capacity: max(1, tileSize * maxRows))
    defer { products.deallocate() }
    // Per probe of the tile, its selection's threshold (the rows-by-probes scan reads eight).
    let thresholds = UnsafeMutablePointer<Float>.allocate(capacity: max(1, tileSize))
    defer { thresholds.deallocate() }
    var selections = [TopK](repeating: TopK(k: k), count: probeRange.count)
    var tileStart = probeRange.lowerBound
    while tileStart < probeRange.upperBound {
      let tileEnd = min(tileStart + tileSize, probeRange.upperBound)
      let tileCount = tileEnd - tileStart
      let first = tileStart - probeRange.lowerBound
      for position in 0..<tileCount {
        thresholds[position] = selections[first + position].threshold
      }
      for blockIndex in blockRange {
        let block = blocks[blockIndex]
        switch shape.orientation {
        case .probesByRows:
          BLAS.gemm(
            transposeB: true, m: tileCount, n: block.rowCount, k: dimension,
            a: probes + tileStart * dimension, lda: dimension,
            b: block.values, ldb: dimension, c: products, ldc: block.rowCount)
          for probe in tileStart..<tileEnd {
            Self.scan(
              products: products + (probe - tileStart) * block.rowCount, count: block.rowCount,
              bias: bias + offsets[blockIndex], scale: scale, firstID: block.firstID,
              into: &selections[probe - probeRange.lowerBound])
          }
        case .rowsByProbes:
          BLAS.gemm(
            transposeB: true, m: block.rowCount, n: tileCount, k: dimension,
            a: block.values, lda: dimension, b: probes + tileStart * dimension, ldb: dimension,
            c: products, ldc: tileCount)
          selections.withUnsafeMutableBufferPointer { selections in
            let tileSelections = UnsafeMutableBufferPointer(
              rebasing: selections[first..<(first + tileCount)])
            for row in 0..<block.rowCount {
              let rowBias = bias[offsets[blockIndex] + row]
              guard rowBias < .infinity else { continue }
              Self.scan(
                row: products + row * tileCount, bias: rowBias, scale: scale,
                id: block.firstID + UInt64(row), thresholds: thresholds, into: tileSelections)
            }
          }
        }
      }
      tileStart = tileEnd
    }
    return selections
  }

  /// Offers one base row's distances to every probe of a tile, eight probes at a time against
  /// their thresholds (kept in `thresholds`, one per selection).
  @inline(__always)
  private static func scan(
    row products: UnsafePointer<Float>, bias: Float, scale: Float, id: UInt64,
    thresholds: UnsafeMutablePointer<Float>, into selections: UnsafeMutableBufferPointer<TopK>
  ) {
    let count = selections.count
    let biasVector = SIMD8<Float>(repeating: bias)
    let scaleVector = SIMD8<Float>(repeating: scale)
    let rawProducts = UnsafeRawPointer(products)
    let rawThresholds = UnsafeRawPointer(thresholds)
    var probe = 0
    @inline(__always) func offer(_ position: Int, _ distance: Float) {
      selections[position].insert(id: id, distance: distance)
      thresholds[position] = selections[position].threshold
    }
    while probe + 8 <= count {
      let distances =
        biasVector
        + scaleVector * rawProducts.loadUnaligned(fromByteOffset: probe * 4, as: SIMD8<Float>.self)
      let limits = rawThresholds.loadUnaligned(fromByteOffset: probe * 4, as: SIMD8<Float>.self)
      if any(distances .< limits) {
        for lane in 0..<8 where distances[lane] < thresholds[probe + lane] {
          offer(probe + lane, distances[lane])
        }
      }
      probe += 8
    }
    while probe < count {
      let distance = bias + scale * products[probe]
      if distance < thresholds[probe] { offer(probe, distance) }
      probe += 1
    }
  }

  /// Offers one probe's distances to its selection, eight at a time against the threshold.
  @inline(__always)
  private static func scan(
    products: UnsafePointer<Float>, count: Int, bias: UnsafePointer<Float>, scale: Float,
    firstID: UInt64, into selection: inout TopK
  ) {
    var threshold = selection.threshold
    let scaleVector = SIMD8<Float>(repeating: scale)
    var index = 0
    let rawProducts = UnsafeRawPointer(products)
    let rawBias = UnsafeRawPointer(bias)
    while index + 8 <= count {
      let distances =
        rawBias.loadUnaligned(fromByteOffset: index * 4, as: SIMD8<Float>.self)
        + scaleVector * rawProducts.loadUnaligned(fromByteOffset: index * 4, as: SIMD8<Float>.self)
      if any(distances .< SIMD8<Float>(repeating: threshold)) {
        for lane in 0..<8 where distances[lane] < threshold {
          selection.insert(id: firstID + UInt64(index + lane), distance: distances[lane])
          threshold = selection.threshold
        }
      }
      index += 8
    }
    while index < count {
      let distance = bias[index] + scale * products[index]
      if distance < threshold {
        selection.insert(id: firstID + UInt64(index), distance: distance)
        threshold = selection.threshold
      }
      index += 1
    }
  }

  /// Per base row: ‖row‖² for l2, 1 for cosine; +∞ for deleted rows so they never qualify.
  /// Per row: ‖row‖² (l2) or 1 (cosine), +∞ for a deleted row or one the mask leaves out, so
  /// that the scan never selects it.
  private func rowBiases(allowed: IDMask?) -> [Float] {
    let total = blocks.reduce(0) { $0 + $1.rowCount }
    var bias = [Float](repeating: 0, count: total)
    var offsets: [Int] = []
    var running = 0
    for block in blocks {
      offsets.append(running)
      running += block.rowCount
    }
    let dimension = self.dimension
    let metric = self.metric
    bias.withUnsafeMutableBufferPointer { bias in
      let bias = bias
      Parallel.forEachChunk(of: blocks.count, count: threads) { _, blockRange in
        for blockIndex in blockRange {
          let block = blocks[blockIndex]
          for index in 0..<block.rowCount {
            let slot = offsets[blockIndex] + index
            if block.isDeleted(index)
              || allowed.map({ !$0.contains(block.firstID + UInt64(index)) }) ?? false
            {
              bias[slot] = .infinity
            } else if metric == .l2 {
              bias[slot] = Vectors.squaredNorm(
                UnsafeBufferPointer(start: block.values + index * dimension, count: dimension))
            } else {
              bias[slot] = 1
            }
          }
        }
      }
    }
    return bias
  }
}
