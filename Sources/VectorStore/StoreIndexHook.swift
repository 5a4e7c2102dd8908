/// An index kept in step with a store: told of every vector added and removed, inside the store's
/// write transaction, so that vectors and index change together or not at all.
///
/// A store records the names of its indexes in its metadata (key ``VectorStore/indexesKey``). It
/// refuses to change items while one of them is not attached, so an index can never silently
/// fall behind its vectors.
///
/// Another process may rebuild an index while this one holds it attached: every write
/// transaction first asks the attached index whether it is the one the transaction records
/// (``isCurrent(in:)``). When it is not, the store reopens its indexes outside any transaction
/// and runs the transaction again (see ``IndexReopenNeeded``), so no change is ever hashed with
/// parameters other than its own transaction's.
public protocol StoreIndexHook: AnyObject, Sendable {
  /// The index's name, as recorded in the store's metadata.
  var indexName: String { get }

  /// Whether this index is the one `writer`'s transaction records (same parameters, same
  /// version); an index rebuilt by another writer since this one was opened is not.
  ///
  /// - Parameter writer: the transaction.
  /// - Returns: `true` when the index may apply this transaction's changes.
  /// - Throws: what reading the index's version throws.
  func isCurrent(in writer: StoreWriter) throws -> Bool

  /// Adds an item that was just given `vector` (new, or a replacement after
  /// ``willRemove(id:vector:in:)``).
  ///
  /// - Parameters:
  ///   - id: the item's id.
  ///   - vector: its stored vector (normalised for the cosine metric).
  ///   - writer: the transaction to write in.
  /// - Throws: what the index's writes throw; the whole transaction is then abandoned.
  func didInsert(id: UInt64, vector: UnsafeBufferPointer<Float>, in writer: StoreWriter) throws

  /// Removes an item whose vector is about to be deleted or replaced.
  ///
  /// - Parameters:
  ///   - id: the item's id.
  ///   - vector: its current stored vector.
  ///   - writer: the transaction to write in.
  /// - Throws: what the index's writes throw.
  func willRemove(id: UInt64, vector: UnsafeBufferPointer<Float>, in writer: StoreWriter) throws
}

/// Thrown inside a transaction when an index attached in this process is not the one the
/// transaction records (another process rebuilt, created or dropped it since): the store's
/// ``VectorStore/read(_:)`` and ``VectorStore/write(_:)`` then reopen that index outside any
/// transaction (with the opener registered by ``VectorStore/registerIndexOpener(named:_:)``)
/// and run their work again from the start.
public struct IndexReopenNeeded: Error, CustomStringConvertible {
  /// The index's name.
  public var indexName: String

  /// Creates the signal.
  ///
  /// - Parameter indexName: the index that must be reopened.
  public init(indexName: String) { self.indexName = indexName }

  /// What happened, in words.
  public var description: String {
    "the store's \(indexName) index changed since it was opened"
  }
}
