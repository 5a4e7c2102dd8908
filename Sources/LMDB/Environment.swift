import CLMDB
import StorageBackend
import Synchronization

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// An open LMDB environment: one directory holding `data.mdb` and `lock.mdb`.
///
/// Open it with ``open(path:flags:maxDatabases:initialMapSizeBytes:)``; the environment closes when
/// the last reference goes away. All access goes through closure-scoped transactions:
/// ``read(_:)`` and ``write(_:)``. Read transactions never block the writer, and there is at most one
/// write transaction at a time (LMDB serialises writers across processes).
///
/// LMDB forbids opening the same environment twice in one process; ``open(path:flags:maxDatabases:initialMapSizeBytes:)``
/// returns the instance that is already open instead.
///
/// **Map growth and other threads.** LMDB may change the map's size (`mdb_env_set_mapsize`, which
/// can move the map) only while no transaction of the process is open: values read through the
/// old map would point at unmapped memory. Every transaction therefore holds a process-wide
/// reader lock (a thread's nested transactions take it once), and growing the map — when a write
/// fills it, or adopting the size another process grew it to — takes the lock exclusively,
/// waiting until the other threads' transactions have ended (and holding back new ones). A thread
/// that still has a transaction of its own open cannot grow the map; its write fails with
/// ``LMDBError/mapFull``. So a thread inside a transaction must not wait for another thread to
/// begin one (workers share the caller's transaction instead, as searches do).
public final class Environment: @unchecked Sendable {
  /// Options for opening an environment (`mdb_env_open` flags).
  public struct Flags: OptionSet, Sendable, Hashable {
    /// The raw flag bits.
    public let rawValue: UInt32
    /// Creates flags from their raw bits.
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// `MDB_RDONLY`: no write transactions; the directory must exist.
    public static let readOnly = Flags(rawValue: UInt32(MDB_RDONLY))
    /// `MDB_NOSYNC`: don't fsync on commit (a process crash is still safe, a power cut is not).
    public static let noSync = Flags(rawValue: UInt32(MDB_NOSYNC))
    /// `MDB_NOMETASYNC`: fsync data but not the meta page on commit.
    public static let noMetaSync = Flags(rawValue: UInt32(MDB_NOMETASYNC))
    /// `MDB_NORDAHEAD`: turn off OS read-ahead (helps random access to maps larger than RAM).
    public static let noReadAhead = Flags(rawValue: UInt32(MDB_NORDAHEAD))
  }

  /// The map size the environment starts with unless told otherwise: 64 MiB; it doubles when full.
  public static let defaultInitialMapSizeBytes = 64 << 20

  let handle: OpaquePointer
  /// The environment's directory, as given when it was opened.
  public let path: String
  /// The flags it was opened with.
  public let flags: Flags
  private let canonicalPath: String
  private let databases = Mutex<[String: Database]>([:])
  /// Held shared by every open transaction, exclusively while the map's size changes.
  private let mapLock: UnsafeMutablePointer<pthread_rwlock_t>
  /// How many times the map's size has changed in this process (each change may move it).
  private let mapChanges = Atomic(0)
  /// Per thread (`pthread_self`): the transactions of this environment it has open.
  private let openTransactions = Mutex<[UInt: Int]>([:])

  private static let openEnvironments = Mutex<[String: WeakEnvironment]>([:])

  /// Opens (creating when allowed) the environment in directory `path`.
  ///
  /// - Parameters:
  ///   - path: a directory; created if missing unless `flags` contains ``Flags/readOnly``.
  ///   - flags: open options.
  ///   - maxDatabases: the most named databases the environment can hold.
  ///   - initialMapSizeBytes: the map size to start with; ``write(_:)`` doubles it when it fills.
  ///     An existing environment keeps its larger size.
  /// - Returns: the environment, or the one already open in this process at that path.
  /// - Throws: ``LMDBError`` with LMDB's or the system's reason (`ENOENT` for a missing read-only
  ///   store, `EACCES`, `MDB_INVALID` for a directory that holds something else,
  ///   ``LMDBError/corrupted`` for a data file shorter than its meta page says; see
  ///   ``DataFileHeader``).
  public static func open(
    path: String, flags: Flags = [], maxDatabases: Int = 256,
    initialMapSizeBytes: Int = defaultInitialMapSizeBytes
  ) throws(LMDBError) -> Environment {
    if !flags.contains(.readOnly) {
      if mkdir(path, 0o755) != 0 && errno != EEXIST { throw LMDBError(rawValue: errno) }
    }
    guard let resolved = realpath(path, nil) else { throw LMDBError(rawValue: errno) }
    let canonical = String(cString: resolved)
    free(resolved)
    return try openEnvironments.withLock { (open) throws(LMDBError) -> Environment in
      if let existing = open[canonical]?.environment {
        if existing.flags.contains(.readOnly) && !flags.contains(.readOnly) {
          // Opened read-only elsewhere in this process; LMDB cannot reopen it for writing.
          throw LMDBError(rawValue: EBUSY)
        }
        return existing
      }
      let environment = try Environment(
        path: path, canonicalPath: canonical, flags: flags, maxDatabases: maxDatabases,
        initialMapSizeBytes: initialMapSizeBytes)
      open[canonical] = WeakEnvironment(environment: environment)
      return environment
    }
  }

  private init(
    path: String, canonicalPath: String, flags: Flags, maxDatabases: Int, initialMapSizeBytes: Int
  ) throws(LMDBError) {
    // A data file shorter than its own meta page says would be mapped and fault (SIGBUS) on the
    // first read past its end: refuse it before LMDB maps it.
    if let header = try DataFileHeader.read(path: path + "/data.mdb"), !header.isComplete {
      throw LMDBError.corrupted
    }
    try Self.allocateLockFile(directory: path, readOnly: flags.contains(.readOnly))
    var raw: OpaquePointer?
    try check(mdb_env_create(&raw))
    guard let raw else { throw LMDBError.invalid }
    do throws(LMDBError) {
      // LMDB trusts its pages; on a damaged one its internal assertions would abort().
      try check(mdb_env_set_assert(raw, reportDamagedPagesAndExit))
      try check(mdb_env_set_maxdbs(raw, MDB_dbi(maxDatabases)))
      try check(mdb_env_set_maxreaders(raw, 256))
      try check(mdb_env_set_mapsize(raw, initialMapSizeBytes))
      try check(mdb_env_open(raw, path, flags.rawValue | UInt32(MDB_NOTLS), 0o644))
      // Clear reader slots left by processes that died (for example a killed build).
      var dead: Int32 = 0
      try check(mdb_reader_check(raw, &dead))
    } catch {
      mdb_env_close(raw)
      throw error
    }
    self.handle = raw
    self.path = path
    self.canonicalPath = canonicalPath
    self.flags = flags
    mapLock = UnsafeMutablePointer<pthread_rwlock_t>.allocate(capacity: 1)
    // Writer preference: a waiting resize stops new transactions from starting, so a stream of
    // overlapping readers cannot keep it out. Safe because a thread takes the lock once, for its
    // first transaction (nested ones only count).
    var attributes = pthread_rwlockattr_t()
    pthread_rwlockattr_init(&attributes)
    pthread_rwlockattr_setkind_np(
      &attributes, Int32(PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP))
    pthread_rwlock_init(mapLock, &attributes)
    pthread_rwlockattr_destroy(&attributes)
  }

  /// LMDB maps `lock.mdb` and writes its reader table through the map; on a full disk the
  /// first write to a page the file system cannot back is a `SIGBUS`. Allocating the file's
  /// blocks first turns that into `ENOSPC` here. (64 KiB covers the reader table of 256 slots.)
  private static func allocateLockFile(directory: String, readOnly: Bool) throws(LMDBError) {
    let lockPath = directory + "/lock.mdb"
    let descriptor = Glibc.open(lockPath, readOnly ? O_RDWR : O_RDWR | O_CREAT, 0o644)
    // A read-only store in a read-only directory has a lock file LMDB will open as it is.
    guard descriptor >= 0 else { return }
    defer { close(descriptor) }
    let result = posix_fallocate(descriptor, 0, 64 << 10)
    if result == ENOSPC || result == EDQUOT { throw LMDBError(rawValue: result) }
  }

  deinit {
    Environment.openEnvironments.withLock { open in
      if open[canonicalPath]?.environment == nil { open[canonicalPath] = nil }
    }
    mdb_env_close(handle)
    pthread_rwlock_destroy(mapLock)
    mapLock.deallocate()
  }

  /// The calling thread, as ``openTransactions`` keys it.
  private static var currentThread: UInt { UInt(pthread_self()) }

  /// Records a transaction of the calling thread, taking the shared map lock for its first.
  private func enterTransaction() {
    let thread = Self.currentThread
    let earlier = openTransactions.withLock { open in
      let count = open[thread, default: 0]
      open[thread] = count + 1
      return count
    }
    if earlier == 0 { pthread_rwlock_rdlock(mapLock) }
  }

  /// Records the end of a transaction of the calling thread, releasing the lock with its last.
  private func leaveTransaction() {
    let thread = Self.currentThread
    let remaining = openTransactions.withLock { open in
      let count = (open[thread] ?? 1) - 1
      open[thread] = count == 0 ? nil : count
      return count
    }
    if remaining == 0 { pthread_rwlock_unlock(mapLock) }
  }

  /// Transactions of this environment the calling thread has open.
  private var transactionsOfThisThread: Int {
    let thread = Self.currentThread
    return openTransactions.withLock { $0[thread] ?? 0 }
  }

  /// Changes the map's size with every other transaction of the process finished (the calling
  /// thread must have none open).
  ///
  /// - Parameter size: the new size in bytes given the size seen before, or 0 to adopt the size
  ///   another process set.
  private func resizeMap(_ size: (_ current: Int) -> Int) throws(LMDBError) {
    pthread_rwlock_wrlock(mapLock)
    defer { pthread_rwlock_unlock(mapLock) }
    // Counted even when LMDB refuses the new size: it may have let go of the old map already.
    defer { mapChanges.add(1, ordering: .releasing) }
    try check(mdb_env_set_mapsize(handle, size(mapSizeBytes)))
  }

  /// The current map size in bytes (the most the data file can grow to before the map is grown).
  public var mapSizeBytes: Int {
    var info = MDB_envinfo()
    mdb_env_info(handle, &info)
    return info.me_mapsize
  }

  /// Changes with every change of the map's size in this process, each of which may move the
  /// map (LMDB maps the file anew, wherever the system puts it): values read from one snapshot
  /// under one generation are at the same addresses in every transaction of that snapshot and
  /// generation. Stable while the calling thread has a transaction open (a resize waits for
  /// every transaction to end).
  public var mapGeneration: Int { mapChanges.load(ordering: .acquiring) }

  /// The database page size in bytes.
  public var pageSizeBytes: Int {
    var stat = MDB_stat()
    mdb_env_stat(handle, &stat)
    return Int(stat.ms_psize)
  }

  /// The longest key LMDB accepts, in bytes (511 with the default build).
  public var maximumKeyBytes: Int { Int(mdb_env_get_maxkeysize(handle)) }

  /// Runs `body` in a read-only transaction: a consistent snapshot that never blocks writers.
  ///
  /// Values read inside are pointers into the memory map, valid until `body` returns.
  ///
  /// - Parameter body: the work to do; it receives the transaction.
  /// - Returns: what `body` returns.
  /// - Throws: ``LMDBError`` when the transaction cannot start, or what `body` throws.
  public func read<R>(_ body: (Transaction) throws -> R) throws -> R {
    enterTransaction()
    defer { leaveTransaction() }
    let raw = try begin(readOnly: true)
    defer { mdb_txn_abort(raw) }
    return try body(Transaction(handle: raw, isReadOnly: true, state: TransactionState()))
  }

  /// Runs `body` in a read-write transaction and commits it; if `body` throws, nothing is written.
  ///
  /// When the map fills (`MDB_MAP_FULL`), the transaction is aborted, the map size doubled and
  /// `body` run again from the start, so `body` must not have effects outside the transaction that
  /// cannot be repeated.
  ///
  /// - Parameter body: the work to do; it receives the transaction.
  /// - Returns: what `body` returns.
  /// - Throws: ``LMDBError`` when the transaction cannot start or commit, or what `body` throws.
  public func write<R>(_ body: (Transaction) throws -> R) throws -> R {
    precondition(!flags.contains(.readOnly), "write transaction on a read-only environment")
    while true {
      let filledSize = mapSizeBytes
      enterTransaction()
      let raw: OpaquePointer
      do { raw = try begin(readOnly: false) } catch {
        leaveTransaction()
        throw error
      }
      let state = TransactionState()
      let result: R
      do {
        result = try body(Transaction(handle: raw, isReadOnly: false, state: state))
      } catch {
        mdb_txn_abort(raw)
        leaveTransaction()
        if state.mapFull {
          try growMap(from: filledSize)
          continue
        }
        throw error
      }
      let committed = mdb_txn_commit(raw)
      leaveTransaction()
      if committed == MDB_MAP_FULL {
        try growMap(from: filledSize)
        continue
      }
      try check(committed)
      return result
    }
  }

  /// Doubles the map size that filled (unless another thread already grew it), once every other
  /// transaction of the process has ended. A thread with a transaction of its own still open
  /// cannot wait for that: its write fails with ``LMDBError/mapFull``.
  private func growMap(from filledSize: Int) throws(LMDBError) {
    guard transactionsOfThisThread == 0 else { throw LMDBError.mapFull }
    try resizeMap { current in current > filledSize ? current : filledSize * 2 }
  }

  /// Begins a transaction; the calling thread has entered it (``enterTransaction()``).
  private func begin(readOnly: Bool) throws(LMDBError) -> OpaquePointer {
    var raw: OpaquePointer?
    var code = mdb_txn_begin(handle, nil, readOnly ? UInt32(MDB_RDONLY) : 0, &raw)
    if code == MDB_MAP_RESIZED && transactionsOfThisThread == 1 {
      // Another process grew the map: adopt its size (with this thread's lock let go, so the
      // resize waits only for other threads) and start again.
      leaveTransaction()
      let resized = Result { () throws(LMDBError) in try resizeMap { _ in 0 } }
      enterTransaction()
      try resized.get()
      code = mdb_txn_begin(handle, nil, readOnly ? UInt32(MDB_RDONLY) : 0, &raw)
    }
    try check(code)
    guard let raw else { throw LMDBError.badTransaction }
    return raw
  }

  /// Opens a named database (a table), creating it when `creating` is set and the environment
  /// is writable.
  ///
  /// Handles are cached: later calls with the same name return the same handle.
  ///
  /// - Parameters:
  ///   - name: the database's name.
  ///   - layout: how keys and values are organised; must match how it was created.
  ///   - creating: create it if it does not exist.
  /// - Returns: the database handle, usable in any later transaction.
  /// - Throws: ``LMDBError/notFound`` when it does not exist and `creating` is false.
  public func table(named name: String, layout: TableLayout = [], creating: Bool = false) throws
    -> Database
  {
    if let cached = databases.withLock({ $0[name] }) { return cached }
    let create = creating && !flags.contains(.readOnly)
    let open = { (txn: Transaction) throws -> Database in
      var dbi: MDB_dbi = 0
      try txn.check(
        mdb_dbi_open(txn.handle, name, layout.lmdbFlags | (create ? UInt32(MDB_CREATE) : 0), &dbi))
      return Database(name: name, layout: layout, handle: dbi)
    }
    let database: Database
    if create {
      database = try write(open)
    } else {
      // A read transaction must commit for the handle to outlive it.
      let raw = try begin(readOnly: true)
      do {
        database = try open(Transaction(handle: raw, isReadOnly: true, state: TransactionState()))
      } catch {
        mdb_txn_abort(raw)
        throw error
      }
      try check(mdb_txn_commit(raw))
    }
    databases.withLock { $0[name] = database }
    return database
  }

  /// The layout a database was created with, as the environment stores it.
  ///
  /// - Parameter database: the database.
  /// - Returns: its layout.
  /// - Throws: ``LMDBError`` from `mdb_dbi_flags`.
  public func storedLayout(of database: Database) throws -> TableLayout {
    try read { txn in
      var flags: UInt32 = 0
      try txn.check(mdb_dbi_flags(txn.handle, database.handle, &flags))
      return TableLayout(lmdbFlags: flags)
    }
  }

  /// Deletes databases from the environment in one write transaction (their names become free
  /// to be created again with another layout).
  ///
  /// - Parameter deleted: the databases.
  /// - Throws: ``LMDBError`` from `mdb_drop`.
  public func deleteTables(_ deleted: [Database]) throws {
    guard !deleted.isEmpty else { return }
    try write { txn in
      for database in deleted { try txn.check(mdb_drop(txn.handle, database.handle, 1)) }
    }
    // Their cached handles are gone with them.
    databases.withLock { cache in
      for database in deleted { cache.removeValue(forKey: database.name) }
    }
  }

  /// Writes a consistent copy of the environment into another directory (`mdb_env_copy2`):
  /// with `compacting`, free pages are left out and pages renumbered, so the copy is as small as
  /// the live data allows. Readers and a writer may go on meanwhile; the copy is one snapshot.
  ///
  /// - Parameters:
  ///   - directory: an existing, empty directory.
  ///   - compacting: leave free pages out (`MDB_CP_COMPACT`).
  /// - Throws: ``LMDBError`` (`EEXIST` when the directory already holds a data file, `ENOSPC`).
  public func copy(to directory: String, compacting: Bool) throws(LMDBError) {
    try check(mdb_env_copy2(handle, directory, compacting ? UInt32(MDB_CP_COMPACT) : 0))
  }
}

/// LMDB's assertion handler: an assertion inside LMDB means a page of the data file is not what
/// its parent page says (a damaged file; LMDB keeps no checksums). LMDB would `abort()` right
/// after this returns, so the process says which file and what to do, and exits with status 1
/// instead. An open write transaction is simply not committed, as after `kill -9`.
private func reportDamagedPagesAndExit(
  _ environment: OpaquePointer?, _ message: UnsafePointer<CChar>?
) {
  var path: UnsafePointer<CChar>?
  if let environment { mdb_env_get_path(environment, &path) }
  let directory = path.map { String(cString: $0) } ?? "?"
  let detail = message.map { String(cString: $0) } ?? "?"
  let advice = DamagedDataAdvice.text(for: directory)
  let text =
    "Error: store \(directory): data.mdb is damaged: LMDB found a page inconsistent with the pages that point to it (\(detail)); the store cannot be read past this page: restore it from a copy\(advice)\n"
  _ = text.withCString { write(2, $0, strlen($0)) }
  _exit(1)
}

private struct WeakEnvironment {
  weak var environment: Environment?
}
