import CLMDB

/// An error reported by LMDB, carrying the library's return code and its message.
///
/// Codes are LMDB's own (`MDB_NOTFOUND`, `MDB_MAP_FULL`, …) or a system `errno` (`ENOENT`, `EACCES`,
/// `ENOSPC`, …); ``description`` is `mdb_strerror` of the code, so both kinds read well.
public struct LMDBError: Error, RawRepresentable, Hashable, Sendable, CustomStringConvertible {
  /// The raw return code.
  public let rawValue: Int32

  /// Wraps a raw LMDB or `errno` return code.
  ///
  /// - Parameter rawValue: the code returned by an `mdb_*` function.
  public init(rawValue: Int32) { self.rawValue = rawValue }

  /// `MDB_KEYEXIST`: the key/data pair already exists (with `noOverwrite` / `noDuplicateData`).
  public static let keyExists = LMDBError(rawValue: MDB_KEYEXIST)
  /// `MDB_NOTFOUND`: no matching key/data pair.
  public static let notFound = LMDBError(rawValue: MDB_NOTFOUND)
  /// `MDB_PAGE_NOTFOUND`: a requested page was not found (usually corruption).
  public static let pageNotFound = LMDBError(rawValue: MDB_PAGE_NOTFOUND)
  /// `MDB_CORRUPTED`: the located page was of the wrong type.
  public static let corrupted = LMDBError(rawValue: MDB_CORRUPTED)
  /// `MDB_PANIC`: a fatal error; the environment must be closed.
  public static let panic = LMDBError(rawValue: MDB_PANIC)
  /// `MDB_VERSION_MISMATCH`: the environment was written by an incompatible LMDB version.
  public static let versionMismatch = LMDBError(rawValue: MDB_VERSION_MISMATCH)
  /// `MDB_INVALID`: the file is not an LMDB data file.
  public static let invalid = LMDBError(rawValue: MDB_INVALID)
  /// `MDB_MAP_FULL`: the environment's map size was reached. ``Environment/write(_:)`` grows the map
  /// and retries instead of surfacing this.
  public static let mapFull = LMDBError(rawValue: MDB_MAP_FULL)
  /// `MDB_DBS_FULL`: the environment's limit of named databases was reached.
  public static let databasesFull = LMDBError(rawValue: MDB_DBS_FULL)
  /// `MDB_READERS_FULL`: the environment's reader table is full.
  public static let readersFull = LMDBError(rawValue: MDB_READERS_FULL)
  /// `MDB_TXN_FULL`: the transaction has too many dirty pages.
  public static let transactionFull = LMDBError(rawValue: MDB_TXN_FULL)
  /// `MDB_CURSOR_FULL`: the cursor stack is too deep (internal error).
  public static let cursorFull = LMDBError(rawValue: MDB_CURSOR_FULL)
  /// `MDB_PAGE_FULL`: a page has no more space (internal error).
  public static let pageFull = LMDBError(rawValue: MDB_PAGE_FULL)
  /// `MDB_MAP_RESIZED`: another process grew the map beyond this environment's map size.
  public static let mapResized = LMDBError(rawValue: MDB_MAP_RESIZED)
  /// `MDB_INCOMPATIBLE`: the operation and the database's flags are incompatible.
  public static let incompatible = LMDBError(rawValue: MDB_INCOMPATIBLE)
  /// `MDB_BAD_RSLOT`: invalid reuse of a reader lock-table slot.
  public static let badReaderSlot = LMDBError(rawValue: MDB_BAD_RSLOT)
  /// `MDB_BAD_TXN`: the transaction must abort, has a child, or is invalid.
  public static let badTransaction = LMDBError(rawValue: MDB_BAD_TXN)
  /// `MDB_BAD_VALSIZE`: an unsupported key or value size (for example a key over 511 bytes).
  public static let badValueSize = LMDBError(rawValue: MDB_BAD_VALSIZE)
  /// `MDB_BAD_DBI`: the database handle was changed unexpectedly.
  public static let badDatabase = LMDBError(rawValue: MDB_BAD_DBI)

  /// LMDB's own message for the code (`mdb_strerror`).
  public var description: String {
    guard let message = mdb_strerror(rawValue) else { return "LMDB error \(rawValue)" }
    return String(cString: message)
  }
}

/// Turns an `mdb_*` return code into a thrown ``LMDBError``; the only place codes are inspected.
@inline(__always)
func check(_ returnCode: Int32) throws(LMDBError) {
  if returnCode != 0 { throw LMDBError(rawValue: returnCode) }
}
