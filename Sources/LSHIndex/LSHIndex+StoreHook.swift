import CKernels
import Plumbing
import StorageBackend
import VectorMath
import VectorStore

/// Keeping the tables current: a build writes every item's entries (``BulkEncoding``), and the
/// store hook adds and removes each item's entries inside the writer's transaction.
extension LSHIndex {
  /// Hashes every live item, then writes each table's entries sorted by (code, entry) with
  /// LMDB's append fast path.
  func indexEverything(in writer: StoreWriter) throws {
    let snapshot = try writer.snapshot()
    let entryBytes = encoder.coder.entryBytes
    for group in BulkEncoding.tableGroups(items: snapshot.count, tables: configuration.tables) {
      let encoded = BulkEncoding(
        snapshot, encoder: encoder, codes: true, of: group, projections: 0)
      let (ids, codes, entries, tables) = (
        encoded.ids, encoded.codes, encoded.entries, encoded.tables
      )
      for (position, table) in group.enumerated() {
        let order = TableOrder.sorted(
          items: ids.count, code: { codes[$0 * tables + position] }, entries: entries,
          entryBytes: entryBytes)
        var previous: UInt64?
        try entries.withUnsafeBytes { bytes in
          for item in order.lazy.map(Int.init) {
            let code = codes[item * tables + position]
            try writer.transaction.put(
              Array(bytes[(item * entryBytes)..<((item + 1) * entryBytes)]),
              forKey: IntegerKey(code), in: bucketTables[table],
              options: previous == code ? .appendDuplicate : .append)
            previous = code
          }
        }
      }
    }
  }

  // MARK: keeping in step with the store

  /// Adds an item to every table.
  public func didInsert(id: UInt64, vector: UnsafeBufferPointer<Float>, in writer: StoreWriter)
    throws
  {
    var scratch = encoder.makeScratch()
    encoder.encode(vector, id: id, into: &scratch)
    for table in 0..<configuration.tables {
      try writer.transaction.put(
        scratch.entry, forKey: IntegerKey(scratch.codes[table]), in: bucketTables[table])
    }
  }

  /// Removes an item from every table (its entries are recomputed from the stored vector,
  /// bit for bit as they were written).
  public func willRemove(id: UInt64, vector: UnsafeBufferPointer<Float>, in writer: StoreWriter)
    throws
  {
    var scratch = encoder.makeScratch()
    encoder.encode(vector, id: id, into: &scratch)
    for table in 0..<configuration.tables {
      _ = try writer.transaction.delete(
        scratch.entry, forKey: IntegerKey(scratch.codes[table]), in: bucketTables[table])
    }
  }
}
