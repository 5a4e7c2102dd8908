import CKernels
import Plumbing
import StorageBackend
import VectorMath
import VectorStore

/// Opening, building, rebuilding and dropping an index.
extension LSHIndex {
  /// Opens the index of a store and attaches it, or returns `nil` when the store has none.
  ///
  /// Call it before any read transaction that will search with it begins: LMDB makes the
  /// databases it opens visible only to transactions that start afterwards.
  ///
  /// - Parameter store: the store.
  /// - Returns: the index, or `nil`.
  /// - Throws: ``LSHError`` for a damaged or outdated index, ``VectorStoreError`` for LMDB
  ///   failures.
  public static func open(_ store: VectorStore) throws -> LSHIndex? {
    // A transaction that finds the index rebuilt, created or dropped by another process
    // reopens it through this and runs again (see ``StoreIndexHook``).
    store.registerIndexOpener(named: name) { store in _ = try LSHIndex.open(store) }
    let recorded =
      try store.metadata(VectorStore.indexesKey)?.split(separator: ",").map(String.init) ?? []
    guard recorded.contains(name) else {
      store.detachIndex(named: name)
      return nil
    }
    let engine = store.engine
    guard let parameters = try? engine.table(named: parametersName, layout: [], creating: false)
    else {
      throw LSHError(
        .needsRebuild, "store \(store.path): its LSH index parameters are missing"
      )
    }
    let loaded: Result<(ItemEncoder, Version), LSHError> = try engine.read { txn in
      do {
        let encoder = try ItemEncoder(
          storedParameters: { key in
            try txn.value(forKey: key, in: parameters).map { Array($0) }
          }, dimension: store.dimension, metric: store.metric, location: "store \(store.path)")
        return .success((encoder, try storedVersion(txn, parameters)))
      } catch let error as LSHError {
        return .failure(error)
      }
    }
    let (encoder, version) = try loaded.get()
    let index = LSHIndex(
      store: store, encoder: encoder, parametersTable: parameters,
      bucketTables: try (0..<encoder.model.configuration.tables).map {
        try engine.table(named: tableName($0), layout: tableLayout, creating: false)
      },
      packedTable: try? engine.table(named: packedName, layout: packedLayout, creating: false),
      version: version)
    store.attach(index)
    return index
  }

  /// Builds (or rebuilds) the index of a store in one write transaction and attaches it.
  ///
  /// - Parameters:
  ///   - store: the store (opened for writing).
  ///   - configuration: the parameters; a missing p-stable width is estimated from the data.
  ///   - sampleSize: vectors used to learn the centring, principal components and code ranges.
  ///   - progress: receives the stage being worked on (fitting, then hashing and writing).
  /// - Returns: the index.
  /// - Throws: ``LSHError`` for bad parameters or a store of fewer than 2 items;
  ///   ``VectorStoreError``.
  @discardableResult
  public static func build(
    on store: VectorStore, configuration: LSHConfiguration, sampleSize: Int = fittingSampleSize,
    progress: (String) -> Void = { _ in }
  ) throws -> LSHIndex {
    let (encoder, items) = try store.read { snapshot in
      progress(fittingStage(configuration, sampleSize: sampleSize, items: snapshot.count))
      return (
        try fitEncoder(
          configuration, over: snapshot, sampleSize: sampleSize,
          describedAs: "store \(store.path)"),
        snapshot.count
      )
    }
    progress(
      "hashing and coding \(TextFormatting.grouped(items)) items into \(configuration.tables) tables, then writing them"
    )
    return try build(on: store, encoder: encoder)
  }

  /// The status line of fitting an index (a store's, or a Redis store's): what is fitted on
  /// how many items.
  public static func fittingStage(
    _ configuration: LSHConfiguration, sampleSize: Int, items: Int
  ) -> String {
    "fitting the index (\(configuration.summary)) on up to \(TextFormatting.grouped(sampleSize)) of \(TextFormatting.grouped(items)) items"
  }

  /// Builds (or rebuilds) the index of a store with fitted parameters (what ``LSHTuner``
  /// measured) in one write transaction and attaches it.
  ///
  /// - Parameters:
  ///   - store: the store (opened for writing).
  ///   - encoder: the projection, hash functions and compact codes.
  /// - Returns: the index.
  /// - Throws: ``VectorStoreError``.
  @discardableResult
  public static func build(on store: VectorStore, encoder: ItemEncoder) throws -> LSHIndex {
    let rebuild = try prepareRebuild(of: store, encoder: encoder)
    do {
      try store.write { writer in try rebuild.apply(in: writer) }
    } catch {
      rebuild.discard()
      throw error
    }
    guard let index = rebuild.attach() else {
      throw LSHError("store \(store.path): no index was built")
    }
    return index
  }

  /// A rebuild (or a drop) of a store's index prepared outside any transaction, to be applied
  /// inside one write transaction of the caller's (``apply(in:)``), with other changes.
  public struct Rebuild {
    let store: VectorStore
    /// The new index; `nil` for a drop.
    let index: LSHIndex?
    /// Every index database present before, emptied when applied.
    let existing: [StorageTable]
    /// The databases prepared for the new index that did not exist before.
    let created: [StorageTable]

    /// Deletes the databases prepared for a rebuild whose transaction failed, so that a failed
    /// rebuild leaves nothing behind (the former index, if any, is untouched).
    public func discard() {
      try? store.engine.deleteTables(created)
    }

    /// Empties the former index databases, then writes the new index (or records none).
    ///
    /// - Parameter writer: a write transaction of the store.
    /// - Throws: ``VectorStoreError``.
    public func apply(in writer: StoreWriter) throws {
      for database in existing { try writer.transaction.removeAll(in: database) }
      try writer.setMetadata(speedKey, nil)
      if let index {
        try index.writeParameters(in: writer)
        try index.indexEverything(in: writer)
        try index.writePackedTables(in: writer)
        try writer.setIndexNames([name])
      } else {
        try writer.setIndexNames([])
      }
    }

    /// Attaches the new index to the store (detaches the old one for a drop), after the
    /// transaction committed.
    ///
    /// - Returns: the index, or `nil` for a drop.
    @discardableResult
    public func attach() -> LSHIndex? {
      guard let index else {
        store.detachIndex(named: name)
        return nil
      }
      store.attach(index)
      return index
    }
  }

  /// Prepares rebuilding a store's index with an encoder (or dropping it, for `nil`): opens the
  /// databases it needs (which LMDB requires before a write transaction starts) and deletes
  /// tables of an earlier format.
  ///
  /// - Parameters:
  ///   - store: the store (opened for writing).
  ///   - encoder: the projection, hashes and codes, or `nil` to drop the index.
  /// - Returns: the rebuild, to apply inside a write transaction.
  /// - Throws: ``VectorStoreError``.
  public static func prepareRebuild(of store: VectorStore, encoder: ItemEncoder?) throws
    -> Rebuild
  {
    let engine = store.engine
    if encoder != nil { try deleteFormerTables(of: store) }
    // Every handle must exist before the write transaction starts: LMDB transactions only know
    // the databases opened before they began.
    let existing = try existingTables(engine)
    guard let encoder else {
      return Rebuild(store: store, index: nil, existing: existing, created: [])
    }
    let parameters = try engine.table(named: parametersName, layout: [], creating: true)
    let tables = try (0..<encoder.model.configuration.tables).map {
      try engine.table(named: tableName($0), layout: tableLayout, creating: true)
    }
    let packed = try engine.table(named: packedName, layout: packedLayout, creating: true)
    let index = LSHIndex(
      store: store, encoder: encoder, parametersTable: parameters, bucketTables: tables,
      packedTable: packed,
      version: Version(
        generation: UInt64.random(in: 1...UInt64.max),
        checksum: parametersChecksum(of: parameterValues(of: encoder))))
    let before = Set(existing.map(\.name))
    return Rebuild(
      store: store, index: index, existing: existing,
      created: ([parameters] + tables + [packed]).filter { !before.contains($0.name) })
  }

  /// Removes a store's index (parameters and tables, whatever their state) in one transaction.
  /// Needs nothing of the index itself, so a damaged index can always be dropped.
  ///
  /// - Parameter store: the store.
  /// - Throws: ``VectorStoreError``.
  public static func drop(from store: VectorStore) throws {
    let rebuild = try prepareRebuild(of: store, encoder: nil)
    try store.write { writer in try rebuild.apply(in: writer) }
    rebuild.attach()
  }

  /// Deletes tables of an earlier format (keys compared byte by byte), with the rest of that
  /// index, in one transaction, so that tables of this format can take their names.
  private static func deleteFormerTables(of store: VectorStore) throws {
    let engine = store.engine
    let tables = try existingTables(engine).filter { $0.name.hasPrefix("lsh.table.") }
    let former = try tables.filter { !(try engine.storedLayout(of: $0).contains(.integerKeys)) }
    guard !former.isEmpty else { return }
    try drop(from: store)
    try engine.deleteTables(former)
  }

  /// The index databases present in an environment (from any earlier index).
  private static func existingTables(_ engine: any StorageEngine) throws -> [StorageTable] {
    var databases: [StorageTable] = []
    for name in [parametersName, formerSketchName] {
      if let database = try? engine.table(named: name, layout: [], creating: false) {
        databases.append(database)
      }
    }
    if let packed = try? engine.table(named: packedName, layout: packedLayout, creating: false) {
      databases.append(packed)
    }
    var table = 0
    while let database =
      (try? engine.table(named: tableName(table), layout: tableLayout, creating: false))
      ?? (try? engine.table(named: tableName(table), layout: formerTableLayout, creating: false))
    {
      databases.append(database)
      table += 1
    }
    return databases
  }
}
