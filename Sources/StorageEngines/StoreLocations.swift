import LMDB
import StorageBackend

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Finds, opens and removes the engine a store's location names. Today every location is a
/// directory holding an LMDB environment; this is the one place that knows it, so a second
/// engine is chosen here by its address without the store or its indexes changing.
public enum StoreLocations {
  /// Whether a store's data exists at `location`.
  ///
  /// - Parameter location: a directory.
  public static func exists(at location: String) -> Bool {
    access(location + "/data.mdb", F_OK) == 0
  }

  /// What a location that holds no store should hold, for messages.
  public static let expectedContents = "an LMDB directory with data.mdb"

  /// Opens (creating when writable and absent) the engine at `location`.
  ///
  /// - Parameters:
  ///   - location: a directory.
  ///   - readOnly: open without write access.
  /// - Returns: the engine (the instance already open in this process, if any).
  /// - Throws: ``StorageOpenError``: a data file shorter than its own header says or not an LMDB
  ///   file at all is refused before it is mapped (mapping it would fault).
  public static func open(at location: String, readOnly: Bool) throws(StorageOpenError)
    -> any StorageEngine
  {
    try checkDataFileLength(at: location)
    do {
      return try Environment.open(path: location, flags: readOnly ? [.readOnly] : [])
    } catch {
      throw StorageOpenError(failure: error)
    }
  }

  /// Deletes a store's files and its directory (which must hold nothing else).
  ///
  /// - Parameter location: the store's directory.
  public static func remove(at location: String) {
    unlink(location + "/data.mdb")
    unlink(location + "/lock.mdb")
    rmdir(location)
  }

  /// The bytes a store's data takes on disk (0 when unknown).
  ///
  /// - Parameter location: the store's directory.
  public static func dataBytes(at location: String) -> Int {
    var status = stat()
    return stat(location + "/data.mdb", &status) == 0 ? Int(status.st_size) : 0
  }

  /// Refuses a data file shorter than its own meta page says (mapping it would fault).
  private static func checkDataFileLength(at location: String) throws(StorageOpenError) {
    let header: DataFileHeader?
    do {
      header = try DataFileHeader.read(path: location + "/data.mdb")
    } catch {
      guard error == .invalid else { throw StorageOpenError(failure: error) }
      throw StorageOpenError(
        .notEngineData,
        "data.mdb is not an LMDB data file (neither meta page is valid); restore the store from a copy"
      )
    }
    guard let header, !header.isComplete else { return }
    throw StorageOpenError(
      .damaged,
      "data.mdb is shorter than its own index says (\(header.fileBytes) bytes, needs \(header.neededBytes)): the store is damaged; restore it from a copy"
    )
  }
}

/// Why an engine could not be opened.
public struct StorageOpenError: Error, CustomStringConvertible {
  /// What kind of failure.
  public let kind: StorageFailureKind
  /// What happened, in a sentence about the store's data.
  public let description: String
  /// The engine's own error, when it gave one.
  public let failure: (any StorageFailure)?

  init(_ kind: StorageFailureKind, _ description: String) {
    self.kind = kind
    self.description = description
    failure = nil
  }

  init(failure: any StorageFailure) {
    kind = failure.kind
    description = "\(failure)"
    self.failure = failure
  }
}
