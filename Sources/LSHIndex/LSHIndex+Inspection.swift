import StorageBackend
import VectorStore

extension LSHIndex {
  /// One table entry as stored.
  public struct StoredEntry: Hashable, Sendable {
    /// The bucket code.
    public var code: UInt64
    /// The item's id.
    public var id: UInt64
    /// The compact code bytes (``CompactCoder/dimensions`` + 1).
    public var compactCode: [UInt8]
  }

  /// Every entry of one table, in stored order.
  ///
  /// - Parameters:
  ///   - table: the table.
  ///   - snapshot: a read snapshot of the store.
  /// - Returns: the entries.
  /// - Throws: ``LSHError`` for an entry of the wrong size, ``LMDBError``.
  /// - Complexity: O(entries).
  public func entries(ofTable table: Int, in snapshot: StoreSnapshot) throws -> [StoredEntry] {
    let index = try resolved(in: snapshot)
    let coder = index.encoder.coder
    var result: [StoredEntry] = []
    try snapshot.transaction.withCursor(in: index.bucketTables[table]) { cursor in
      try cursor.forEachKey { current in
        guard let code = IntegerKey(bytes: current.key)?.value else {
          throw LSHError("LSH table \(table) holds a key of \(current.key.count) bytes, not 8")
        }
        try cursor.forEachDuplicatesPage { values in
          guard values.count % coder.entryBytes == 0 else {
            throw LSHError(
              "LSH table \(table) holds entries of the wrong size under code \(code)")
          }
          for index in 0..<(values.count / coder.entryBytes) {
            let start = index * coder.entryBytes
            result.append(
              StoredEntry(
                code: code, id: coder.id(in: values, at: index),
                compactCode: Array(values[start..<(start + coder.idOffset)])))
          }
          return true
        }
        return true
      }
    }
    return result
  }
}
