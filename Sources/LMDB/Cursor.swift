import CLMDB
import StorageBackend

/// A position in a database, for ordered walks and range scans. Obtained from
/// ``Transaction/withCursor(in:_:)`` and valid only inside that closure.
///
/// Every move returns the ``Entry`` it lands on, or `nil` when there is none.
public struct Cursor {
  /// One key/value pair, pointing into the memory map; valid until the transaction ends.
  public typealias Entry = StorageEntry

  let handle: OpaquePointer
  /// The transaction's shared state, unretained: a cursor lives only inside its transaction, and
  /// a cursor without references copies as plain bytes (no reference counting when a search,
  /// generic over the engine's cursor, copies one).
  let state: Unmanaged<TransactionState>

  init(handle: OpaquePointer, transaction: Transaction) {
    self.handle = handle
    state = Unmanaged.passUnretained(transaction.state)
  }

  /// Converts a return code into a thrown error, as the transaction does (a success never
  /// touches the shared state, so reads pay no reference counting).
  private func check(_ returnCode: Int32) throws(LMDBError) {
    guard returnCode != 0 else { return }
    try state.takeUnretainedValue().check(returnCode)
  }

  private func move(
    _ operation: MDB_cursor_op, key: UnsafeRawBufferPointer? = nil,
    value: UnsafeRawBufferPointer? = nil
  ) throws(LMDBError) -> Entry? {
    var keyValue = MDB_val(
      mv_size: key?.count ?? 0, mv_data: UnsafeMutableRawPointer(mutating: key?.baseAddress))
    var data = MDB_val(
      mv_size: value?.count ?? 0, mv_data: UnsafeMutableRawPointer(mutating: value?.baseAddress))
    let code = mdb_cursor_get(handle, &keyValue, &data, operation)
    if code == MDB_NOTFOUND { return nil }
    try check(code)
    return Entry(
      key: UnsafeRawBufferPointer(start: keyValue.mv_data, count: keyValue.mv_size),
      value: UnsafeRawBufferPointer(start: data.mv_data, count: data.mv_size))
  }

  /// Moves to the first entry. - Returns: it, or `nil` for an empty database. - Throws: ``LMDBError``.
  public func first() throws(LMDBError) -> Entry? { try move(MDB_FIRST) }
  /// Moves to the last entry. - Returns: it, or `nil` for an empty database. - Throws: ``LMDBError``.
  public func last() throws(LMDBError) -> Entry? { try move(MDB_LAST) }
  /// Moves to the next entry (the next duplicate first). - Returns: it, or `nil` at the end.
  /// - Throws: ``LMDBError``.
  public func next() throws(LMDBError) -> Entry? { try move(MDB_NEXT) }
  /// Moves to the previous entry. - Returns: it, or `nil` at the start. - Throws: ``LMDBError``.
  public func previous() throws(LMDBError) -> Entry? { try move(MDB_PREV) }
  /// Moves to the first value of the next key, skipping duplicates. - Returns: it, or `nil` at the end.
  /// - Throws: ``LMDBError``.
  public func nextKey() throws(LMDBError) -> Entry? { try move(MDB_NEXT_NODUP) }

  /// Moves to exactly `key`.
  ///
  /// - Parameter key: the key to find.
  /// - Returns: its (first) entry, or `nil` when absent.
  /// - Throws: ``LMDBError``.
  public func seek(to key: some StorageBytes) throws(LMDBError) -> Entry? {
    do {
      return try key.withStorageBytes { bytes in try move(MDB_SET_KEY, key: bytes) }
    } catch let error as LMDBError {
      throw error
    } catch {
      throw LMDBError.invalid
    }
  }

  /// Moves to the first key greater than or equal to `key`.
  ///
  /// - Parameter key: the lower bound.
  /// - Returns: that entry, or `nil` when every key is smaller.
  /// - Throws: ``LMDBError``.
  public func seek(atLeast key: some StorageBytes) throws(LMDBError) -> Entry? {
    do {
      return try key.withStorageBytes { bytes in try move(MDB_SET_RANGE, key: bytes) }
    } catch let error as LMDBError {
      throw error
    } catch {
      throw LMDBError.invalid
    }
  }

  /// Returns up to a page of the current key's duplicates at once, starting at the cursor
  /// (`MDB_GET_MULTIPLE`; ``TableLayout/fixedSizeDuplicates`` databases only).
  ///
  /// - Returns: the packed fixed-size values, or `nil` when there are none.
  /// - Throws: ``LMDBError``.
  public func duplicatesPage() throws(LMDBError) -> UnsafeRawBufferPointer? {
    guard let page = try move(MDB_GET_MULTIPLE)?.value else { return nil }
    if !page.isEmpty { return page }
    // A key with a single value keeps it in its own node, and GET_MULTIPLE then returns nothing:
    // the value under the cursor is the whole page.
    return try move(MDB_GET_CURRENT)?.value
  }

  /// Returns the next page of the current key's duplicates (`MDB_NEXT_MULTIPLE`).
  ///
  /// - Returns: the packed fixed-size values, or `nil` after the last page.
  /// - Throws: ``LMDBError``.
  public func nextDuplicatesPage() throws(LMDBError) -> UnsafeRawBufferPointer? {
    guard let entry = try move(MDB_NEXT_MULTIPLE) else { return nil }
    return entry.value
  }

  /// Moves to the first value of `key` that is at least `value` (`MDB_GET_BOTH_RANGE`, in a
  /// duplicate-sorted database); when every value of `key` is smaller, to its last value.
  ///
  /// - Parameters:
  ///   - key: the key.
  ///   - value: the smallest value wanted (compared byte by byte).
  /// - Returns: the entry, or `nil` when `key` is absent.
  /// - Throws: ``LMDBError``.
  public func seek(to key: UnsafeRawBufferPointer, atLeastValue value: UnsafeRawBufferPointer)
    throws(LMDBError) -> Entry?
  {
    if let found = try move(MDB_GET_BOTH_RANGE, key: key, value: value) { return found }
    guard try move(MDB_SET, key: key) != nil, let last = try move(MDB_LAST_DUP) else {
      return nil
    }
    // LAST_DUP leaves the duplicates' cursor marked as at its end, where GET_MULTIPLE returns
    // nothing: one step back and forth clears the mark and lands on the last value again.
    guard try move(MDB_PREV_DUP) != nil else { return last }
    return try move(MDB_NEXT_DUP)
  }

  /// Returns the previous page of the current key's duplicates (`MDB_PREV_MULTIPLE`): the page
  /// before the one the cursor is in.
  ///
  /// - Returns: the packed fixed-size values, or `nil` before the first page.
  /// - Throws: ``LMDBError``.
  public func previousDuplicatesPage() throws(LMDBError) -> UnsafeRawBufferPointer? {
    guard let entry = try move(MDB_PREV_MULTIPLE) else { return nil }
    return entry.value
  }

  /// The number of duplicates of the current key.
  ///
  /// - Returns: the count (1 in a database without duplicates).
  /// - Throws: ``LMDBError``.
  public func duplicateCount() throws(LMDBError) -> Int {
    var count = 0
    try check(mdb_cursor_count(handle, &count))
    return count
  }

  /// Deletes the entry under the cursor.
  ///
  /// - Parameter allDuplicates: in a duplicate-sorted database, delete every value of the key.
  /// - Throws: ``LMDBError``.
  public func deleteCurrent(allDuplicates: Bool = false) throws(LMDBError) {
    try check(mdb_cursor_del(handle, allDuplicates ? UInt32(MDB_NODUPDATA) : 0))
  }
}
