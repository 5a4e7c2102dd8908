import LMDB

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A problem opening, reading or changing a store, with a message a user can act on.
public struct VectorStoreError: Error, Sendable, CustomStringConvertible {
  /// What kind of problem it is.
  public enum Kind: Sendable, Hashable {
    /// No store exists at the path.
    case missing
    /// The directory holds something that is not a tripindex store, or a newer schema.
    case notAStore
    /// A vector's dimension differs from the store's.
    case dimensionMismatch
    /// The metric asked for differs from the store's.
    case metricMismatch
    /// An item is invalid (empty or over-long name, non-finite or zero vector, …).
    case invalidItem
    /// LMDB failed.
    case storage
    /// The store's files are damaged (truncated, overwritten, checksums that do not match).
    case damaged
  }

  /// What kind of problem it is.
  public let kind: Kind
  /// The store's path.
  public let path: String
  /// What is wrong and what was expected.
  public let message: String

  /// Creates an error.
  ///
  /// - Parameters:
  ///   - kind: the kind of problem.
  ///   - path: the store's path.
  ///   - message: what is wrong and what was expected.
  public init(_ kind: Kind, path: String, _ message: String) {
    self.kind = kind
    self.path = path
    self.message = message
  }

  /// `store PATH: message`.
  public var description: String { "store \(path): \(message)" }

  static func storage(_ error: LMDBError, path: String, while action: String) -> VectorStoreError {
    if [.corrupted, .pageNotFound, .invalid].contains(error) {
      return VectorStoreError(
        .damaged, path: path,
        "LMDB found damage while \(action) (\(error)); `tripindex check --store \(path)` says what is damaged"
      )
    }
    if [ENOSPC, EDQUOT, EIO, EFBIG].contains(error.rawValue) {
      return VectorStoreError(
        .storage, path: path,
        "LMDB failed while \(action): \(error) (is the disk full? free space and run the command again)"
      )
    }
    return VectorStoreError(.storage, path: path, "LMDB failed while \(action): \(error)")
  }

  /// Damage found in the store's own data: what, where, and what to do.
  static func damaged(path: String, _ what: String) -> VectorStoreError {
    VectorStoreError(
      .damaged, path: path,
      "is damaged: \(what); `tripindex check --store \(path)` lists all damage, `--repair` rebuilds what can be derived"
    )
  }
}
