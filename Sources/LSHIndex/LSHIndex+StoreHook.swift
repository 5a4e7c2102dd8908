import CKernels
import LMDB
import Plumbing
import VectorMath
import VectorStore

/// Keeping the tables current: the bulk encoder of a build (and of `check`) and the store hook
/// that adds and removes each item's entries inside the writer's transaction.
extension LSHIndex {
  /// Every live item's codes and entry, computed on all cores (ids in `ids`, item `i`'s codes at
  /// `codes[i * L ..< (i + 1) * L]`, its entry at bytes `i * entryBytes`).
  static func encodeAll(_ encoder: ItemEncoder, blocks: [VectorBlock], dimension: Int)
    -> (ids: [UInt64], codes: [UInt64], entries: [UInt8])
  {
    let tables = encoder.model.configuration.tables
    let entryBytes = encoder.coder.entryBytes
    var ids: [UInt64] = []
    for block in blocks {
      for row in 0..<block.rowCount where !block.isDeleted(row) {
        ids.append(block.firstID + UInt64(row))
      }
    }
    var codes = [UInt64](repeating: 0, count: ids.count * tables)
    var entries = [UInt8](repeating: 0, count: ids.count * entryBytes)
    let rowsPerBlock = blocks.first?.rowCount ?? 1
    ids.withUnsafeBufferPointer { ids in
      codes.withUnsafeMutableBufferPointer { codes in
        entries.withUnsafeMutableBytes { entries in
          let shared = UncheckedSendable((ids, codes, entries))
          Parallel.forEachChunk(of: ids.count, count: Parallel.processorCount) { _, range in
            let (ids, codes, entries) = shared.value
            var scratch = encoder.makeScratch()
            for item in range {
              let id = ids[item]
              let block = blocks[Int(id) / max(rowsPerBlock, 1)]
              let vector = UnsafeBufferPointer(
                start: block.values + Int(id - block.firstID) * dimension, count: dimension)
              encoder.encode(vector, id: id, into: &scratch)
              for table in 0..<tables { codes[item * tables + table] = scratch.codes[table] }
              scratch.entry.withUnsafeBytes {
                UnsafeMutableRawBufferPointer(
                  rebasing: entries[(item * entryBytes)..<((item + 1) * entryBytes)]
                ).copyMemory(from: $0)
              }
            }
          }
        }
      }
    }
    return (ids, codes, entries)
  }

  /// Hashes every live item, then writes each table's entries sorted by (code, entry) with
  /// LMDB's append fast path.
  func indexEverything(in writer: StoreWriter) throws {
    let snapshot = try writer.snapshot()
    let (ids, codes, entries) = Self.encodeAll(
      encoder, blocks: snapshot.blocks, dimension: store.dimension)
    let tables = configuration.tables
    let entryBytes = encoder.coder.entryBytes
    for table in 0..<tables {
      let order = TableOrder.sorted(
        items: ids.count, code: { codes[$0 * tables + table] }, entries: entries,
        entryBytes: entryBytes)
      var previous: UInt64?
      try entries.withUnsafeBytes { bytes in
        for item in order {
          let code = codes[item * tables + table]
          try writer.transaction.put(
            Array(bytes[(item * entryBytes)..<((item + 1) * entryBytes)]),
            forKey: IntegerKey(code), in: tableDatabases[table],
            flags: previous == code ? .appendDuplicate : .append)
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
    var scratch = encoder.makeScratch()
    encoder.encode(vector, id: id, into: &scratch)
    for table in 0..<configuration.tables {
      try writer.transaction.put(
        scratch.entry, forKey: IntegerKey(scratch.codes[table]), in: tableDatabases[table])
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
        scratch.entry, forKey: IntegerKey(scratch.codes[table]), in: tableDatabases[table])
    }
  }
}
