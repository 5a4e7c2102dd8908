/// What the vector store and its indexes need of a storage engine: named tables of sorted keys
/// (some holding several sorted, fixed-size values per key), read in consistent snapshots and
/// changed in atomic write transactions.
///
/// LMDB implements it (the `LMDB` module); the store, its index hook, the LSH index and its
/// bucket reader reach storage only through these protocols, so that another engine plugs in
/// below them without touching the search. Values read are borrowed, never copied: they stay
/// valid until the transaction that read them ends (LMDB lends pointers into its memory map).
///
/// The hot paths (a search's bucket reads) are generic over ``StorageReading/Cursor``, so they are
/// specialised for the engine; the rest of the store holds an engine as `any StorageEngine` and
/// pays one dynamic call per operation, never a box per row.
public protocol StorageEngine: AnyObject, Sendable {
  /// A read-only transaction: one consistent snapshot.
  associatedtype Reading: StorageReading
  /// A read-write transaction.
  associatedtype Writing: StorageWriting

  /// The longest key a table accepts, in bytes.
  var maximumKeyBytes: Int { get }
  /// Changes whenever values read from the engine may have moved in this process: a read
  /// transaction that sees the same snapshot (``StorageReading/snapshotID``) under the same
  /// generation sees the same bytes at the same places (LMDB: each change of the memory map's
  /// size, which may move the map even when no write commits). Stable inside a transaction.
  var mappingGeneration: Int { get }

  /// Opens a table, creating it when asked.
  ///
  /// Handles are cached; a transaction sees only tables opened before it began.
  ///
  /// - Parameters:
  ///   - name: the table's name.
  ///   - layout: how its keys and values are organised; must match how it was created.
  ///   - creating: create it when it does not exist (ignored when read-only).
  /// - Returns: the table's handle, usable in later transactions.
  /// - Throws: a ``StorageFailure`` of kind ``StorageFailureKind/notFound`` when it does not exist
  ///   and `creating` is false.
  func table(named name: String, layout: TableLayout, creating: Bool) throws -> StorageTable
  /// The layout a table was created with, as the engine records it.
  func storedLayout(of table: StorageTable) throws -> TableLayout
  /// Deletes tables with everything in them, in one write transaction (their names become free
  /// to be created again with another layout).
  func deleteTables(_ tables: [StorageTable]) throws

  /// Runs `body` in a read-only transaction: a consistent snapshot that never blocks the writer.
  func read<R>(_ body: (Reading) throws -> R) throws -> R
  /// Runs `body` in a read-write transaction and commits it; nothing is written if it throws.
  /// The engine may run `body` again from the start (LMDB does when its map must grow), so
  /// `body` must have no effects outside the transaction.
  func write<R>(_ body: (Writing) throws -> R) throws -> R

  /// Writes a compacted copy of everything (one snapshot, free space left out) to `destination`.
  func copyCompacted(to destination: String) throws
}

/// A consistent, read-only view of an engine's tables, valid inside the closure that lent it.
public protocol StorageReading {
  /// A position in one table, for ordered walks and the pages of a key's sorted values.
  associatedtype Cursor: StorageCursor

  /// Whether the transaction is read-only.
  var isReadOnly: Bool { get }
  /// The committed state a read-only transaction sees: two with one id see the same data.
  var snapshotID: Int { get }

  /// The value stored under `key` (a table with one value per key), borrowed; `nil` when absent.
  func value(forKey key: some StorageBytes, in table: StorageTable) throws
    -> UnsafeRawBufferPointer?
  /// The number of key/value pairs (several values of one key counted one by one).
  func entryCount(in table: StorageTable) throws -> Int
  /// A table's size.
  func statistics(of table: StorageTable) throws -> TableStatistics
  /// Runs `body` with a cursor over `table`; the cursor ends when `body` returns.
  func withCursor<R>(in table: StorageTable, _ body: (Cursor) throws -> R) throws -> R
  /// Runs `body` with one cursor over each of `tables`, in order; in a read-only transaction each
  /// cursor may be used by a different thread (one thread per cursor).
  func withCursors<R>(in tables: [StorageTable], _ body: ([Cursor]) throws -> R) throws -> R
}

/// A read-write transaction: the only way to change an engine's tables.
public protocol StorageWriting: StorageReading {
  /// Stores `value` under `key` (replacing it, or adding it to the key's sorted values).
  func put(
    _ value: some StorageBytes, forKey key: some StorageBytes, in table: StorageTable,
    options: PutOptions
  ) throws
  /// Reserves `byteCount` bytes for the value under `key` and lets `fill` write them in place.
  func putReserving(
    byteCount: Int, forKey key: some StorageBytes, in table: StorageTable,
    _ fill: (UnsafeMutableRawBufferPointer) throws -> Void
  ) throws
  /// Deletes `key` with all its values; `false` when it was absent.
  @discardableResult
  func delete(forKey key: some StorageBytes, in table: StorageTable) throws -> Bool
  /// Deletes one of a key's sorted values; `false` when the pair was absent.
  @discardableResult
  func delete(_ value: some StorageBytes, forKey key: some StorageBytes, in table: StorageTable)
    throws -> Bool
  /// Deletes every entry of `table`, keeping the table.
  func removeAll(in table: StorageTable) throws
}

/// A position in a table. Every move returns the entry it lands on, or `nil` when there is none.
public protocol StorageCursor {
  /// Moves to the first entry.
  func first() throws -> StorageEntry?
  /// Moves to the next entry (the key's next value first).
  func next() throws -> StorageEntry?
  /// Moves to the first value of the next key.
  func nextKey() throws -> StorageEntry?
  /// Moves to `key` exactly.
  func seek(to key: some StorageBytes) throws -> StorageEntry?
  /// Moves to the first key at or after `key`.
  func seek(atLeast key: some StorageBytes) throws -> StorageEntry?
  /// Moves to `key`'s first value at or after `value` (a table of sorted values).
  func seek(to key: UnsafeRawBufferPointer, atLeastValue value: UnsafeRawBufferPointer) throws
    -> StorageEntry?
  /// The values of the current key from the current one to the end of its page, contiguous
  /// (a table of fixed-size sorted values).
  func duplicatesPage() throws -> UnsafeRawBufferPointer?
  /// The next page of the current key's values.
  func nextDuplicatesPage() throws -> UnsafeRawBufferPointer?
  /// The page of the current key's values before the current one.
  func previousDuplicatesPage() throws -> UnsafeRawBufferPointer?
  /// How many values the current key holds.
  func duplicateCount() throws -> Int
}

extension StorageCursor {
  /// Walks the table key by key from its first: `body` gets each key's first entry, with the
  /// cursor standing on it (for the key's ``duplicateCount()`` and
  /// ``forEachDuplicatesPage(_:)``), and returns whether to go on.
  public func forEachKey(_ body: (StorageEntry) throws -> Bool) throws {
    var entry = try first()
    while let current = entry, try body(current) {
      entry = try nextKey()
    }
  }

  /// Calls `body` with each page of the current key's values in order (a table of fixed-size
  /// sorted values), from the cursor's page, until the pages end or `body` returns `false`.
  public func forEachDuplicatesPage(_ body: (UnsafeRawBufferPointer) throws -> Bool) throws {
    var page = try duplicatesPage()
    while let values = page, try body(values) {
      page = try nextDuplicatesPage()
    }
  }
}

extension StorageReading {
  /// Calls `body` for every entry of `table` in key order (a key's values in their order).
  ///
  /// - Returns: how many entries there were.
  @discardableResult
  public func forEachEntry(in table: StorageTable, _ body: (StorageEntry) throws -> Void) throws
    -> Int
  {
    try withCursor(in: table) { cursor in
      var entries = 0
      var entry = try cursor.first()
      while let current = entry {
        entries += 1
        entry = try cursor.next()
        try body(current)
      }
      return entries
    }
  }
}

extension StorageWriting {
  /// Stores `value` under `key` with no options.
  public func put(_ value: some StorageBytes, forKey key: some StorageBytes, in table: StorageTable)
    throws
  {
    try put(value, forKey: key, in: table, options: [])
  }
}

/// One key/value pair, borrowed from the engine; valid until the transaction ends.
public struct StorageEntry {
  /// The key's bytes.
  public let key: UnsafeRawBufferPointer
  /// The value's bytes (2-byte aligned at least).
  public let value: UnsafeRawBufferPointer

  /// Wraps a pair an engine read.
  public init(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
    self.key = key
    self.value = value
  }
}
