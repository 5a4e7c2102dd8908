import Evaluation
import LSHIndex
import Plumbing
import VectorIO
import VectorMath
import VectorStore

/// The `export` command: a store's live items as files `build` reads back — one vector file and a
/// `labels.csv` (name, pid, camera and, when any item has one, group), in id order.
public enum Export {
  /// What to export.
  public struct Options: Sendable {
    /// The store's directory.
    public var storePath: String
    /// How to reach a store on a Redis Cluster.
    public var redis = RedisAccess()
    /// The folder to write (created; must not hold files already).
    public var outputDirectory: String
    /// `.npy` (float32) or `.fvecs`.
    public var format: VectorFileFormat = .npy

    /// Creates options.
    ///
    /// - Parameters:
    ///   - storePath: the store.
    ///   - outputDirectory: the folder to write.
    public init(storePath: String, outputDirectory: String) {
      self.storePath = storePath
      self.outputDirectory = outputDirectory
    }
  }

  /// What was written.
  public struct Report: Sendable {
    /// The vector file.
    public var vectorsPath: String
    /// The labels file.
    public var labelsPath: String
    /// Items written.
    public var items: Int
    /// Values per vector.
    public var dimension: Int

    /// One line for people.
    public var summary: String {
      "\(vectorsPath): \(TextFormatting.grouped(items)) vectors of dimension \(dimension); names and labels in \(labelsPath)"
    }
  }

  /// Exports a store.
  ///
  /// - Parameters:
  ///   - options: what to export.
  ///   - progress: status output.
  /// - Returns: what was written.
  /// - Throws: `VectorStoreError` for an unreadable store, `VectorIOError` for a folder that
  ///   exists with files in it or a write that fails (the folder is then removed), or
  ///   ``TripIndexError`` for an unsupported format.
  public static func run(_ options: Options, progress: any ProgressReporting) throws -> Report {
    let extensionName: String
    switch options.format {
    case .npy: extensionName = "npy"
    case .fvecs: extensionName = "fvecs"
    default:
      throw TripIndexError("\(option: .format) takes npy or fvecs (text .vec would round values)")
    }
    let folder = options.outputDirectory
    if let existing = Directories.entries(in: folder), !existing.isEmpty {
      throw VectorIOError(
        path: folder, "already holds files; export writes into a new or empty folder")
    }
    let vectorsName = "vectors." + extensionName
    // Written into a hidden sibling that takes the folder's place when complete: a failed or
    // killed export never leaves vectors without labels.
    var dimension = 0
    let items = try Directories.publishing(into: folder) { partial in
      let vectorsPath = partial + "/" + vectorsName
      var entries: [LabelsFile.Entry] = []
      try StoreView.read(options.storePath, redis: options.redis) { snapshot in
        let writer = try VectorFileWriter(path: vectorsPath, dimension: snapshot.dimension)
        dimension = snapshot.dimension
        entries.reserveCapacity(snapshot.count)
        try snapshot.forEachItem { item, vector in
          try writer.write(vector)
          entries.append(LabelsFile.Entry(name: item.name, labels: item.labels))
          if entries.count % 65536 == 0 {
            progress.update(
              "exported \(TextFormatting.grouped(entries.count)) of \(TextFormatting.grouped(snapshot.count)) items"
            )
          }
        }
        try writer.finish()
      }
      try LabelsFile.write(entries, to: partial + "/labels.csv")
      return entries.count
    }
    progress.finish()
    return Report(
      vectorsPath: folder + "/" + vectorsName, labelsPath: folder + "/labels.csv", items: items,
      dimension: dimension)
  }
}
