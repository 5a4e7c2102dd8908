import LSHIndex
import Plumbing
import VectorIO
import VectorStore

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The `compact` command: a compacted copy of a store (LMDB's compacting copy: free pages left
/// out), for a data file grown by rebuilds made while long reads were open.
public enum Compact {
  /// What a compaction did.
  public struct Report: Sendable {
    /// The store copied.
    public var storePath: String
    /// The copy.
    public var outputPath: String
    /// The source's data file size.
    public var bytesBefore: Int
    /// The copy's data file size.
    public var bytesAfter: Int
    /// Items in the copy.
    public var items: Int
    /// Seconds taken.
    public var seconds: Double

    /// One line.
    public var text: String {
      "\(outputPath): compacted copy of \(storePath), \(TextFormatting.grouped(items)) items; data.mdb \(TextFormatting.fixed(Double(bytesBefore) / 1_048_576, 1)) MiB → \(TextFormatting.fixed(Double(bytesAfter) / 1_048_576, 1)) MiB; \(TextFormatting.fixed(seconds, 2)) s"
    }
  }

  /// Copies `storePath` compacted into `outputPath` (created; it must not exist, or be empty).
  /// The source is only read; the copy is checked by opening it.
  ///
  /// - Parameters:
  ///   - storePath: the store.
  ///   - outputPath: the new store's directory.
  /// - Returns: the sizes before and after.
  /// - Throws: ``TripIndexError`` when the output exists and is not empty, `VectorStoreError`.
  public static func run(storePath: String, outputPath: String) throws -> Report {
    let started = MonotonicClock.now()
    try RedisAccess.requireLMDB(storePath, for: "compact")
    let store = try VectorStore.open(path: storePath, readOnly: true)
    if access(outputPath, F_OK) == 0 && Directories.entries(in: outputPath)?.isEmpty != true {
      throw TripIndexError(
        "\(outputPath): already exists and is not an empty directory; compact writes a new store")
    }
    // Copied into a hidden sibling that takes the output's place when complete: a failed or
    // killed compact never leaves a partial store there.
    try Directories.publishing(into: outputPath) { partial in
      try store.copyCompacted(to: partial)
    }
    let copy = try VectorStore.open(path: outputPath, readOnly: true)
    return Report(
      storePath: storePath, outputPath: outputPath,
      bytesBefore: VectorStore.dataBytes(at: storePath),
      bytesAfter: VectorStore.dataBytes(at: outputPath), items: try copy.count(),
      seconds: MonotonicClock.now() - started)
  }
}
