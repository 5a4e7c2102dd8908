import Evaluation
import Plumbing
import VectorIO
import VectorMath

/// A whole set of items in memory — names, labels and vectors — read from a folder or file in the
/// layouts `build` reads.
public struct LabelledVectors: Sendable {
  /// Where the set was read from.
  public var source: String
  /// Item names, in file order.
  public var names: [String]
  /// Item labels, in the same order.
  public var labels: [ItemLabels]
  /// The vectors, one row per item.
  public var vectors: Matrix

  /// The number of items.
  public var count: Int { names.count }

  /// Creates a set from its parts.
  ///
  /// - Parameters:
  ///   - source: where it came from.
  ///   - names: item names.
  ///   - labels: item labels.
  ///   - vectors: one row per item.
  public init(source: String, names: [String], labels: [ItemLabels], vectors: Matrix) {
    precondition(
      names.count == labels.count && names.count == vectors.rows, "one name, label and row per item"
    )
    self.source = source
    self.names = names
    self.labels = labels
    self.vectors = vectors
  }

  /// Reads a folder or file, checking every value as `build` does.
  ///
  /// - Parameters:
  ///   - path: a folder or a vector file.
  ///   - progress: status output (the plan's warnings go there).
  /// - Returns: the items.
  /// - Throws: `VectorIOError` or ``TripIndexError`` as `build` does.
  public static func load(_ path: String, progress: any ProgressReporting) throws -> LabelledVectors
  {
    let (items, warnings) = try load(
      path, storing: nil, expectedDimension: nil, progress: progress)
    for warning in warnings { progress.warn(warning) }
    return items
  }

  /// Reads a folder or file as `build` does, every row checked as it will be stored.
  ///
  /// - Parameters:
  ///   - path: a folder or a vector file.
  ///   - storing: how rows will be stored (model, normalisation), or `nil`.
  ///   - expectedDimension: the dimension required and where it comes from, or `nil`.
  ///   - dataset: the dataset read from HDF5 files.
  ///   - progress: status output.
  /// - Returns: the items, as read (not embedded), and the reading's warnings (unlabelled
  ///   files, unused labels, skipped files) for the caller to show or not.
  /// - Throws: `VectorIOError` naming the file and row, or ``TripIndexError``.
  static func load(
    _ path: String, storing: StoredForm?, expectedDimension: (Int, String)?,
    dataset: String = BuildPlan.defaultDataset, progress: any ProgressReporting
  ) throws -> (items: LabelledVectors, warnings: [UserText]) {
    let plan = try BuildPlan(
      scan: try FolderScan(root: path), storing: storing, expectedDimension: expectedDimension,
      progress: progress, keepingVectors: true, dataset: dataset)
    var names: [String] = []
    var labels: [ItemLabels] = []
    names.reserveCapacity(plan.totalRows)
    labels.reserveCapacity(plan.totalRows)
    for file in plan.files {
      for row in 0..<file.rows {
        let (name, label) = BuildPlan.identity(of: file, row: row)
        names.append(name)
        labels.append(label)
      }
    }
    return (
      LabelledVectors(
        source: path, names: names, labels: labels,
        vectors: Matrix(rows: plan.totalRows, columns: plan.dimension, values: plan.vectors)),
      plan.warnings
    )
  }

  /// The labels as the evaluator wants them, requiring what the protocol needs.
  ///
  /// - Parameters:
  ///   - role: "query" or "gallery", for messages.
  ///   - needsCameras: whether every item must have a camera (re-ID protocols).
  ///   - protocolName: the protocol's name, for messages.
  /// - Returns: pids and cameras (camera 0 where unknown and not needed).
  /// - Throws: ``TripIndexError`` naming the first item without a pid (or camera).
  public func labelSet(role: String, needsCameras: Bool, protocolName: String) throws -> LabelSet {
    var pids: [Int32] = []
    var cameras: [Int32] = []
    pids.reserveCapacity(count)
    cameras.reserveCapacity(count)
    for (index, label) in labels.enumerated() {
      guard let pid = label.pid, !needsCameras || label.camera != nil else {
        throw TripIndexError(
          "\(role) item '\(names[index])' from \(source) has no \(label.pid == nil ? "pid" : "camera"); the \(protocolName) protocol needs \(needsCameras ? "a pid and a camera" : "a pid") for every item (give them in a labels.csv or with Market-1501 names)"
        )
      }
      pids.append(pid)
      cameras.append(label.camera ?? 0)
    }
    return LabelSet(pids: pids, cameras: cameras)
  }
}
