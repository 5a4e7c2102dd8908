import CKernels
import Plumbing
import StorageBackend
import VectorMath
import VectorStore

/// Which build of a store's index this is, and the checks that keep a transaction and a search
/// on the build their snapshot records.
extension LSHIndex {
  /// What tells one build of a store's index from another: a random generation drawn by every
  /// build and rebuild, and the parameters' checksum (indexes written before generations were
  /// recorded have none; their checksum alone tells them apart).
  struct Version: Equatable {
    var generation: UInt64?
    var checksum: UInt32?
  }

  /// The `lsh.params` key of the build's generation (`UInt64`, little-endian).
  static let generationKey = "generation"

  /// The version a transaction records (both parts `nil` when it records no parameters).
  static func storedVersion(_ txn: some StorageReading, _ parameters: StorageTable) throws
    -> Version
  {
    let generation = try txn.value(forKey: generationKey, in: parameters).flatMap { bytes in
      bytes.count == 8 ? UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self)) : nil
    }
    let checksum = try txn.value(forKey: checksumKey, in: parameters).flatMap { bytes in
      bytes.count == 4 ? UInt32(littleEndian: bytes.loadUnaligned(as: UInt32.self)) : nil
    }
    return Version(generation: generation, checksum: checksum)
  }

  /// Whether this index is the one `writer`'s transaction records (see ``StoreIndexHook``).
  ///
  /// - Parameter writer: the transaction.
  /// - Returns: `true` when its parameters are that transaction's.
  /// - Throws: ``LMDBError``.
  public func isCurrent(in writer: StoreWriter) throws -> Bool {
    try Self.storedVersion(writer.transaction, parametersTable) == version
  }

  /// The index as `snapshot` records it: this one, or the one this process attached since
  /// (after another process rebuilt it), so that a search never hashes with one build's
  /// functions and reads another build's tables.
  ///
  /// - Parameter snapshot: a read snapshot of the store.
  /// - Returns: the index to search in that snapshot.
  /// - Throws: ``IndexReopenNeeded`` when this process has not opened the snapshot's index yet
  ///   (the store reopens it and runs the read again); ``LSHError`` of kind `dropped` when the
  ///   snapshot has no index.
  func resolved(in snapshot: StoreSnapshot) throws -> LSHIndex {
    let recorded = try snapshot.metadata(VectorStore.indexesKey)?.split(separator: ",") ?? []
    guard recorded.contains(Substring(Self.name)) else {
      throw LSHError(
        .dropped, "store \(store.path): its LSH index was dropped after this command opened it")
    }
    let stored = try Self.storedVersion(snapshot.transaction, parametersTable)
    if stored == version { return self }
    if let attached = store.attachedIndex(named: Self.name) as? LSHIndex,
      attached.version == stored
    {
      return attached
    }
    throw IndexReopenNeeded(indexName: Self.name)
  }
}
