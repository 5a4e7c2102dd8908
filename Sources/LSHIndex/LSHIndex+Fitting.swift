import CKernels
import Plumbing
import StorageBackend
import VectorMath
import VectorStore

/// Fitting an index's parameters to a sample of the data: projection, hashing, compact codes,
/// bucket width.
extension LSHIndex {
  /// The most vectors an index's parameters are fitted on unless told otherwise.
  public static let fittingSampleSize = 20_000

  /// Fits a configuration's projection, hashes and compact codes to up to `sampleSize` vectors
  /// spread evenly over a source: what a stored index and an index in memory are built from.
  ///
  /// - Parameters:
  ///   - configuration: the settings, validated here; a missing p-stable width is estimated.
  ///   - source: the vectors to index.
  ///   - sampleSize: the most vectors fitted on.
  ///   - name: the source in messages ("store PATH").
  /// - Returns: the encoder.
  /// - Throws: ``LSHError`` for bad settings, fewer than 2 vectors, or principal components
  ///   that cannot be computed.
  public static func fitEncoder(
    _ configuration: LSHConfiguration, over source: some VectorSource, sampleSize: Int,
    describedAs name: String
  ) throws -> ItemEncoder {
    let validated = try configuration.validated(forDimension: source.dimension)
    let sample = sampleVectors(source, limit: sampleSize)
    guard sample.rows >= 2 else {
      throw LSHError(.tooFewItems, "\(name) holds fewer than 2 items; nothing to index")
    }
    return try fitEncoder(validated, sample: sample, metric: source.metric, describedAs: name)
  }

  /// Fits the projection, hashes and compact codes of a configuration to a sample.
  ///
  /// - Parameters:
  ///   - configuration: validated settings; a missing p-stable width is estimated.
  ///   - sample: vectors, one per row.
  ///   - metric: the store's metric.
  ///   - name: where the sample came from, in messages ("store PATH").
  /// - Returns: the encoder.
  /// - Throws: ``LSHError`` when the principal components cannot be computed.
  static func fitEncoder(
    _ configuration: LSHConfiguration, sample: Matrix, metric: DistanceMetric,
    describedAs name: String
  ) throws -> ItemEncoder {
    var resolved = configuration
    guard let transform = DataTransform.fit(sample, components: resolved.sketchDimensions) else {
      throw LSHError("the principal components of \(name) could not be computed")
    }
    let needsProjection =
      resolved.family == .itq || (resolved.family == .pstable && resolved.bucketWidth == nil)
    let projected = needsProjection ? transform.project(sample) : nil
    if let projected, resolved.family == .pstable {
      resolved.bucketWidth = Double(
        Self.estimateWidth(projected, dimensions: resolved.hashDimensions))
    }
    let hasher = BucketHasher(drawing: resolved, projectedSample: projected)
    let model = LSHModel(
      configuration: resolved, transform: transform, hasher: hasher, metric: metric)
    return ItemEncoder(model: model, coder: fitCoder(model: model, sample: sample))
  }

  /// Compact-code ranges fitted to a sample's projections.
  static func fitCoder(model: LSHModel, sample: Matrix) -> CompactCoder {
    let unfitted = ItemEncoder(
      model: model,
      coder: CompactCoder(
        dimensions: 0, edges: [], residualStep: 1, residualSlack: 0))
    var scratch = unfitted.makeScratch()
    let width = model.configuration.sketchDimensions
    var projections: [Float] = []
    projections.reserveCapacity(sample.rows * width)
    var residuals: [Float] = []
    var norms: [Float] = []
    sample.values.withUnsafeBufferPointer { values in
      for row in 0..<sample.rows {
        let vector = UnsafeBufferPointer(
          rebasing: values[(row * sample.columns)..<((row + 1) * sample.columns)])
        residuals.append(unfitted.project(vector, into: &scratch))
        projections += scratch.projection
        var norm: Float = 0
        for (value, mean) in zip(vector, model.transform.mean) {
          norm += (value - mean) * (value - mean)
        }
        norms.append(norm.squareRoot())
      }
    }
    return CompactCoder.fit(
      projections: projections, columns: width, residuals: residuals, norms: norms,
      dimensions: width)
  }

  /// Up to `limit` live vectors spread evenly over a source, in id order.
  static func sampleVectors(_ source: some VectorSource, limit: Int) -> Matrix {
    let stride = max(1, source.count / max(limit, 1))
    var sample = Matrix(rows: 0, columns: source.dimension)
    var seen = 0
    for block in source.blocks {
      for row in 0..<block.rowCount where !block.isDeleted(row) {
        if seen % stride == 0 && sample.rows < limit {
          sample.append(
            rows: Array(
              UnsafeBufferPointer(
                start: block.values + row * source.dimension, count: source.dimension)))
        }
        seen += 1
      }
    }
    return sample
  }

  /// A p-stable width from the data: 2.5 × the 90th percentile of the distance of 200 sample
  /// points to their 10th nearest sample neighbour, in hash space (wide enough for the sparse
  /// regions, where neighbours are far; dense regions are handled by the candidate budget).
  static func estimateWidth(_ projected: Matrix, dimensions: Int) -> Float {
    let points = min(projected.rows, 200)
    var distances: [Float] = []
    for point in 0..<points {
      let row = point * projected.rows / points
      var nearest = TopK(k: min(10, projected.rows - 1))
      for other in 0..<projected.rows where other != row {
        var sum: Float = 0
        for column in 0..<dimensions {
          let difference = projected[row, column] - projected[other, column]
          sum += difference * difference
        }
        nearest.insert(id: UInt64(other), distance: sum)
      }
      if let last = nearest.sorted().last { distances.append(last.distance.squareRoot()) }
    }
    distances.sort()
    return max(distances.isEmpty ? 1 : 2.5 * distances[distances.count * 9 / 10], 1e-6)
  }
}
