import CLMDB
import StorageBackend

/// Shared, mutable facts about one transaction, seen by every copy of its ``Transaction``.
final class TransactionState {
  /// Set when LMDB reported `MDB_MAP_FULL`, so ``Environment/write(_:)`` can grow the map and retry
  /// even when the error was wrapped or caught on its way out.
  var mapFull = false

  /// Converts a return code of this transaction (or one of its cursors) into a thrown error,
  /// remembering a full map for the retry logic.
  func check(_ returnCode: Int32) throws(LMDBError) {
    if returnCode == MDB_MAP_FULL { mapFull = true }
    try LMDB.check(returnCode)
  }
}

/// A transaction: a consistent view of the environment, and for read-write transactions, the only
/// way to change it. Obtained from ``Environment/read(_:)`` or ``Environment/write(_:)`` and valid
/// only inside that closure; so are the buffers it hands out, which point into the memory map.
public struct Transaction {
  let handle: OpaquePointer
  /// Whether this is a read-only transaction.
  public let isReadOnly: Bool

  /// The transaction's id: for a read-only transaction, the id of the committed write
  /// transaction whose snapshot it sees, so two read transactions with one id see the same data.
  public var snapshotID: Int { Int(mdb_txn_id(handle)) }
  let state: TransactionState

  init(handle: OpaquePointer, isReadOnly: Bool, state: TransactionState) {
    self.handle = handle
    self.isReadOnly = isReadOnly
    self.state = state
  }

  /// Converts a return code into a thrown error, remembering a full map for the retry logic.
  func check(_ returnCode: Int32) throws(LMDBError) { try state.check(returnCode) }

  /// Returns the value stored under `key`, zero-copy.
  ///
  /// - Parameters:
  ///   - key: the key.
  ///   - database: where to look.
  /// - Returns: the value's bytes inside the memory map (valid until the transaction ends; do not
  ///   write through them), or `nil` when the key is absent. LMDB aligns values to 2 bytes only.
  /// - Throws: ``LMDBError`` other than ``LMDBError/notFound``.
  public func value(forKey key: some StorageBytes, in database: Database) throws(LMDBError)
    -> UnsafeRawBufferPointer?
  {
    var data = MDB_val()
    let code = key.withStorageBytes { bytes in
      var keyValue = MDB_val(
        mv_size: bytes.count, mv_data: UnsafeMutableRawPointer(mutating: bytes.baseAddress))
      return mdb_get(handle, database.handle, &keyValue, &data)
    }
    if code == MDB_NOTFOUND { return nil }
    try check(code)
    return UnsafeRawBufferPointer(start: data.mv_data, count: data.mv_size)
  }

  /// Stores `value` under `key`, replacing what was there (or adding a duplicate in a
  /// duplicate-sorted database).
  ///
  /// - Parameters:
  ///   - value: the bytes to store.
  ///   - key: the key (at most ``Environment/maxKeySizeBytes`` bytes).
  ///   - database: where to store it.
  ///   - options: put options.
  /// - Throws: ``LMDBError``: ``LMDBError/keyExists`` with ``PutOptions/noOverwrite``,
  ///   ``LMDBError/badValueSize`` for an over-long key, ``LMDBError/mapFull`` when the map is full.
  public func put(
    _ value: some StorageBytes, forKey key: some StorageBytes, in database: Database,
    options: PutOptions = []
  ) throws(LMDBError) {
    let code = key.withStorageBytes { keyBytes in
      value.withStorageBytes { valueBytes in
        var keyValue = MDB_val(
          mv_size: keyBytes.count, mv_data: UnsafeMutableRawPointer(mutating: keyBytes.baseAddress))
        var data = MDB_val(
          mv_size: valueBytes.count,
          mv_data: UnsafeMutableRawPointer(mutating: valueBytes.baseAddress))
        return mdb_put(handle, database.handle, &keyValue, &data, options.lmdbFlags)
      }
    }
    try check(code)
  }

  /// Reserves `byteCount` bytes for the value under `key` and lets `fill` write them in place
  /// (`MDB_RESERVE`), saving a copy for large values.
  ///
  /// - Parameters:
  ///   - byteCount: the value's size.
  ///   - key: the key.
  ///   - database: a database without duplicates.
  ///   - fill: writes the whole value; the buffer is uninitialised and valid only inside `fill`.
  /// - Throws: ``LMDBError`` as for ``put(_:forKey:in:options:)``, or what `fill` throws.
  public func putReserving(
    byteCount: Int, forKey key: some StorageBytes, in database: Database,
    _ fill: (UnsafeMutableRawBufferPointer) throws -> Void
  ) throws {
    var data = MDB_val(mv_size: byteCount, mv_data: nil)
    let code = key.withStorageBytes { keyBytes in
      var keyValue = MDB_val(
        mv_size: keyBytes.count, mv_data: UnsafeMutableRawPointer(mutating: keyBytes.baseAddress))
      return mdb_put(handle, database.handle, &keyValue, &data, UInt32(MDB_RESERVE))
    }
    try check(code)
    try fill(UnsafeMutableRawBufferPointer(start: data.mv_data, count: byteCount))
  }

  /// Deletes `key` and, in a duplicate-sorted database, all its values.
  ///
  /// - Parameters:
  ///   - key: the key.
  ///   - database: where to delete it.
  /// - Returns: `false` when the key was absent.
  /// - Throws: ``LMDBError`` other than ``LMDBError/notFound``.
  @discardableResult
  public func delete(forKey key: some StorageBytes, in database: Database) throws(LMDBError) -> Bool
  {
    let code = key.withStorageBytes { keyBytes in
      var keyValue = MDB_val(
        mv_size: keyBytes.count, mv_data: UnsafeMutableRawPointer(mutating: keyBytes.baseAddress))
      return mdb_del(handle, database.handle, &keyValue, nil)
    }
    if code == MDB_NOTFOUND { return false }
    try check(code)
    return true
  }

  /// Deletes one value of `key` in a duplicate-sorted database.
  ///
  /// - Parameters:
  ///   - value: the value to remove.
  ///   - key: its key.
  ///   - database: a duplicate-sorted database.
  /// - Returns: `false` when the pair was absent.
  /// - Throws: ``LMDBError`` other than ``LMDBError/notFound``.
  @discardableResult
  public func delete(
    _ value: some StorageBytes, forKey key: some StorageBytes, in database: Database
  ) throws(LMDBError) -> Bool {
    let code = key.withStorageBytes { keyBytes in
      value.withStorageBytes { valueBytes in
        var keyValue = MDB_val(
          mv_size: keyBytes.count, mv_data: UnsafeMutableRawPointer(mutating: keyBytes.baseAddress))
        var data = MDB_val(
          mv_size: valueBytes.count,
          mv_data: UnsafeMutableRawPointer(mutating: valueBytes.baseAddress))
        return mdb_del(handle, database.handle, &keyValue, &data)
      }
    }
    if code == MDB_NOTFOUND { return false }
    try check(code)
    return true
  }

  /// The number of key/value pairs (duplicates counted one by one).
  ///
  /// - Parameter database: the database.
  /// - Returns: its entry count, from `mdb_stat` in O(1).
  /// - Throws: ``LMDBError``.
  public func entryCount(in database: Database) throws(LMDBError) -> Int {
    var stat = MDB_stat()
    try check(mdb_stat(handle, database.handle, &stat))
    return Int(stat.ms_entries)
  }

  /// A database's size: entries, pages in use and the B-tree's depth (`mdb_stat`).
  ///
  /// - Parameter database: the database.
  /// - Returns: its statistics.
  /// - Throws: ``LMDBError``.
  public func statistics(of database: Database) throws(LMDBError) -> TableStatistics {
    var stat = MDB_stat()
    try check(mdb_stat(handle, database.handle, &stat))
    return TableStatistics(
      entries: Int(stat.ms_entries),
      pages: Int(stat.ms_branch_pages) + Int(stat.ms_leaf_pages) + Int(stat.ms_overflow_pages),
      pageBytes: Int(stat.ms_psize), depth: Int(stat.ms_depth))
  }

  /// Deletes every entry of `database`, keeping the database itself.
  ///
  /// - Parameter database: the database to empty.
  /// - Throws: ``LMDBError``.
  public func removeAll(in database: Database) throws(LMDBError) {
    try check(mdb_drop(handle, database.handle, 0))
  }

  /// Runs `body` with a cursor over `database`; the cursor closes when `body` returns.
  ///
  /// - Parameters:
  ///   - database: the database to walk.
  ///   - body: the work to do with the cursor.
  /// - Returns: what `body` returns.
  /// - Throws: ``LMDBError`` when the cursor cannot open, or what `body` throws.
  public func withCursor<R>(in database: Database, _ body: (Cursor) throws -> R) throws -> R {
    var raw: OpaquePointer?
    try check(mdb_cursor_open(handle, database.handle, &raw))
    guard let raw else { throw LMDBError.badTransaction }
    defer { mdb_cursor_close(raw) }
    return try body(Cursor(handle: raw, transaction: self))
  }

  /// Runs `body` with one cursor over each of `databases` (in order); every cursor closes when
  /// `body` returns. Cursors opened here may each be used by a different thread, one thread per
  /// cursor (read transactions only: the environment is opened with `MDB_NOTLS`).
  ///
  /// - Parameters:
  ///   - databases: the databases, with repeats for several cursors over one.
  ///   - body: the work to do with the cursors.
  /// - Returns: what `body` returns.
  /// - Throws: ``LMDBError`` when a cursor cannot open, or what `body` throws.
  public func withCursors<R>(in databases: [Database], _ body: ([Cursor]) throws -> R) throws -> R {
    var handles: [OpaquePointer] = []
    defer { for raw in handles { mdb_cursor_close(raw) } }
    for database in databases {
      var raw: OpaquePointer?
      try check(mdb_cursor_open(handle, database.handle, &raw))
      guard let raw else { throw LMDBError.badTransaction }
      handles.append(raw)
    }
    return try body(handles.map { Cursor(handle: $0, transaction: self) })
  }
}
