/// An index kept in step with a store: told of every vector added and removed, inside the store's
/// write transaction, so that vectors and index change together or not at all.
///
/// A store records the names of its indexes in its metadata (key ``VectorStore/indexesKey``). It
/// refuses to change items while one of them is not attached, so an index can never silently
/// fall behind its vectors.
public protocol StoreIndexHook: AnyObject, Sendable {
  /// The index's name, as recorded in the store's metadata.
  var indexName: String { get }

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

  /// Called before a batch of changes (an upsert or a delete), inside its transaction.
  func willBeginChanges(in writer: StoreWriter) throws

  /// Called after a batch of changes, inside its transaction.
  func didFinishChanges(in writer: StoreWriter) throws
}

extension StoreIndexHook {
  /// Called before a batch of changes (an upsert or a delete), inside its transaction.
  ///
  /// - Parameter writer: the transaction.
  public func willBeginChanges(in writer: StoreWriter) throws {}

  /// Called after a batch of changes, inside its transaction: the place to write what was
  /// gathered per batch.
  ///
  /// - Parameter writer: the transaction.
  public func didFinishChanges(in writer: StoreWriter) throws {}
}
