import StorageBackend
import StorageEngines
import Synchronization
import VectorMath

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The store of items: a vector, a name, a pid and a camera each, under a stable id.
///
/// One store is one storage engine's data (``StorageEngine``; today an LMDB environment, a
/// directory). Dimension and metric are fixed when it is created. Every change is one
/// read-write transaction, so a crash leaves the old state or the new one; readers see
/// consistent snapshots and never block the writer.
///
/// Vectors are kept in blocks of ``blockRows`` consecutive ids, so a reader can hand whole blocks
/// to BLAS and find any id's vector in O(1), straight from the memory map. Ids are assigned in
/// increasing order and never reused; deleting marks a row deleted.
///
/// For the cosine metric, vectors are stored L2-normalised.
public final class VectorStore: @unchecked Sendable {
  /// The store's directory.
  public let path: String
  /// Values per vector.
  public let dimension: Int
  /// How vectors are compared.
  public let metric: DistanceMetric
  /// Ids per block of the `vectors` database.
  public let blockRows: Int
  /// Whether the store was opened read-only.
  public let isReadOnly: Bool

  /// The engine holding the store's tables.
  package let engine: any StorageEngine
  private let hooks = Mutex<[StoreIndexHook]>([])
  private let indexOpeners = Mutex<[String: @Sendable (VectorStore) throws -> Void]>([:])
  /// The layout of the last committed snapshot a read transaction saw (see `SnapshotLayout`).
  let snapshotLayouts = Mutex<SnapshotLayout?>(nil)

  /// The metadata key listing the store's indexes (comma-separated names).
  public static let indexesKey = "indexes"
  let meta: StorageTable
  let vectors: StorageTable
  let deleted: StorageTable
  let items: StorageTable
  let names: StorageTable
  /// The block checksums; `nil` for a schema-1 store opened read-only (it has none yet).
  let checksums: StorageTable?

  /// Each of the store's own databases (vectors, deletion bitmaps, item records, names,
  /// checksums, metadata) with its size, in one read transaction.
  ///
  /// - Returns: name and statistics per database.
  /// - Throws: ``VectorStoreError`` of kind `storage`.
  public func databaseStatistics() throws -> [(name: String, statistics: TableStatistics)] {
    let databases = [vectors, deleted, items, names] + (checksums.map { [$0] } ?? []) + [meta]
    return try statistics(of: databases)
  }

  /// Sizes of some of the engine's tables (say an index's), in one read transaction.
  ///
  /// - Parameter databases: the databases.
  /// - Returns: name and statistics per database.
  /// - Throws: ``VectorStoreError`` of kind `storage`.
  package func statistics(of databases: [StorageTable]) throws -> [(
    name: String, statistics: TableStatistics
  )] {
    do {
      return try engine.read { txn in
        try databases.map { ($0.name, try txn.statistics(of: $0)) }
      }
    } catch {
      throw VectorStoreError(.storage, path: path, "cannot read the databases' sizes: \(error)")
    }
  }

  /// The schema version the store had when it was opened (a writable store is upgraded to the
  /// current one, ``StoreSchema/version``, as it opens): 3 with groups in item records, 2 with
  /// block checksums but no groups, 1 with neither.
  public let schemaVersion: Int

  /// Opens an existing store.
  ///
  /// - Parameters:
  ///   - path: the store's directory.
  ///   - readOnly: open without write access (several processes may read at once anyway).
  /// - Returns: the store.
  /// - Throws: ``VectorStoreError`` of kind `missing` when there is no store at `path`,
  ///   `notAStore` when the directory holds something else.
  public static func open(path: String, readOnly: Bool = false) throws(VectorStoreError)
    -> VectorStore
  {
    guard Self.exists(at: path) else {
      throw VectorStoreError(
        .missing, path: path,
        "no store here (expected \(StoreLocations.expectedContents))"
      )
    }
    return try VectorStore(path: path, readOnly: readOnly, creating: nil)
  }

  /// Opens the store at `path`, creating it with `dimension` and `metric` if it does not exist.
  ///
  /// - Parameters:
  ///   - path: the store's directory.
  ///   - dimension: values per vector; an existing store must have the same.
  ///   - metric: the metric; `nil` accepts an existing store's metric (and means l2 for a new one).
  /// - Returns: the store.
  /// - Throws: ``VectorStoreError`` of kind `dimensionMismatch` or `metricMismatch` naming both
  ///   values, `notAStore`, or `storage`.
  public static func openOrCreate(path: String, dimension: Int, metric: DistanceMetric?)
    throws(VectorStoreError) -> VectorStore
  {
    guard dimension > 0 else {
      throw VectorStoreError(
        .invalidDimension, path: path, "cannot create a store of dimension \(dimension)")
    }
    let existed = access(path, F_OK) == 0
    let store: VectorStore
    do {
      store = try VectorStore(path: path, readOnly: false, creating: (dimension, metric ?? .l2))
    } catch {
      // A store that could not be created (a full disk) leaves no directory behind.
      if !existed { StoreLocations.remove(at: path) }
      throw error
    }
    guard store.dimension == dimension else {
      throw VectorStoreError(
        .dimensionMismatch, path: path,
        "holds \(store.dimension)-dimensional vectors, but the input has dimension \(dimension)")
    }
    if let metric, metric != store.metric {
      throw VectorStoreError(
        .metricMismatch, path: path,
        "uses the \(store.metric.rawValue) metric, but \(metric.rawValue) was asked for; a store's metric is fixed when it is created"
      )
    }
    return store
  }

  /// Removes a store that a command created and then could not fill (its first write
  /// failed), so that a failed command leaves no empty store behind. A store that holds items,
  /// or ever held any, is left alone.
  ///
  /// - Parameter store: the store, created by the caller; do not use it afterwards.
  /// - Returns: whether it was removed.
  @discardableResult
  public static func removeIfNeverWritten(_ store: VectorStore) -> Bool {
    guard (try? store.read({ $0.nextID })) == 0 else { return false }
    StoreLocations.remove(at: store.path)
    return true
  }

  /// Deletes the store at `path` (its files and its directory, which must hold nothing else);
  /// the store must not be open in this process.
  ///
  /// - Parameter path: the store's directory.
  public static func remove(at path: String) {
    StoreLocations.remove(at: path)
  }

  /// Rows per vector block in a store of this dimension (about 256 KiB of floats, a power of
  /// two between 16 and 4096): one exact-search product's rows.
  public static func blockRows(forDimension dimension: Int) -> Int {
    StoreSchema.blockRows(forDimension: dimension)
  }

  /// The bytes a store's data file takes on disk (0 when unknown).
  ///
  /// - Parameter path: the store's directory.
  public static func dataBytes(at path: String) -> Int {
    StoreLocations.dataBytes(at: path)
  }

  /// Whether a store exists at `path`.
  ///
  /// - Parameter path: a directory.
  public static func exists(at path: String) -> Bool {
    StoreLocations.exists(at: path)
  }

  private init(path: String, readOnly: Bool, creating: (dimension: Int, metric: DistanceMetric)?)
    throws(VectorStoreError)
  {
    self.path = path
    self.isReadOnly = readOnly
    do {
      engine = try StoreLocations.open(at: path, readOnly: readOnly)
    } catch {
      throw Self.openingError(error, path: path)
    }
    do {
      // Creating the layout and reading it back happens in one write transaction when writable.
      let layout: (Int, DistanceMetric, Int, Int)
      let engine = self.engine
      let meta = try engine.table(named: StoreSchema.meta, layout: [], creating: !readOnly)
      self.meta = meta
      if readOnly {
        layout = try engine.read { txn in try Self.readLayout(txn, meta: meta, path: path) }
      } else {
        layout = try engine.write { txn in
          if try txn.metaText(StoreSchema.MetaKey.schema, in: meta) == nil {
            guard let creating else {
              throw VectorStoreError(
                .notAStore, path: path, "holds storage without a vector store's metadata")
            }
            try Self.initialise(
              txn, meta: meta, dimension: creating.dimension, metric: creating.metric)
          }
          return try Self.readLayout(txn, meta: meta, path: path)
        }
      }
      let schema: Int
      (dimension, metric, blockRows, schema) = layout
      vectors = try engine.table(named: StoreSchema.vectors, layout: [], creating: !readOnly)
      deleted = try engine.table(named: StoreSchema.deleted, layout: [], creating: !readOnly)
      items = try engine.table(named: StoreSchema.items, layout: [], creating: !readOnly)
      names = try engine.table(named: StoreSchema.names, layout: [], creating: !readOnly)
      if schema != StoreSchema.versionWithoutChecksums || !readOnly {
        checksums = try engine.table(named: StoreSchema.checksums, layout: [], creating: !readOnly)
      } else {
        checksums = nil
      }
      schemaVersion = readOnly ? schema : StoreSchema.version
      if schema != StoreSchema.version && !readOnly { try upgrade(from: schema) }
    } catch let error as VectorStoreError {
      throw error
    } catch let error as any StorageFailure where error.kind == .notFound {
      throw VectorStoreError(
        .notAStore, path: path,
        "holds \(error.engineName) data but not a vector store of this format")
    } catch let error as any StorageFailure {
      throw VectorStoreError.storage(error, path: path, while: "opening")
    } catch {
      throw VectorStoreError(.storage, path: path, "cannot open: \(error)")
    }
  }

  /// What a failed open of the engine means for the store.
  private static func openingError(_ error: StorageOpenError, path: String) -> VectorStoreError {
    switch error.kind {
    case .busy:
      return VectorStoreError(.storage, path: path, "is already open read-only in this process")
    case .diskFull:
      guard let failure = error.failure else {
        return VectorStoreError(.storage, path: path, "cannot open: \(error)")
      }
      return VectorStoreError.storage(failure, path: path, while: "opening")
    case .outOfMemory:
      return VectorStoreError(
        .storage, path: path,
        "cannot map its data into memory: the process has too little address space left (is `ulimit -v` set?); the store maps its whole file, which grows as the store does"
      )
    case .damaged where error.failure == nil:
      return VectorStoreError(.damaged, path: path, error.description)
    case .notEngineData where error.failure == nil:
      return VectorStoreError(.notAStore, path: path, error.description)
    case .missing:
      return VectorStoreError(.missing, path: path, "cannot open: \(error)")
    default:
      return VectorStoreError(.notAStore, path: path, "cannot open: \(error)")
    }
  }

  private static func initialise(
    _ txn: some StorageWriting, meta: StorageTable, dimension: Int, metric: DistanceMetric
  ) throws {
    try txn.setMeta(StoreSchema.MetaKey.schema, String(StoreSchema.version), in: meta)
    try txn.setMeta(StoreSchema.MetaKey.dimension, String(dimension), in: meta)
    try txn.setMeta(StoreSchema.MetaKey.metric, metric.rawValue, in: meta)
    try txn.setMeta(
      StoreSchema.MetaKey.blockRows, String(StoreSchema.blockRows(forDimension: dimension)),
      in: meta)
    try txn.setMeta(StoreSchema.MetaKey.count, "0", in: meta)
    try txn.setMeta(StoreSchema.MetaKey.nextID, "0", in: meta)
    try txn.setMeta(StoreSchema.MetaKey.createdBy, "tripindex", in: meta)
  }

  private static func readLayout(_ txn: some StorageReading, meta: StorageTable, path: String)
    throws
    -> (Int, DistanceMetric, Int, Int)
  {
    guard let schema = try txn.metaInteger(StoreSchema.MetaKey.schema, in: meta) else {
      throw VectorStoreError(
        .notAStore, path: path, "holds storage without a vector store's metadata")
    }
    guard (StoreSchema.versionWithoutChecksums...StoreSchema.version).contains(schema) else {
      throw VectorStoreError(
        .notAStore, path: path,
        "has schema version \(schema); this version reads schema versions \(StoreSchema.versionWithoutChecksums) to \(StoreSchema.version)\(schema > StoreSchema.version ? " (it was written by a newer tripindex)" : "")"
      )
    }
    let dimensionText = try txn.metaText(StoreSchema.MetaKey.dimension, in: meta) ?? "missing"
    guard let dimension = Int(dimensionText), dimension > 0,
      dimension <= VectorLimits.maximumDimension
    else {
      throw VectorStoreError.damaged(
        path: path,
        "its meta 'dimension' is \(dimensionText); expected 1…\(VectorLimits.maximumDimension)")
    }
    let metricName = try txn.metaText(StoreSchema.MetaKey.metric, in: meta) ?? "missing"
    guard let metric = DistanceMetric(rawValue: metricName) else {
      throw VectorStoreError.damaged(
        path: path, "its meta 'metric' is '\(metricName)'; expected l2 or cosine")
    }
    let blockRows = try txn.metaInteger(StoreSchema.MetaKey.blockRows, in: meta)
    guard blockRows == StoreSchema.blockRows(forDimension: dimension) else {
      throw VectorStoreError.damaged(
        path: path,
        "its meta 'block_rows' is \(blockRows.map(String.init) ?? "missing"), but \(dimension)-dimensional stores use \(StoreSchema.blockRows(forDimension: dimension)) (is 'dimension' damaged?)"
      )
    }
    return (dimension, metric, StoreSchema.blockRows(forDimension: dimension), schema)
  }

  /// Upgrades a store of an earlier schema in one transaction: item records get their group
  /// (unknown), and every checksum is recorded again from the data (a schema-1 store had none).
  private func upgrade(from schema: Int) throws {
    try write { writer in
      let txn = writer.transaction
      var records: [(UInt64, [UInt8])] = []
      let headerBytes = StoreSchema.itemHeaderBytes(schema: schema)
      _ = try txn.forEachEntry(in: items) { current in
        guard let key = BigEndianKey(bytes: current.key),
          let (labels, name) = StoreSchema.decodeItem(current.value, headerBytes: headerBytes)
        else {
          throw VectorStoreError.damaged(
            path: path, "an item record is too short to upgrade from schema \(schema)")
        }
        records.append((key.value, StoreSchema.encodeItem(labels: labels, name: name)))
      }
      for (id, record) in records { try txn.put(record, forKey: BigEndianKey(id), in: items) }
      try writer.recordAllChecksums()
      try txn.setMeta(StoreSchema.MetaKey.schema, String(StoreSchema.version), in: meta)
    }
  }

  /// The number of live items.
  ///
  /// - Returns: the count.
  /// - Throws: ``VectorStoreError`` of kind `storage`.
  public func count() throws -> Int {
    try read { $0.count }
  }

  /// A metadata value (for example the model fingerprint other modules record).
  ///
  /// - Parameter key: the metadata name.
  /// - Returns: its text, or `nil`.
  /// - Throws: ``VectorStoreError`` of kind `storage`.
  public func metadata(_ key: String) throws -> String? {
    try read { try $0.metadata(key) }
  }

  /// Sets a metadata value in its own transaction.
  ///
  /// - Parameters:
  ///   - key: the metadata name (not one of the store's own layout keys).
  ///   - value: its text, or `nil` to remove it.
  /// - Throws: ``VectorStoreError`` of kind `storage`.
  public func setMetadata(_ key: String, _ value: String?) throws {
    try write { try $0.setMetadata(key, value) }
  }

  /// Runs `body` on a consistent, read-only snapshot of the store.
  ///
  /// - Parameter body: the work; vectors it sees point into the memory map and are valid only
  ///   inside it. It runs again, on a newer snapshot, when it throws ``IndexReopenNeeded`` (an
  ///   index changed by another process is reopened first).
  /// - Returns: what `body` returns.
  /// - Throws: ``VectorStoreError`` for storage failures; errors `body` throws pass through unchanged.
  public func read<R>(_ body: (StoreSnapshot) throws -> R) throws -> R {
    try reopeningStaleIndexes {
      do {
        return try engine.read { txn in
          let snapshot = try StoreSnapshot(store: self, transaction: txn)
          return try body(snapshot)
        }
      } catch let error as any StorageFailure {
        throw VectorStoreError.storage(error, path: path, while: "reading")
      }
    }
  }

  /// Runs `body` in one read-write transaction: everything it does is committed together, or
  /// nothing if it throws.
  ///
  /// - Parameter body: the changes; it may run again from the start if the map must grow or an
  ///   attached index was rebuilt by another process (it is reopened first), so it should have
  ///   no effects outside the transaction.
  /// - Returns: what `body` returns.
  /// - Throws: ``VectorStoreError`` for storage failures; errors `body` throws pass through unchanged.
  public func write<R>(_ body: (StoreWriter) throws -> R) throws -> R {
    guard !isReadOnly else {
      throw VectorStoreError(.storage, path: path, "was opened read-only")
    }
    return try reopeningStaleIndexes {
      do {
        return try engine.write { txn in
          let writer = StoreWriter(store: self, transaction: txn)
          let result = try body(writer)
          try writer.finish()
          return result
        }
      } catch let error as any StorageFailure {
        throw VectorStoreError.storage(error, path: path, while: "writing")
      }
    }
  }

  /// How often one read or write may find an index changed under it before it gives up (each
  /// time means another process rebuilt the index meanwhile).
  static let maximumIndexReopens = 64

  /// Runs a transaction, and again after reopening an index whenever it throws
  /// ``IndexReopenNeeded`` (another process rebuilt, created or dropped the index since this
  /// process opened it).
  private func reopeningStaleIndexes<R>(_ transaction: () throws -> R) throws -> R {
    var reopens = 0
    while true {
      do {
        return try transaction()
      } catch let stale as IndexReopenNeeded {
        reopens += 1
        guard reopens <= Self.maximumIndexReopens,
          let opener = indexOpeners.withLock({ $0[stale.indexName] })
        else {
          throw VectorStoreError(
            .storage, path: path,
            "its \(stale.indexName) index changed \(reopens) times while one transaction was trying to use it; try again when no other process is rebuilding it"
          )
        }
        try opener(self)
      }
    }
  }

  /// Registers how this process opens (and attaches, or detaches when the store no longer
  /// records it) the index called `name`, so that a transaction that finds the index changed by
  /// another process can reopen it and run again instead of failing or using stale parameters.
  ///
  /// - Parameters:
  ///   - name: the index's name, as recorded in the store's metadata.
  ///   - opener: opens the index as the store now records it, outside any transaction.
  public func registerIndexOpener(
    named name: String, _ opener: @escaping @Sendable (VectorStore) throws -> Void
  ) {
    indexOpeners.withLock { $0[name] = opener }
  }

  /// Whether an opener is registered for the index called `name`.
  func canReopenIndex(named name: String) -> Bool {
    indexOpeners.withLock { $0[name] != nil }
  }

  /// Writes a compacted copy of the store (one consistent snapshot, free pages left out) into
  /// an existing empty directory.
  ///
  /// - Parameter directory: the copy's directory.
  /// - Throws: ``VectorStoreError`` of kind `storage`.
  public func copyCompacted(to directory: String) throws {
    do {
      try engine.copyCompacted(to: directory)
    } catch {
      throw VectorStoreError.storage(error, path: path, while: "copying to \(directory)")
    }
  }

  /// Attaches an index so that every later change keeps it in step (see ``StoreIndexHook``).
  ///
  /// - Parameter hook: the index.
  public func attach(_ hook: StoreIndexHook) {
    hooks.withLock { hooks in
      hooks.removeAll { $0.indexName == hook.indexName }
      hooks.append(hook)
    }
  }

  /// Detaches the index called `name`.
  ///
  /// - Parameter name: the index's name.
  public func detachIndex(named name: String) {
    hooks.withLock { $0.removeAll { $0.indexName == name } }
  }

  /// The attached indexes.
  var attachedHooks: [StoreIndexHook] { hooks.withLock { $0 } }

  /// The attached index called `name`, if any.
  ///
  /// - Parameter name: the index's name.
  /// - Returns: the index.
  public func attachedIndex(named name: String) -> StoreIndexHook? {
    hooks.withLock { $0.first { $0.indexName == name } }
  }

  /// The bytes of a block's deleted-rows bitmap (one bit per row).
  var bitmapBytes: Int { (blockRows + 7) / 8 }

  /// The first id of the block holding `id`.
  @inline(__always)
  func blockStart(of id: UInt64) -> UInt64 { id - id % UInt64(blockRows) }
}
