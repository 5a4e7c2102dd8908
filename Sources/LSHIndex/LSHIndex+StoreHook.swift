import CKernels
import Plumbing
import StorageBackend
import VectorMath
import VectorStore

/// Keeping the tables current: a build writes every item's entries (``BulkEncoding``), and the
/// store hook adds and removes each item's entries inside the writer's transaction (removing
/// the packed copy, ``PackedTables``, which only a build writes).
extension LSHIndex {
  /// Hashes every live item, then writes each table's entries sorted by (code, entry) with
  /// LMDB's append fast path.
  func indexEverything(in writer: StoreWriter) throws {
    let entryBytes = encoder.coder.entryBytes
    try BulkEncoding.forEachTableInStoreOrder(of: try writer.snapshot(), encoder: encoder) {
      table, order, code, entries in
      var previous: UInt64?
      try entries.withUnsafeBytes { bytes in
        for item in order.lazy.map(Int.init) {
          let code = code(item)
          try writer.transaction.put(
            UnsafeRawBufferPointer(
              rebasing: bytes[(item * entryBytes)..<((item + 1) * entryBytes)]),
            forKey: IntegerKey(code), in: bucketTables[table],
            options: previous == code ? .appendDuplicate : .append)
          previous = code
        }
      }
    }
  }

  // MARK: keeping in step with the store

  /// Adds an item to every table.
  public func didInsert(id: UInt64, vector: UnsafeBufferPointer<Float>, in writer: StoreWriter)
    throws
  {
    try removePackedTables(in: writer)
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
    try removePackedTables(in: writer)
    var scratch = encoder.makeScratch()
    encoder.encode(vector, id: id, into: &scratch)
    for table in 0..<configuration.tables {
      _ = try writer.transaction.delete(
        scratch.entry, forKey: IntegerKey(scratch.codes[table]), in: bucketTables[table])
    }
  }
}
