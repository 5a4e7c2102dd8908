import CKernels
import LMDB
import Plumbing
import VectorMath
import VectorStore

/// A persisted LSH index over a store's vectors: parameters and L hash tables live in the
/// store's LMDB environment, are searched in place from its memory map, and every change to the
/// store's items updates them in the same transaction (the index attaches itself to the store as
/// a ``StoreIndexHook``).
///
/// | database | key | value |
/// |---|---|---|
/// | `lsh.params` | `config`, `mean`, `basis`, `variances`, `hasher`, `coder` | JSON configuration (with `"format": 2`); little-endian `Float32` arrays |
/// | `lsh.table.T` | bucket code, `UInt64` in the machine's order (integer keys) | entries (duplicate-sorted, fixed size): the item's compact code (``CompactCoder``), then its id, `UInt64` big-endian |
public final class LSHIndex: StoreIndexHook, @unchecked Sendable {
  /// The name the store records for this index.
  public static let name = "lsh"
  /// The name the store records for this index.
  public var indexName: String { Self.name }
  /// The layout of the tables this version writes and reads (1: ids only, sketches apart).
  public static let format = 2

  /// The store indexed. The store keeps its attached index alive, and the index refers back
  /// without owning it (so that neither keeps the other, and the LMDB environment, open
  /// forever): keep the store while you use its index.
  public unowned let store: VectorStore
  /// Projection, hashing and compact codes.
  public let encoder: ItemEncoder
  /// The parameters (with the bucket width resolved).
  public var configuration: LSHConfiguration { encoder.model.configuration }
  /// The hashing and projection parameters, as searches use them.
  public var model: LSHModel { encoder.model }
  let parametersDatabase: Database
  let tableDatabases: [Database]
  /// Which build of the store's index this is (see ``Version``).
  let version: Version

  private init(
    store: VectorStore, encoder: ItemEncoder, parametersDatabase: Database,
    tableDatabases: [Database], version: Version
  ) {
    self.store = store
    self.encoder = encoder
    self.parametersDatabase = parametersDatabase
    self.tableDatabases = tableDatabases
    self.version = version
  }

  /// What tells one build of a store's index from another: a random generation drawn by every
  /// build and rebuild, and the parameters' checksum (indexes written before generations were
  /// recorded have none; their checksum alone tells them apart).
  struct Version: Equatable {
    var generation: UInt64?
    var checksum: UInt32?
  }

  /// The `lsh.params` key of the build's generation (`UInt64`, little-endian).
  static let generationKey = "generation"

  /// The version a transaction records (both parts `nil` when it records no parameters).
  static func storedVersion(_ txn: Transaction, _ parameters: Database) throws -> Version {
    let generation = try txn.value(forKey: generationKey, in: parameters).flatMap { bytes in
      bytes.count == 8 ? UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self)) : nil
    }
    let checksum = try txn.value(forKey: checksumKey, in: parameters).flatMap { bytes in
      bytes.count == 4 ? UInt32(littleEndian: bytes.loadUnaligned(as: UInt32.self)) : nil
    }
    return Version(generation: generation, checksum: checksum)
  }

  /// Whether this index is the one `writer`'s transaction records (see ``StoreIndexHook``).
  ///
  /// - Parameter writer: the transaction.
  /// - Returns: `true` when its parameters are that transaction's.
  /// - Throws: ``LMDBError``.
  public func isCurrent(in writer: StoreWriter) throws -> Bool {
    try Self.storedVersion(writer.transaction, parametersDatabase) == version
  }

  /// The index as `snapshot` records it: this one, or the one this process attached since
  /// (after another process rebuilt it), so that a search never hashes with one build's
  /// functions and reads another build's tables.
  ///
  /// - Parameter snapshot: a read snapshot of the store.
  /// - Returns: the index to search in that snapshot.
  /// - Throws: ``IndexReopenNeeded`` when this process has not opened the snapshot's index yet
  ///   (the store reopens it and runs the read again); ``LSHError`` of kind `dropped` when the
  ///   snapshot has no index.
  func resolved(in snapshot: StoreSnapshot) throws -> LSHIndex {
    let recorded = try snapshot.metadata(VectorStore.indexesKey)?.split(separator: ",") ?? []
    guard recorded.contains(Substring(Self.name)) else {
      throw LSHError(
        .dropped, "store \(store.path): its LSH index was dropped after this command opened it")
    }
    let stored = try Self.storedVersion(snapshot.transaction, parametersDatabase)
    if stored == version { return self }
    if let attached = store.attachedIndex(named: Self.name) as? LSHIndex,
      attached.version == stored
    {
      return attached
    }
    throw IndexReopenNeeded(indexName: Self.name)
  }

  /// The metadata key holding what the index measured against exact search on its store when
  /// it was built (`"LSH_µs EXACT_µs"`, single-threaded); removed whenever the index changes.
  public static let speedKey = "lsh_speed"

  /// Records the index's measured speed against exact search (see ``speedKey``).
  ///
  /// - Parameters:
  ///   - lsh: microseconds per query with the index.
  ///   - exact: microseconds per query of exact search.
  /// - Throws: ``VectorStoreError``.
  public func recordSpeed(lsh: Double, exact: Double) throws {
    try store.setMetadata(Self.speedKey, "\(lsh) \(exact)")
  }

  /// What ``recordSpeed(lsh:exact:)`` recorded for the store's index, if anything.
  ///
  /// - Parameter store: the store.
  /// - Returns: microseconds per query with the index and with exact search.
  /// - Throws: ``VectorStoreError``.
  public static func recordedSpeed(of store: VectorStore) throws -> (lsh: Double, exact: Double)? {
    parsedSpeed(try store.metadata(speedKey))
  }

  /// The recorded speeds as a snapshot sees them (no transaction of its own).
  ///
  /// - Parameter snapshot: the snapshot.
  /// - Returns: microseconds per query of LSH and of exact search, or `nil`.
  /// - Throws: `VectorStoreError`.
  public static func recordedSpeed(in snapshot: StoreSnapshot) throws -> (
    lsh: Double, exact: Double
  )? {
    parsedSpeed(try snapshot.metadata(speedKey))
  }

  private static func parsedSpeed(_ text: String?) -> (lsh: Double, exact: Double)? {
    guard let text else { return nil }
    let parts = text.split(separator: " ").compactMap { Double($0) }
    guard parts.count == 2, parts.allSatisfy({ $0.isFinite && $0 > 0 }) else { return nil }
    return (parts[0], parts[1])
  }

  static let parametersName = "lsh.params"
  /// The sketches of format 1 (removed when an index is rebuilt or dropped).
  static let formerSketchName = "lsh.sketch"
  static func tableName(_ table: Int) -> String { "lsh.table.\(table)" }
  /// Tables: integer keys (bucket codes compare as numbers), fixed-size sorted duplicates.
  static let tableFlags: Database.Flags = [.duplicateSort, .duplicateFixed, .integerKey]
  /// The tables of format 1.
  static let formerTableFlags: Database.Flags = [.duplicateSort, .duplicateFixed]
  /// The index's databases (parameters, then tables) with their sizes.
  ///
  /// - Returns: name and statistics per database.
  /// - Throws: ``VectorStoreError`` of kind `storage`.
  public func databaseStatistics() throws -> [(name: String, statistics: DatabaseStatistics)] {
    try store.statistics(of: [parametersDatabase] + tableDatabases)
  }

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
    let environment = store.environment
    guard let parameters = try? environment.database(named: parametersName) else {
      throw LSHError(
        .needsRebuild, "store \(store.path): its LSH index parameters are missing"
      )
    }
    let loaded: Result<(ItemEncoder, Version), LSHError> = try environment.read { txn in
      guard let configText = try txn.value(forKey: "config", in: parameters),
        let json = try? JSONValue.parse(String(decoding: configText, as: UTF8.self)),
        let configuration = try? LSHConfiguration(json: json)?.validated(
          forDimension: store.dimension)
      else {
        return .failure(
          LSHError(
            .needsRebuild, "store \(store.path): its LSH index parameters are damaged"
          ))
      }
      guard json["format"]?.intValue == format else {
        return .failure(
          LSHError(
            .needsRebuild,
            "store \(store.path): its LSH index was built by an earlier version (table format \(json["format"]?.intValue ?? 1); this one reads \(format))"
          ))
      }
      if let recorded = try txn.value(forKey: checksumKey, in: parameters),
        try recorded.count != 4
          || recorded.loadUnaligned(as: UInt32.self).littleEndian
            != parametersChecksum(txn, parameters)
      {
        return .failure(
          LSHError(
            .needsRebuild,
            "store \(store.path): its LSH index parameters fail their checksum (damaged)"
          ))
      }
      func floats(_ key: String) throws -> [Float] {
        guard let bytes = try txn.value(forKey: key, in: parameters) else { return [] }
        return LittleEndianFloats.values(in: bytes)
      }
      let mean = try floats("mean")
      let basis = try floats("basis")
      let variances = try floats("variances")
      let hasherParameters = try floats("hasher")
      guard mean.count == store.dimension,
        basis.count == store.dimension * configuration.sketchDimensions,
        variances.count == configuration.sketchDimensions,
        hasherParameters.count
          == BucketHasher.parameterCount(
            family: configuration.family, tables: configuration.tables,
            hashesPerTable: configuration.hashesPerTable,
            dimensions: configuration.hashDimensions),
        (mean + basis + variances + hasherParameters).allSatisfy({ $0.isFinite }),
        let coder = CompactCoder(parameters: try floats("coder")),
        coder.dimensions == configuration.sketchDimensions
      else {
        return .failure(
          LSHError(
            .needsRebuild, "store \(store.path): its LSH index parameters are damaged"
          ))
      }
      let transform = DataTransform(
        inputDimension: store.dimension, outputDimension: configuration.sketchDimensions,
        mean: mean, basis: basis, variances: variances)
      let hasher = BucketHasher(
        family: configuration.family, tables: configuration.tables,
        hashesPerTable: configuration.hashesPerTable,
        dimensions: configuration.hashDimensions,
        bucketWidth: Float(configuration.bucketWidth ?? 1),
        parameters: hasherParameters)
      let model = LSHModel(
        configuration: configuration, transform: transform, hasher: hasher, metric: store.metric)
      return .success(
        (ItemEncoder(model: model, coder: coder), try storedVersion(txn, parameters)))
    }
    let (encoder, version) = try loaded.get()
    let index = LSHIndex(
      store: store, encoder: encoder, parametersDatabase: parameters,
      tableDatabases: try (0..<encoder.model.configuration.tables).map {
        try environment.database(named: tableName($0), flags: tableFlags)
      }, version: version)
    store.attach(index)
    return index
  }

  /// Fits a configuration's projection, hashes and compact codes to up to `sampleSize` vectors
  /// spread evenly over a source: what a stored index and an index in memory are built from.
  ///
  /// - Parameters:
  ///   - configuration: the settings, validated here; a missing p-stable width is estimated.
  ///   - source: the vectors to index.
  ///   - sampleSize: the most vectors fitted on.
  ///   - name: the source in messages ("store PATH").
  /// - Returns: the encoder.
  /// - Throws: ``LSHError`` for bad settings, fewer than 2 vectors, or principal components
  ///   that cannot be computed.
  static func fitEncoder(
    _ configuration: LSHConfiguration, over source: some VectorSource, sampleSize: Int,
    describedAs name: String
  ) throws -> ItemEncoder {
    let validated = try configuration.validated(forDimension: source.dimension)
    let sample = sampleVectors(source, limit: sampleSize)
    guard sample.rows >= 2 else {
      throw LSHError(.tooFewItems, "\(name) holds fewer than 2 items; nothing to index")
    }
    return try fitEncoder(validated, sample: sample, metric: source.metric, describedAs: name)
  }

  /// Fits the projection, hashes and compact codes of a configuration to a sample.
  ///
  /// - Parameters:
  ///   - configuration: validated settings; a missing p-stable width is estimated.
  ///   - sample: vectors, one per row.
  ///   - metric: the store's metric.
  ///   - name: where the sample came from, in messages ("store PATH").
  /// - Returns: the encoder.
  /// - Throws: ``LSHError`` when the principal components cannot be computed.
  static func fitEncoder(
    _ configuration: LSHConfiguration, sample: Matrix, metric: DistanceMetric,
    describedAs name: String
  ) throws -> ItemEncoder {
    var resolved = configuration
    guard let transform = DataTransform.fit(sample, components: resolved.sketchDimensions) else {
      throw LSHError("the principal components of \(name) could not be computed")
    }
    if resolved.family == .pstable && resolved.bucketWidth == nil {
      resolved.bucketWidth = Double(
        Self.estimateWidth(transform.project(sample), dimensions: resolved.hashDimensions))
    }
    let hasher = BucketHasher(
      family: resolved.family, tables: resolved.tables, hashesPerTable: resolved.hashesPerTable,
      dimensions: resolved.hashDimensions, bucketWidth: Float(resolved.bucketWidth ?? 1),
      seed: resolved.seed)
    let model = LSHModel(
      configuration: resolved, transform: transform, hasher: hasher, metric: metric)
    return ItemEncoder(model: model, coder: fitCoder(model: model, sample: sample))
  }

  /// Compact-code ranges fitted to a sample's projections.
  static func fitCoder(model: LSHModel, sample: Matrix) -> CompactCoder {
    let unfitted = ItemEncoder(
      model: model,
      coder: CompactCoder(
        dimensions: 0, edges: [], residualStep: 1, residualSlack: 0))
    var scratch = unfitted.makeScratch()
    let width = model.configuration.sketchDimensions
    var projections: [Float] = []
    projections.reserveCapacity(sample.rows * width)
    var residuals: [Float] = []
    var norms: [Float] = []
    sample.values.withUnsafeBufferPointer { values in
      for row in 0..<sample.rows {
        let vector = UnsafeBufferPointer(
          rebasing: values[(row * sample.columns)..<((row + 1) * sample.columns)])
        residuals.append(unfitted.project(vector, into: &scratch))
        projections += scratch.projection
        var norm: Float = 0
        for (value, mean) in zip(vector, model.transform.mean) {
          norm += (value - mean) * (value - mean)
        }
        norms.append(norm.squareRoot())
      }
    }
    return CompactCoder.fit(
      projections: projections, columns: width, residuals: residuals, norms: norms,
      dimensions: width)
  }

  /// Builds (or rebuilds) the index of a store in one write transaction and attaches it.
  ///
  /// - Parameters:
  ///   - store: the store (opened for writing).
  ///   - configuration: the parameters; a missing p-stable width is estimated from the data.
  ///   - sampleSize: vectors used to learn the centring, principal components and code ranges.
  /// - Returns: the index.
  /// - Throws: ``LSHError`` for bad parameters or a store of fewer than 2 items;
  ///   ``VectorStoreError``.
  @discardableResult
  public static func build(
    on store: VectorStore, configuration: LSHConfiguration, sampleSize: Int = 20_000
  ) throws -> LSHIndex {
    let encoder = try store.read { snapshot in
      try fitEncoder(
        configuration, over: snapshot, sampleSize: sampleSize, describedAs: "store \(store.path)")
    }
    return try build(on: store, encoder: encoder)
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
    let existing: [Database]
    /// The databases prepared for the new index that did not exist before.
    let created: [Database]

    /// Deletes the databases prepared for a rebuild whose transaction failed, so that a failed
    /// rebuild leaves nothing behind (the former index, if any, is untouched).
    public func discard() {
      try? store.environment.deleteDatabases(created)
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
    let environment = store.environment
    if encoder != nil { try deleteFormerTables(of: store) }
    // Every handle must exist before the write transaction starts: LMDB transactions only know
    // the databases opened before they began.
    let existing = try existingDatabases(environment)
    guard let encoder else {
      return Rebuild(store: store, index: nil, existing: existing, created: [])
    }
    let parameters = try environment.database(named: parametersName, flags: .create)
    let tables = try (0..<encoder.model.configuration.tables).map {
      try environment.database(named: tableName($0), flags: tableFlags.union(.create))
    }
    let index = LSHIndex(
      store: store, encoder: encoder, parametersDatabase: parameters, tableDatabases: tables,
      version: Version(
        generation: UInt64.random(in: 1...UInt64.max),
        checksum: parametersChecksum(of: parameterValues(of: encoder))))
    let before = Set(existing.map(\.name))
    return Rebuild(
      store: store, index: index, existing: existing,
      created: ([parameters] + tables).filter { !before.contains($0.name) })
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
    let environment = store.environment
    let tables = try existingDatabases(environment).filter { $0.name.hasPrefix("lsh.table.") }
    let former = try tables.filter { !(try environment.storedFlags(of: $0).contains(.integerKey)) }
    guard !former.isEmpty else { return }
    try drop(from: store)
    try environment.deleteDatabases(former)
  }

  /// The index databases present in an environment (from any earlier index).
  private static func existingDatabases(_ environment: Environment) throws -> [Database] {
    var databases: [Database] = []
    for name in [parametersName, formerSketchName] {
      if let database = try? environment.database(named: name) { databases.append(database) }
    }
    var table = 0
    while let database =
      (try? environment.database(named: tableName(table), flags: tableFlags))
      ?? (try? environment.database(named: tableName(table), flags: formerTableFlags))
    {
      databases.append(database)
      table += 1
    }
    return databases
  }

  /// Up to `limit` live vectors spread evenly over the store.
  static func sampleVectors(_ store: VectorStore, limit: Int) throws -> Matrix {
    try store.read { snapshot in sampleVectors(snapshot, limit: limit) }
  }

  /// Up to `limit` live vectors spread evenly over a source, in id order.
  static func sampleVectors(_ source: some VectorSource, limit: Int) -> Matrix {
    let stride = max(1, source.count / max(limit, 1))
    var sample = Matrix(rows: 0, columns: source.dimension)
    var seen = 0
    for block in source.blocks {
      for row in 0..<block.rowCount where !block.isDeleted(row) {
        if seen % stride == 0 && sample.rows < limit {
          sample.append(
            rows: Array(
              UnsafeBufferPointer(
                start: block.values + row * source.dimension, count: source.dimension)))
        }
        seen += 1
      }
    }
    return sample
  }

  /// A p-stable width from the data: 2.5 × the 90th percentile of the distance of 200 sample
  /// points to their 10th nearest sample neighbour, in hash space (wide enough for the sparse
  /// regions, where neighbours are far; dense regions are handled by the candidate budget).
  static func estimateWidth(_ projected: Matrix, dimensions: Int) -> Float {
    let points = min(projected.rows, 200)
    var distances: [Float] = []
    for point in 0..<points {
      let row = point * projected.rows / points
      var nearest = TopK(k: min(10, projected.rows - 1))
      for other in 0..<projected.rows where other != row {
        var sum: Float = 0
        for column in 0..<dimensions {
          let difference = projected[row, column] - projected[other, column]
          sum += difference * difference
        }
        nearest.insert(id: UInt64(other), distance: sum)
      }
      if let last = nearest.sorted().last { distances.append(last.distance.squareRoot()) }
    }
    distances.sort()
    return max(distances.isEmpty ? 1 : 2.5 * distances[distances.count * 9 / 10], 1e-6)
  }

  /// The `lsh.params` key of the CRC32C over the other parameters.
  static let checksumKey = "checksum"
  /// The parameter keys the checksum covers, in order.
  static let checksummedKeys = ["config", "mean", "basis", "variances", "hasher", "coder"]

  /// CRC32C of the parameters as stored (each key's value length, then its bytes).
  static func parametersChecksum(_ txn: Transaction, _ parameters: Database) throws -> UInt32 {
    try parametersChecksum(
      of: checksummedKeys.map { key in
        try txn.value(forKey: key, in: parameters) ?? UnsafeRawBufferPointer(start: nil, count: 0)
      })
  }

  /// CRC32C of parameter values given in the order of ``checksummedKeys``.
  static func parametersChecksum(of values: [some Collection<UInt8>]) -> UInt32 {
    var crc: UInt32 = 0
    for value in values {
      withUnsafeBytes(of: UInt32(value.count).littleEndian) {
        crc = tripindex_crc32c(crc, $0.baseAddress, $0.count)
      }
      let bytes = Array(value)
      bytes.withUnsafeBytes { crc = tripindex_crc32c(crc, $0.baseAddress, $0.count) }
    }
    return crc
  }

  /// The bytes stored under each of ``checksummedKeys`` for an encoder, in that order.
  static func parameterValues(of encoder: ItemEncoder) -> [[UInt8]] {
    let model = encoder.model
    var json = model.configuration.json
    if case .object(var fields) = json {
      fields.append(("format", .integer(format)))
      json = .object(fields)
    }
    return [Array(json.serialized().utf8)]
      + [
        model.transform.mean, model.transform.basis, model.transform.variances,
        model.hasher.parameters, encoder.coder.parameters,
      ].map(littleEndianBytes)
  }

  func writeParameters(in writer: StoreWriter) throws {
    let txn = writer.transaction
    for (key, value) in zip(Self.checksummedKeys, Self.parameterValues(of: encoder)) {
      try txn.put(value, forKey: key, in: parametersDatabase)
    }
    try txn.put(
      withUnsafeBytes(of: (version.checksum ?? 0).littleEndian) { Array($0) },
      forKey: Self.checksumKey,
      in: parametersDatabase)
    try txn.put(
      withUnsafeBytes(of: (version.generation ?? 0).littleEndian) { Array($0) },
      forKey: Self.generationKey, in: parametersDatabase)
  }

  static func littleEndianBytes(_ values: [Float]) -> [UInt8] {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(values.count * 4)
    for value in values { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 } }
    return bytes
  }

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

  /// Lends `body` a searcher over the tables in the store's memory map, inside a read snapshot:
  /// nothing is loaded; every query reads the buckets it needs in place. The searcher is
  /// borrowed: it cannot outlive the call (and so the snapshot's transaction).
  ///
  /// ```swift
  /// let found = try store.read { snapshot in
  ///   try index.withSearcher(in: snapshot) { try $0.search(probes, k: 10) }
  /// }
  /// ```
  ///
  /// - Parameters:
  ///   - snapshot: a read snapshot of the indexed store.
  ///   - body: the searches.
  /// - Returns: what `body` returns.
  public func withSearcher<R>(
    in snapshot: StoreSnapshot, _ body: (borrowing LSHSearcher) throws -> R
  ) throws -> R {
    try body(searcher(in: snapshot))
  }

  /// The searcher ``withSearcher(in:_:)`` lends (for this module's own measurements), over the
  /// index as `snapshot` records it (see ``resolved(in:)``).
  func searcher(in snapshot: StoreSnapshot) throws -> LSHSearcher {
    let index = try resolved(in: snapshot)
    return LSHSearcher(
      encoder: index.encoder, source: snapshot,
      tables: .mapped(index.tableDatabases, snapshot.transaction))
  }
}
