import StorageBackend

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// LMDB as the store's engine: an environment's databases are the tables, its transactions the
/// transactions, values borrowed straight from the memory map.
extension Environment: StorageEngine {
  /// The map's generation (``mapGeneration``).
  public var mappingGeneration: Int { mapGeneration }

  /// A compacting copy (``copy(to:compacting:)``) into an existing empty directory.
  public func copyCompacted(to destination: String) throws {
    try copy(to: destination, compacting: true)
  }
}

extension Transaction: StorageWriting {}

extension Cursor: StorageCursor {}

extension LMDBError: StorageFailure {
  /// "LMDB".
  public var engineName: String { "LMDB" }

  /// The store's kind of this LMDB or system error.
  public var kind: StorageFailureKind {
    switch self {
    case .notFound: .notFound
    case .keyExists: .keyExists
    case .corrupted, .pageNotFound, .invalid, .panic: .damaged
    default:
      switch rawValue {
      case ENOSPC, EDQUOT, EIO, EFBIG: .diskFull
      case EBUSY: .busy
      case ENOMEM: .outOfMemory
      case ENOENT: .missing
      default: .other
      }
    }
  }
}
