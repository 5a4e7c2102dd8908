import HDF5
import Plumbing
import VectorIO
import VectorMath

/// A data set in ann-benchmarks' HDF5 layout: datasets `train` (the base vectors), `test` (the
/// queries), `neighbors` (each query's true nearest train rows, closest first) and `distances`
/// (theirs), and the root attribute `distance` (`euclidean` or `angular`).
public struct ANNBenchmarksFile {
  /// The file's path.
  public let path: String
  /// The `distance` attribute as written, if the file has one.
  public let distance: String?
  private let file: HDF5File

  /// The true neighbours of some queries, as the file records them.
  public struct GroundTruth: Sendable {
    /// Per query, the train rows of its `k` nearest neighbours, closest first.
    public var neighbors: [[Int]]
    /// Per query, their distances in the file's units (Euclidean, or 1 − cosine for angular).
    public var distances: [[Double]]
  }

  /// Opens a file and reads its `distance` attribute.
  ///
  /// - Throws: `VectorIOError` naming the file when it is not HDF5 or the attribute is not a
  ///   string.
  public init(path: String) throws(VectorIOError) {
    self.path = path
    do throws(HDF5Error) {
      file = try HDF5File(path: path)
      distance = try file.stringAttribute("distance")
    } catch {
      throw VectorIOError(path: path, error.description)
    }
  }

  /// The store metric the `distance` attribute names (`euclidean` → l2, `angular` → cosine), or
  /// `nil` when the file has no such attribute.
  ///
  /// - Throws: `VectorIOError` for a distance that cannot be searched (`jaccard`, `hamming`).
  public func metric() throws(VectorIOError) -> DistanceMetric? {
    guard let distance else { return nil }
    switch distance.lowercased() {
    case "euclidean", "l2": return .l2
    case "angular", "cosine": return .cosine
    default:
      throw VectorIOError(
        path: path,
        "its distance attribute is '\(distance)'; only euclidean and angular data can be searched"
      )
    }
  }

  /// The store metric declared by the HDF5 files among `paths`, when they declare one and agree.
  ///
  /// - Throws: `VectorIOError` for an unreadable file or an unsupported distance,
  ///   ``TripIndexError`` when two files declare different metrics.
  static func declaredMetric(of paths: [String]) throws -> DistanceMetric? {
    var found: (metric: DistanceMetric, path: String)?
    for path in paths where VectorFileFormat(path: path) == .hdf5 {
      guard let metric = try ANNBenchmarksFile(path: path).metric() else { continue }
      if let found, found.metric != metric {
        throw TripIndexError(
          "\(found.path) declares the \(found.metric.rawValue) metric and \(path) \(metric.rawValue); one store has one metric (give \(option: .metric))"
        )
      }
      found = found ?? (metric, path)
    }
    return found?.metric
  }

  /// Reads the first `k` true neighbours and distances of the first `queries` test vectors.
  ///
  /// - Parameters:
  ///   - queries: how many test vectors (rows of `neighbors` and `distances`).
  ///   - k: neighbours per query.
  ///   - trainRows: the number of train vectors (every neighbour must be one of them).
  /// - Throws: `VectorIOError` naming the dataset (and row) for a missing dataset, a shape
  ///   that does not fit, or a neighbour outside `train`.
  public func groundTruth(queries: Int, k: Int, trainRows: Int) throws(VectorIOError)
    -> GroundTruth
  {
    let neighbors: [Int64] = try matrix("neighbors", rows: queries, k: k, integer: true)
    let distances: [Double] = try matrix("distances", rows: queries, k: k, integer: false)
    var truth = GroundTruth(neighbors: [], distances: [])
    truth.neighbors.reserveCapacity(queries)
    for query in 0..<queries {
      let row = neighbors[(query * k)..<((query + 1) * k)]
      if let bad = row.first(where: { $0 < 0 || $0 >= trainRows }) {
        throw VectorIOError(
          path: path, location: .datasetRow("neighbors", query),
          "neighbour \(bad) is not a row of train (0..<\(trainRows))")
      }
      let distanceRow = distances[(query * k)..<((query + 1) * k)]
      if let bad = distanceRow.first(where: { !$0.isFinite || $0 < 0 }) {
        throw VectorIOError(
          path: path, location: .datasetRow("distances", query),
          "distance \(bad) is not a finite, non-negative number")
      }
      truth.neighbors.append(row.map { Int($0) })
      truth.distances.append(Array(distanceRow))
    }
    return truth
  }

  /// The first `k` columns of the first `rows` rows of a 2-D numeric dataset.
  private func matrix<Value: HDF5Readable & Numeric>(
    _ name: String, rows: Int, k: Int, integer: Bool
  ) throws(VectorIOError) -> [Value] {
    let dataset: HDF5Dataset
    do throws(HDF5Error) {
      dataset = try file.dataset(name)
    } catch {
      throw VectorIOError(path: path, error.description)
    }
    let shape = dataset.shape
    let kindFits: Bool
    switch dataset.element {
    case .integer: kindFits = true
    case .float: kindFits = !integer
    case .string, .other: kindFits = false
    }
    guard shape.count == 2, kindFits, shape[0] >= rows, shape[1] >= k else {
      throw VectorIOError(
        path: path,
        "dataset '\(name)' is \(shape.map(String.init).joined(separator: " × ")) \(dataset.element); expected a 2-D matrix of \(integer ? "integers" : "numbers") with at least \(rows) rows (one per test vector) and \(k) columns"
      )
    }
    do throws(HDF5Error) {
      var values: [Value] = []
      values.reserveCapacity(rows * k)
      let blockRows = max(1, (1 << 20) / shape[1])
      var block = [Value](repeating: 0, count: blockRows * shape[1])
      var first = 0
      while first < rows {
        let count = min(blockRows, rows - first)
        try block.withUnsafeMutableBufferPointer { (buffer) throws(HDF5Error) in
          try dataset.readRows(first..<(first + count), into: buffer)
        }
        for row in 0..<count {
          values += block[(row * shape[1])..<(row * shape[1] + k)]
        }
        first += count
      }
      return values
    } catch {
      throw VectorIOError(path: path, error.description)
    }
  }
}
