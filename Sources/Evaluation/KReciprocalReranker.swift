import VectorMath

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Which distances between l2 embeddings re-ranking starts from.
public enum RerankingDistance: String, Sendable, Equatable, CaseIterable {
  /// Euclidean distances, as the reference `re_ranking` expects them (it squares them itself).
  case euclidean
  /// Squared Euclidean distances, as torchreid's engine passes them (so the reference squares
  /// squared distances: it works with d⁴).
  case squared
}

/// k-reciprocal re-ranking's settings (Zhong et al., CVPR 2017); the defaults are the paper's.
public struct RerankingParameters: Sendable, Equatable {
  /// Neighbours per k-reciprocal set (the sets are built from the k1 + 1 nearest, self included).
  public var k1: Int
  /// Neighbours averaged by local query expansion (self included; 1 turns it off).
  public var k2: Int
  /// λ: the original distance's share of the final distance.
  public var lambda: Double
  /// For l2 embeddings, the distances re-ranking starts from (the reference code's Euclidean by
  /// default; `squared` reproduces torchreid's engine). Cosine takes only `euclidean` (1 − cos).
  public var distance: RerankingDistance

  /// Creates settings.
  ///
  /// - Parameters:
  ///   - k1: k-reciprocal neighbours.
  ///   - k2: query-expansion neighbours.
  ///   - lambda: the original distance's weight.
  ///   - distance: the distances re-ranking starts from, for l2 embeddings.
  public init(
    k1: Int = 20, k2: Int = 6, lambda: Double = 0.3, distance: RerankingDistance = .euclidean
  ) {
    self.k1 = k1
    self.k2 = k2
    self.lambda = lambda
    self.distance = distance
  }

  /// A problem with the settings, or `nil`.
  public var problem: String? { invalidSetting.map { "\($0.name) \($0.requirement)" } }

  /// The first setting out of range, by name (`k1`, `k2`, `lambda`), with what it must be, so
  /// that a front end can name it its own way; `nil` when all are valid.
  public var invalidSetting: (name: String, requirement: String)? {
    if k1 < 1 { return ("k1", "must be at least 1, not \(k1)") }
    if k2 < 1 { return ("k2", "must be at least 1, not \(k2)") }
    if !(0...1).contains(lambda) { return ("lambda", "must be in [0, 1], not \(lambda)") }
    return nil
  }

  /// The expansion's neighbourhood, round(k1 / 2) with halves to even (numpy's `around`).
  var halfK1: Int { Int((Double(k1) / 2).rounded(.toNearestOrEven)) }

  /// Neighbours kept per item: enough for the k-reciprocal sets and for query expansion.
  public var neighbourCount: Int { max(k1 + 1, k2) }
}

/// Rows of a sparse matrix, compressed: row r's entries are `columns[offsets[r]..<offsets[r + 1]]`
/// (ascending) with `values` at the same positions.
struct SparseRows: Sendable {
  var offsets: [Int] = [0]
  var columns: [Int32] = []
  var values: [Float] = []

  /// Rows held.
  var rowCount: Int { offsets.count - 1 }

  /// Appends a row.
  mutating func append(columns rowColumns: [Int32], values rowValues: [Float]) {
    columns += rowColumns
    values += rowValues
    offsets.append(columns.count)
  }

  /// Appends the rows of another block (rows continue after this one's).
  mutating func append(_ other: SparseRows) {
    let base = columns.count
    columns += other.columns
    values += other.values
    offsets += other.offsets.dropFirst().map { $0 + base }
  }

  /// The transpose restricted to rows `rows` of this matrix, as rows indexed by this matrix's
  /// columns (`0..<columnCount`), each listing `row − rows.lowerBound` in ascending order.
  func transposed(rows: Range<Int>, columnCount: Int) -> SparseRows {
    var counts = [Int](repeating: 0, count: columnCount + 1)
    for row in rows {
      for entry in offsets[row]..<offsets[row + 1] { counts[Int(columns[entry]) + 1] += 1 }
    }
    for column in 0..<columnCount { counts[column + 1] += counts[column] }
    var result = SparseRows()
    result.offsets = counts
    result.columns = [Int32](repeating: 0, count: counts[columnCount])
    result.values = [Float](repeating: 0, count: counts[columnCount])
    var next = counts
    for row in rows {
      for entry in offsets[row]..<offsets[row + 1] {
        let column = Int(columns[entry])
        result.columns[next[column]] = Int32(row - rows.lowerBound)
        result.values[next[column]] = values[entry]
        next[column] += 1
      }
    }
    return result
  }
}

/// k-reciprocal re-ranking (Zhong et al., CVPR 2017) with the reference implementation's
/// conventions (torchreid's `re_ranking`, from the authors' code), without any dense
/// (queries + gallery)² matrix.
///
/// The reference takes Euclidean distances between all queries and gallery items, squares them
/// and divides each item's row by its largest value; ranks every item's neighbours among all
/// items (queries included); builds each item's k-reciprocal set from its k1 + 1 nearest and
/// expands it by the round(k1/2)-reciprocal sets of its members that share more than two thirds
/// of their items with it; encodes the set as weights e^(−d) normalised to sum 1; averages the
/// encodings of each item's k2 nearest (local query expansion); and blends the Jaccard distance
/// 1 − Σ min / (2 − Σ min) with the original: (1 − λ) · Jaccard + λ · original. For the cosine
/// metric the distance squared is 1 − cos.
///
/// Here the neighbour lists and row maxima come from one tiled BLAS pass (memory per worker: one
/// tile), the encodings are sparse rows (O(k1²) entries at most, far fewer in practice), the
/// Jaccard sums run through an inverted list per item over the gallery's encodings, and a query's
/// final distances are made one row at a time from its plain distance row, as the evaluator
/// computes it.
public struct KReciprocalReranker: Sendable {
  /// The settings.
  public let parameters: RerankingParameters
  /// The distance.
  public let metric: DistanceMetric
  /// Queries.
  public let queryCount: Int
  /// Gallery items.
  public let galleryCount: Int
  /// 1 / the largest squared distance from each query to any item.
  private let queryInverseMaxima: [Float]
  /// Each query's expanded encoding, over all items (queries first).
  private let queryEncodings: SparseRows
  /// Per item: the gallery items whose expanded encoding gives it weight, and that weight.
  private let galleryLists: SparseRows

  /// The most items (queries and gallery together) one reranker takes: it numbers them with
  /// 32-bit integers, which halves the memory of its neighbour lists and encodings.
  public static let maximumItems = Int(Int32.max)

  /// Builds the encodings of every query and gallery item.
  ///
  /// - Parameters:
  ///   - queries: one query per row (unit length for cosine).
  ///   - gallery: one gallery item per row, same columns.
  ///   - metric: the distance.
  ///   - parameters: k1, k2 and λ.
  ///   - threads: worker threads.
  ///   - progress: receives a line per stage.
  /// - Complexity: O((queries + gallery)² · dimension) time in the neighbour pass; memory
  ///   O((queries + gallery) · k1²) at most.
  public init(
    queries: Matrix, gallery: Matrix, metric: DistanceMetric, parameters: RerankingParameters,
    threads: Int = Parallel.processorCount, progress: (String) -> Void = { _ in }
  ) {
    let (items, width) = Self.items(queries, gallery, metric: metric, parameters: parameters)
    progress(
      "re-ranking: nearest \(width) of \(items.count) items for each (\(parameters.k1)-reciprocal sets)"
    )
    let (neighbours, maxima) = items.nearestNeighbours(count: width, threads: threads)
    self.init(
      items: items, neighbours: neighbours, width: width, maxima: maxima, parameters: parameters,
      threads: threads, progress: progress)
  }

  /// Builds the encodings from gallery neighbours an index found, instead of the exact pass
  /// over every pair of items: each item's nearest among the queries are exact (a tiled pass of
  /// items × queries), among the gallery they are the index's candidates, and its largest
  /// distance is taken over the queries, its candidates and an even sample of up to 4,096 gallery
  /// items (so it may fall short of the true largest, which only scales the original term).
  ///
  /// - Parameters:
  ///   - queries: one query per row (unit length for cosine).
  ///   - gallery: one gallery item per row.
  ///   - metric: the distance.
  ///   - parameters: k1, k2 and λ.
  ///   - galleryCandidates: per item (queries first, then gallery), gallery rows an index
  ///     returned as its nearest (at least k1 + 1 of them where the gallery has that many).
  ///   - threads: worker threads.
  ///   - progress: receives a line per stage.
  public init(
    queries: Matrix, gallery: Matrix, metric: DistanceMetric, parameters: RerankingParameters,
    galleryCandidates: [[Int]], threads: Int = Parallel.processorCount,
    progress: (String) -> Void = { _ in }
  ) {
    let (items, width) = Self.items(queries, gallery, metric: metric, parameters: parameters)
    precondition(galleryCandidates.count == items.count, "one candidate list per item")
    progress("re-ranking: nearest \(width) items for each, from the index's candidates")
    let (neighbours, maxima) = items.nearestNeighbours(
      count: width, galleryCandidates: galleryCandidates, threads: threads)
    self.init(
      items: items, neighbours: neighbours, width: width, maxima: maxima, parameters: parameters,
      threads: threads, progress: progress)
  }

  /// The items both initialisers re-rank (settings and shapes checked) and how many neighbours
  /// each keeps.
  private static func items(
    _ queries: Matrix, _ gallery: Matrix, metric: DistanceMetric, parameters: RerankingParameters
  ) -> (ItemVectors, width: Int) {
    precondition(parameters.problem == nil, parameters.problem ?? "")
    precondition(queries.columns == gallery.columns, "query and gallery dimensions differ")
    precondition(queries.rows + gallery.rows <= maximumItems, "more items than maximumItems")
    let items = ItemVectors(
      queries: queries, gallery: gallery, metric: metric,
      squaresSquared: metric == .l2 && parameters.distance == .squared)
    return (items, min(parameters.neighbourCount, items.count))
  }

  /// The encodings from neighbour lists and row maxima.
  private init(
    items: ItemVectors, neighbours: [Int32], width: Int, maxima: [Float],
    parameters: RerankingParameters, threads: Int, progress: (String) -> Void
  ) {
    self.parameters = parameters
    metric = items.metric
    queryCount = items.queries.rows
    galleryCount = items.gallery.rows
    let total = items.count
    progress("re-ranking: k-reciprocal encodings")
    let encodings = Self.encodings(
      items: items, neighbours: neighbours, width: width, maxima: maxima, parameters: parameters,
      threads: threads)
    progress("re-ranking: query expansion and inverted lists")
    let expanded =
      parameters.k2 == 1
      ? encodings
      : Self.expand(
        encodings, neighbours: neighbours, width: width, k2: min(parameters.k2, width),
        itemCount: total, threads: threads)
    var queryEncodings = SparseRows()
    queryEncodings.offsets = Array(expanded.offsets[0...queryCount])
    let queryEntries = expanded.offsets[queryCount]
    queryEncodings.columns = Array(expanded.columns[0..<queryEntries])
    queryEncodings.values = Array(expanded.values[0..<queryEntries])
    self.queryEncodings = queryEncodings
    galleryLists = expanded.transposed(rows: queryCount..<total, columnCount: total)
    queryInverseMaxima = (0..<queryCount).map { maxima[$0] > 0 ? 1 / maxima[$0] : 0 }
  }

  /// Per-worker working memory for ``rerank(query:distances:scratch:)``.
  public struct Scratch: Sendable {
    var sums: [Float]
    var touched: [Int32] = []

    /// Scratch for a gallery of `galleryCount` items.
    ///
    /// - Parameter galleryCount: gallery items.
    public init(galleryCount: Int) { sums = [Float](repeating: 0, count: galleryCount) }
  }

  /// Replaces query `query`'s distances to every gallery item (squared L2, or 1 − cos, as the
  /// evaluator's tiles hold them) by the re-ranked distances.
  ///
  /// - Parameters:
  ///   - query: the query's row.
  ///   - distances: its distance to every gallery item, in gallery order; overwritten.
  ///   - scratch: working memory (one per worker).
  public func rerank(
    query: Int, distances: UnsafeMutableBufferPointer<Float>, scratch: inout Scratch
  ) {
    precondition(distances.count == galleryCount, "one distance per gallery item")
    accumulate(query: query, scratch: &scratch)
    for index in 0..<galleryCount {
      distances[index] = blend(
        distance: distances[index], shared: scratch.sums[index], query: query)
    }
    clear(&scratch)
  }

  /// Re-ranked distances of some gallery items only (an index's candidates).
  ///
  /// - Parameters:
  ///   - query: the query's row.
  ///   - items: gallery rows.
  ///   - distances: their plain distances (squared L2, or 1 − cos), in the same order;
  ///     overwritten with the re-ranked ones.
  ///   - scratch: working memory (one per worker).
  public func rerank(
    query: Int, items: [Int], distances: inout [Float], scratch: inout Scratch
  ) {
    precondition(items.count == distances.count, "one distance per item")
    accumulate(query: query, scratch: &scratch)
    for (position, item) in items.enumerated() {
      distances[position] = blend(
        distance: distances[position], shared: scratch.sums[item], query: query)
    }
    clear(&scratch)
  }

  /// Σ_k min(V_q[k], V_g[k]) into `scratch.sums` for every gallery item g sharing an item k with
  /// the query.
  private func accumulate(query: Int, scratch: inout Scratch) {
    for entry in queryEncodings.offsets[query]..<queryEncodings.offsets[query + 1] {
      let item = Int(queryEncodings.columns[entry])
      let weight = queryEncodings.values[entry]
      for listed in galleryLists.offsets[item]..<galleryLists.offsets[item + 1] {
        let galleryItem = Int(galleryLists.columns[listed])
        if scratch.sums[galleryItem] == 0 { scratch.touched.append(Int32(galleryItem)) }
        scratch.sums[galleryItem] += min(weight, galleryLists.values[listed])
      }
    }
  }

  private func clear(_ scratch: inout Scratch) {
    for galleryItem in scratch.touched { scratch.sums[Int(galleryItem)] = 0 }
    scratch.touched.removeAll(keepingCapacity: true)
  }

  /// (1 − λ) · Jaccard + λ · original, from a plain distance and the shared sum.
  @inline(__always)
  private func blend(distance: Float, shared: Float, query: Int) -> Float {
    // The evaluator's distance is squared L2 (1 − cos for cosine): the reference's original
    // distance is its square (cosine, and l2 started from squared distances) or itself.
    let squared =
      metric == .cosine || parameters.distance == .squared ? distance * distance : distance
    let original = squared * queryInverseMaxima[query]
    let jaccard = 1 - shared / (2 - shared)
    let lambda = Float(parameters.lambda)
    return jaccard * (1 - lambda) + original * lambda
  }

  /// Each item's k-reciprocal encoding (its expanded k-reciprocal set, weighted e^(−d / max)).
  private static func encodings(
    items: ItemVectors, neighbours: [Int32], width: Int, maxima: [Float],
    parameters: RerankingParameters, threads: Int
  ) -> SparseRows {
    let total = items.count
    let forwardCount = min(parameters.k1 + 1, width)
    let halfCount = min(parameters.halfK1 + 1, width)
    /// Whether `item` is among the first `depth` neighbours of `other`.
    func lists(_ item: Int, among other: Int, depth: Int) -> Bool {
      let base = other * width
      for position in 0..<depth where Int(neighbours[base + position]) == item { return true }
      return false
    }
    /// The members of `item`'s first `depth` neighbours that have `item` among theirs.
    func reciprocal(_ item: Int, depth: Int) -> [Int] {
      (0..<depth).compactMap { position in
        let other = Int(neighbours[item * width + position])
        return lists(item, among: other, depth: depth) ? other : nil
      }
    }
    let workers = max(1, min(threads, total / 64))
    var blocks = [SparseRows](repeating: SparseRows(), count: workers)
    blocks.withUnsafeMutableBufferPointer { blocks in
      let blocks = UncheckedSendable(blocks)
      Parallel.forEachChunk(of: total, count: workers) { worker, range in
        var block = SparseRows()
        for item in range {
          let reciprocalSet = reciprocal(item, depth: forwardCount)
          var expansion = reciprocalSet
          for candidate in reciprocalSet {
            let candidateSet = reciprocal(candidate, depth: halfCount)
            let shared = candidateSet.filter { reciprocalSet.contains($0) }.count
            if Double(shared) > 2.0 / 3.0 * Double(candidateSet.count) {
              expansion += candidateSet
            }
          }
          let members = Array(Set(expansion)).sorted()
          let inverseMaximum: Float = maxima[item] > 0 ? 1 / maxima[item] : 0
          var weights = members.map { expf(-items.squaredDistance(item, $0) * inverseMaximum) }
          let sum = weights.reduce(0, +)
          var kept: [Int32] = []
          var keptWeights: [Float] = []
          for (position, member) in members.enumerated() {
            weights[position] /= sum
            // An exponential that underflowed to 0 is no entry (the reference keeps non-zeros).
            if weights[position] > 0 {
              kept.append(Int32(member))
              keptWeights.append(weights[position])
            }
          }
          block.append(columns: kept, values: keptWeights)
        }
        blocks.value[worker] = block
      }
    }
    var result = SparseRows()
    for block in blocks { result.append(block) }
    return result
  }

  /// Local query expansion: each item's encoding becomes the mean of its `k2` nearest items'.
  private static func expand(
    _ encodings: SparseRows, neighbours: [Int32], width: Int, k2: Int, itemCount: Int,
    threads: Int
  ) -> SparseRows {
    let workers = max(1, min(threads, itemCount / 64))
    var blocks = [SparseRows](repeating: SparseRows(), count: workers)
    blocks.withUnsafeMutableBufferPointer { blocks in
      let blocks = UncheckedSendable(blocks)
      Parallel.forEachChunk(of: itemCount, count: workers) { worker, range in
        var block = SparseRows()
        var sums = [Float](repeating: 0, count: itemCount)
        var seen = [Bool](repeating: false, count: itemCount)
        var touched: [Int32] = []
        let share = Float(k2)
        for item in range {
          for position in 0..<k2 {
            let neighbour = Int(neighbours[item * width + position])
            for entry in encodings.offsets[neighbour]..<encodings.offsets[neighbour + 1] {
              let column = Int(encodings.columns[entry])
              if !seen[column] {
                seen[column] = true
                touched.append(Int32(column))
              }
              sums[column] += encodings.values[entry]
            }
          }
          touched.sort()
          var values: [Float] = []
          values.reserveCapacity(touched.count)
          for column in touched {
            values.append(sums[Int(column)] / share)
            sums[Int(column)] = 0
            seen[Int(column)] = false
          }
          block.append(columns: touched, values: values)
          touched.removeAll(keepingCapacity: true)
        }
        blocks.value[worker] = block
      }
    }
    var result = SparseRows()
    for block in blocks { result.append(block) }
    return result
  }
}

/// Queries then gallery items as one numbered set of vectors, with the squared distances the
/// re-ranking uses (squared L2, or (1 − cos)² for unit vectors).
private struct ItemVectors: Sendable {
  let queries: Matrix
  let gallery: Matrix
  let metric: DistanceMetric
  /// Whether the l2 distances are squared once more (re-ranking started from squared
  /// distances, as torchreid's engine does).
  let squaresSquared: Bool
  let norms: [Float]

  init(queries: Matrix, gallery: Matrix, metric: DistanceMetric, squaresSquared: Bool) {
    self.queries = queries
    self.gallery = gallery
    self.metric = metric
    self.squaresSquared = squaresSquared
    norms = [queries, gallery].flatMap { matrix in
      matrix.values.withUnsafeBufferPointer { values in
        (0..<matrix.rows).map { row in
          Vectors.squaredNorm(
            UnsafeBufferPointer(
              rebasing: values[(row * matrix.columns)..<((row + 1) * matrix.columns)]))
        }
      }
    }
  }

  var count: Int { queries.rows + gallery.rows }
  var dimension: Int { queries.columns }

  /// The matrix holding `item` and its row there.
  func location(_ item: Int) -> (Matrix, Int) {
    item < queries.rows ? (queries, item) : (gallery, item - queries.rows)
  }

  /// The re-ranking's squared distance between two items, computed as the tiles compute it.
  func squaredDistance(_ first: Int, _ second: Int) -> Float {
    let (firstMatrix, firstRow) = location(first)
    let (secondMatrix, secondRow) = location(second)
    let columns = dimension
    let dot = firstMatrix.values.withUnsafeBufferPointer { a in
      secondMatrix.values.withUnsafeBufferPointer { b in
        Vectors.dot(
          UnsafeBufferPointer(rebasing: a[(firstRow * columns)..<((firstRow + 1) * columns)]),
          UnsafeBufferPointer(rebasing: b[(secondRow * columns)..<((secondRow + 1) * columns)]))
      }
    }
    return squared(dot: dot, first, second)
  }

  func squared(dot: Float, _ first: Int, _ second: Int) -> Float {
    switch metric {
    case .l2:
      let squared = max(0, norms[first] + norms[second] - 2 * dot)
      return squaresSquared ? squared * squared : squared
    case .cosine:
      let distance = 1 - dot
      return distance * distance
    }
  }

  /// Every item's `count` nearest items (itself included; ties by smaller number) and its
  /// largest squared distance to any item, from tiles of item × item products.
  func nearestNeighbours(count: Int, threads: Int) -> (neighbours: [Int32], maxima: [Float]) {
    let total = self.count
    let columnTile = 8192
    return selectByBlocks(count: count, threads: threads, tileColumns: columnTile) {
      rows, tile in
      var selections = rows.map { _ in TopK(k: count) }
      var largest = [Float](repeating: 0, count: rows.count)
      var start = 0
      while start < total {
        let columns = start..<min(start + columnTile, total)
        products(rows: rows, columns: columns, into: &tile)
        for (offset, row) in rows.enumerated() {
          var selection = selections[offset]
          var rowLargest = largest[offset]
          let base = offset * columns.count
          for (position, column) in columns.enumerated() {
            let distance = squared(dot: tile[base + position], row, column)
            if distance > rowLargest { rowLargest = distance }
            if distance <= selection.threshold {
              selection.insert(id: UInt64(column), distance: distance)
            }
          }
          selections[offset] = selection
          largest[offset] = rowLargest
        }
        start = columns.upperBound
      }
      return Array(zip(selections, largest))
    }
  }

  /// Every item's `count` nearest items from exact distances to the queries and to the given
  /// gallery candidates, and its largest squared distance over the queries, its candidates and
  /// an even sample of up to 4,096 gallery items.
  func nearestNeighbours(count: Int, galleryCandidates: [[Int]], threads: Int) -> (
    neighbours: [Int32], maxima: [Float]
  ) {
    let queryCount = queries.rows
    let sample = Array(stride(from: 0, to: gallery.rows, by: max(1, gallery.rows / 4096)))
    return selectByBlocks(count: count, threads: threads, tileColumns: max(queryCount, 1)) {
      rows, tile in
      if queryCount > 0 { products(rows: rows, columns: 0..<queryCount, into: &tile) }
      return rows.enumerated().map { offset, row in
        var selection = TopK(k: count)
        var largest: Float = 0
        func offer(_ item: Int, _ distance: Float) {
          largest = max(largest, distance)
          if distance <= selection.threshold {
            selection.insert(id: UInt64(item), distance: distance)
          }
        }
        for query in 0..<queryCount {
          offer(query, squared(dot: tile[offset * queryCount + query], row, query))
        }
        for galleryRow in galleryCandidates[row] {
          offer(queryCount + galleryRow, squaredDistance(row, queryCount + galleryRow))
        }
        for galleryRow in sample {
          largest = max(largest, squaredDistance(row, queryCount + galleryRow))
        }
        return (selection, largest)
      }
    }
  }

  /// Runs `select` over blocks of 128 items in parallel (each worker with a tile of
  /// `128 × tileColumns` floats) and stores each item's selection, closest first (padded with
  /// the item itself when it holds fewer than `count`), and largest distance.
  private func selectByBlocks(
    count: Int, threads: Int, tileColumns: Int,
    _ select: (_ rows: Range<Int>, _ tile: inout [Float]) -> [(TopK, Float)]
  ) -> (neighbours: [Int32], maxima: [Float]) {
    let total = self.count
    let rowTile = 128
    var neighbours = [Int32](repeating: 0, count: total * count)
    var maxima = [Float](repeating: 0, count: total)
    let blocks = (total + rowTile - 1) / rowTile
    let workers = max(1, min(threads, blocks))
    let previousThreads = BLAS.shareThreads(threads, among: workers)
    defer { BLAS.setThreadCount(previousThreads) }
    neighbours.withUnsafeMutableBufferPointer { neighbours in
      maxima.withUnsafeMutableBufferPointer { maxima in
        let output = UncheckedSendable((neighbours, maxima))
        Parallel.forEachChunk(of: blocks, count: workers) { _, blockRange in
          var tile = [Float](repeating: 0, count: rowTile * tileColumns)
          for block in blockRange {
            let rows = (block * rowTile)..<min((block + 1) * rowTile, total)
            for (row, (selection, largest)) in zip(rows, select(rows, &tile)) {
              let sorted = selection.sorted()
              for position in 0..<count {
                output.value.0[row * count + position] =
                  position < sorted.count ? Int32(sorted[position].id) : Int32(row)
              }
              output.value.1[row] = largest
            }
          }
        }
      }
    }
    return (neighbours, maxima)
  }

  /// Dot products of items `rows` with items `columns` (row-major, `rows × columns`), each a
  /// contiguous run of queries and gallery items.
  private func products(rows: Range<Int>, columns: Range<Int>, into tile: inout [Float]) {
    /// A run of items split where the queries end and the gallery starts.
    func parts(_ range: Range<Int>) -> [Range<Int>] {
      let split = min(max(queries.rows, range.lowerBound), range.upperBound)
      return [range.lowerBound..<split, split..<range.upperBound].filter { !$0.isEmpty }
    }
    let columnParts = parts(columns)
    let rowParts = parts(rows)
    let width = columns.count
    let dimension = self.dimension
    tile.withUnsafeMutableBufferPointer { tile in
      guard let tileBase = tile.baseAddress else { return }
      for rowPart in rowParts {
        let (rowMatrix, firstRow) = location(rowPart.lowerBound)
        for columnPart in columnParts {
          let (columnMatrix, firstColumn) = location(columnPart.lowerBound)
          rowMatrix.values.withUnsafeBufferPointer { a in
            columnMatrix.values.withUnsafeBufferPointer { b in
              guard let aBase = a.baseAddress, let bBase = b.baseAddress else { return }
              BLAS.gemm(
                transposeB: true, m: rowPart.count, n: columnPart.count, k: dimension,
                a: aBase + firstRow * dimension, lda: dimension,
                b: bBase + firstColumn * dimension, ldb: dimension,
                c: tileBase + (rowPart.lowerBound - rows.lowerBound) * width
                  + (columnPart.lowerBound - columns.lowerBound), ldc: width)
            }
          }
        }
      }
    }
  }
}
