import LMDB
import Synchronization
import VectorIO
import VectorMath
import VectorStore

/// A persisted LSH index over a store's vectors: parameters, sketches and L hash tables live in
/// the store's LMDB environment, and every change to the store's items updates them in the same
/// transaction (the index attaches itself to the store as a ``StoreIndexHook``).
///
/// | database | key | value |
/// |---|---|---|
/// | `lsh.params` | `config`, `mean`, `basis`, `variances`, `hasher` | JSON configuration; little-endian `Float32` arrays |
/// | `lsh.sketch` | first id of a block, `UInt64` big-endian | the block's sketches, `sketchDimensions` floats per row |
/// | `lsh.table.T` | bucket code, `UInt64` big-endian | ids, `UInt64` big-endian (duplicate-sorted, fixed size) |
public final class LSHIndex: StoreIndexHook, @unchecked Sendable {
  /// The name the store records for this index.
  public static let name = "lsh"
  /// The name the store records for this index.
  public var indexName: String { Self.name }

  /// The store indexed.
  public let store: VectorStore
  /// The parameters (with the bucket width resolved).
  public let configuration: LSHConfiguration
  /// Centring and principal-component projection.
  public let transform: DataTransform
  /// The hash functions.
  public let hasher: BucketHasher
  let parametersDatabase: Database
  let sketchDatabase: Database
  let tableDatabases: [Database]
  /// The hashing and projection parameters, as searches use them.
  public var model: LSHModel {
    LSHModel(
      configuration: configuration, transform: transform, hasher: hasher, metric: store.metric)
  }
  /// Sketch rows written during the current batch of changes, by block.
  private let pending = Mutex<[UInt64: [Int: [Float]]]>([:])

  private init(
    store: VectorStore, configuration: LSHConfiguration, transform: DataTransform,
    hasher: BucketHasher,
    parametersDatabase: Database, sketchDatabase: Database, tableDatabases: [Database]
  ) {
    self.store = store
    self.configuration = configuration
    self.transform = transform
    self.hasher = hasher
    self.parametersDatabase = parametersDatabase
    self.sketchDatabase = sketchDatabase
    self.tableDatabases = tableDatabases
  }

  static let parametersName = "lsh.params"
  static let sketchName = "lsh.sketch"
  static func tableName(_ table: Int) -> String { "lsh.table.\(table)" }
  static let tableFlags: Database.Flags = [.duplicateSort, .duplicateFixed]

  /// Opens the index of a store and attaches it, or returns `nil` when the store has none.
  ///
  /// - Parameter store: the store.
  /// - Returns: the index, or `nil`.
  /// - Throws: ``LSHError`` for a damaged index, ``VectorStoreError`` for LMDB failures.
  public static func open(_ store: VectorStore) throws -> LSHIndex? {
    let recorded =
      try store.metadata(VectorStore.indexesKey)?.split(separator: ",").map(String.init) ?? []
    guard recorded.contains(name) else { return nil }
    let environment = store.environment
    let parameters = try environment.database(named: parametersName)
    let loaded: (LSHConfiguration, DataTransform, BucketHasher)? = try environment.read { txn in
      guard let configText = try txn.value(forKey: "config", in: parameters),
        let json = try? JSONValue.parse(String(decoding: configText, as: UTF8.self)),
        let configuration = LSHConfiguration(json: json)
      else { return nil }
      func floats(_ key: String) throws -> [Float] {
        guard let bytes = try txn.value(forKey: key, in: parameters) else { return [] }
        return bytes.withMemoryRebound(to: UInt8.self) { raw in
          stride(from: 0, to: raw.count - 3, by: 4).map { offset in
            Float(
              bitPattern: UInt32(raw[offset]) | UInt32(raw[offset + 1]) << 8 | UInt32(
                raw[offset + 2]) << 16 | UInt32(raw[offset + 3]) << 24)
          }
        }
      }
      let mean = try floats("mean")
      let basis = try floats("basis")
      let variances = try floats("variances")
      let hasherParameters = try floats("hasher")
      guard mean.count == store.dimension,
        basis.count == store.dimension * configuration.sketchDimensions
      else {
        return nil
      }
      let transform = DataTransform(
        inputDimension: store.dimension, outputDimension: configuration.sketchDimensions,
        mean: mean, basis: basis,
        variances: variances)
      let hasher = BucketHasher(
        family: configuration.family, tables: configuration.tables,
        hashesPerTable: configuration.hashesPerTable,
        dimensions: configuration.hashDimensions,
        bucketWidth: Float(configuration.bucketWidth ?? 1),
        parameters: hasherParameters)
      return (configuration, transform, hasher)
    }
    guard let (configuration, transform, hasher) = loaded else {
      throw LSHError(
        "store \(store.path): its LSH index parameters are damaged; rebuild the index with `tripindex index`"
      )
    }
    let index = LSHIndex(
      store: store, configuration: configuration, transform: transform, hasher: hasher,
      parametersDatabase: parameters,
      sketchDatabase: try environment.database(named: sketchName),
      tableDatabases: try (0..<configuration.tables).map {
        try environment.database(named: tableName($0), flags: tableFlags)
      })
    store.attach(index)
    return index
  }

  /// Builds (or rebuilds) the index of a store in one write transaction and attaches it.
  ///
  /// - Parameters:
  ///   - store: the store (opened for writing).
  ///   - configuration: the parameters; a missing p-stable width is estimated from the data.
  ///   - sampleSize: vectors used to learn the centring and principal components.
  /// - Returns: the index.
  /// - Throws: ``LSHError`` for bad parameters or an empty store; ``VectorStoreError``.
  @discardableResult
  public static func build(
    on store: VectorStore, configuration: LSHConfiguration, sampleSize: Int = 20_000
  ) throws -> LSHIndex {
    var resolved = try configuration.validated(forDimension: store.dimension)
    let sample = try sampleVectors(store, limit: sampleSize)
    guard sample.rows >= 2 else {
      throw LSHError("store \(store.path) holds fewer than 2 items; nothing to index")
    }
    guard let transform = DataTransform.fit(sample, components: resolved.sketchDimensions) else {
      throw LSHError("the principal components of store \(store.path) could not be computed")
    }
    if resolved.family == .pstable && resolved.bucketWidth == nil {
      resolved.bucketWidth = Double(
        Self.estimateWidth(transform.project(sample), dimensions: resolved.hashDimensions))
    }
    let hasher = BucketHasher(
      family: resolved.family, tables: resolved.tables, hashesPerTable: resolved.hashesPerTable,
      dimensions: resolved.hashDimensions, bucketWidth: Float(resolved.bucketWidth ?? 1),
      seed: resolved.seed)
    let environment = store.environment
    let parameters = try environment.database(named: parametersName, flags: .create)
    let sketches = try environment.database(named: sketchName, flags: .create)
    let tables = try (0..<resolved.tables).map {
      try environment.database(named: tableName($0), flags: tableFlags.union(.create))
    }
    let index = LSHIndex(
      store: store, configuration: resolved, transform: transform, hasher: hasher,
      parametersDatabase: parameters,
      sketchDatabase: sketches, tableDatabases: tables)
    // Every handle must exist before the write transaction starts: LMDB transactions only know
    // the databases opened before they began.
    let existing = try existingDatabases(environment)
    try store.write { writer in
      for database in existing { try writer.transaction.removeAll(in: database) }
      try index.writeParameters(in: writer)
      try index.indexEverything(in: writer)
      try writer.setIndexNames([name])
    }
    store.attach(index)
    return index
  }

  /// Removes a store's index (parameters, sketches and tables) in one transaction.
  ///
  /// - Parameter store: the store.
  /// - Throws: ``VectorStoreError``.
  public static func drop(from store: VectorStore) throws {
    let existing = try existingDatabases(store.environment)
    try store.write { writer in
      for database in existing { try writer.transaction.removeAll(in: database) }
      try writer.setIndexNames([])
    }
    store.detachIndex(named: name)
  }

  /// The index databases present in an environment (from any earlier index).
  private static func existingDatabases(_ environment: Environment) throws -> [Database] {
    var databases: [Database] = []
    for name in [parametersName, sketchName] {
      if let database = try? environment.database(named: name) { databases.append(database) }
    }
    var table = 0
    while let database = try? environment.database(named: tableName(table), flags: tableFlags) {
      databases.append(database)
      table += 1
    }
    return databases
  }

  /// Up to `limit` live vectors spread evenly over the store.
  static func sampleVectors(_ store: VectorStore, limit: Int) throws -> Matrix {
    try store.read { snapshot in
      let stride = max(1, snapshot.count / max(limit, 1))
      var sample = Matrix(rows: 0, columns: store.dimension)
      var seen = 0
      try snapshot.forEachItem { _, vector in
        if seen % stride == 0 && sample.rows < limit { sample.append(rows: Array(vector)) }
        seen += 1
      }
      return sample
    }
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

  private func writeParameters(in writer: StoreWriter) throws {
    let txn = writer.transaction
    try txn.put(configuration.json.serialized(), forKey: "config", in: parametersDatabase)
    for (key, values) in [
      ("mean", transform.mean), ("basis", transform.basis), ("variances", transform.variances),
      ("hasher", hasher.parameters),
    ] {
      try txn.put(Self.littleEndianBytes(values), forKey: key, in: parametersDatabase)
    }
  }

  static func littleEndianBytes(_ values: [Float]) -> [UInt8] {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(values.count * 4)
    for value in values { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 } }
    return bytes
  }

  /// Hashes every live item: sketches block by block, then each table's (code, id) pairs sorted
  /// and appended (LMDB's fast path for bulk loading).
  private func indexEverything(in writer: StoreWriter) throws {
    let snapshot = try writer.snapshot()
    var pairs = [[(code: UInt64, id: UInt64)]](repeating: [], count: configuration.tables)
    for table in pairs.indices { pairs[table].reserveCapacity(snapshot.count) }
    var codes = [UInt64](repeating: 0, count: configuration.tables)
    let dimension = store.dimension
    let sketchDimensions = configuration.sketchDimensions
    for block in snapshot.blocks {
      let vectors = Matrix(
        rows: block.rowCount, columns: dimension,
        values: Array(UnsafeBufferPointer(start: block.values, count: block.rowCount * dimension)))
      let projected = transform.project(vectors)
      try writer.transaction.putReserving(
        byteCount: projected.values.count * 4, forKey: BigEndianKey(block.firstID),
        in: sketchDatabase
      ) { target in
        projected.values.withUnsafeBytes { target.copyMemory(from: $0) }
      }
      projected.values.withUnsafeBufferPointer { values in
        codes.withUnsafeMutableBufferPointer { codes in
          for row in 0..<block.rowCount where !block.isDeleted(row) {
            let z = UnsafeBufferPointer(
              rebasing: values[
                (row * sketchDimensions)..<(row * sketchDimensions + configuration.hashDimensions)])
            hasher.codes(z, into: codes)
            for table in 0..<configuration.tables {
              pairs[table].append((codes[table], block.firstID + UInt64(row)))
            }
          }
        }
      }
    }
    for table in 0..<configuration.tables {
      pairs[table].sort { $0.code < $1.code || ($0.code == $1.code && $0.id < $1.id) }
      var previous: UInt64?
      for pair in pairs[table] {
        try writer.transaction.put(
          BigEndianKey(pair.id), forKey: BigEndianKey(pair.code), in: tableDatabases[table],
          flags: previous == pair.code ? .appendDuplicate : .append)
        previous = pair.code
      }
    }
  }

  // MARK: keeping in step with the store

  /// Starts a batch: forgets sketch rows of an abandoned batch.
  public func willBeginChanges(in writer: StoreWriter) throws {
    pending.withLock { $0.removeAll() }
  }

  /// Adds an item to every table and queues its sketch.
  public func didInsert(id: UInt64, vector: UnsafeBufferPointer<Float>, in writer: StoreWriter)
    throws
  {
    var z = [Float](repeating: 0, count: configuration.sketchDimensions)
    let codes = codes(for: vector, projection: &z)
    for table in 0..<configuration.tables {
      try writer.transaction.put(
        BigEndianKey(id), forKey: BigEndianKey(codes[table]), in: tableDatabases[table])
    }
    let blockStart = id - id % UInt64(store.blockRows)
    pending.withLock { $0[blockStart, default: [:]][Int(id - blockStart)] = z }
  }

  /// Removes an item from every table.
  public func willRemove(id: UInt64, vector: UnsafeBufferPointer<Float>, in writer: StoreWriter)
    throws
  {
    var z = [Float](repeating: 0, count: configuration.sketchDimensions)
    let codes = codes(for: vector, projection: &z)
    for table in 0..<configuration.tables {
      try writer.transaction.delete(
        BigEndianKey(id), forKey: BigEndianKey(codes[table]), in: tableDatabases[table])
    }
  }

  /// Writes the queued sketches into their blocks.
  public func didFinishChanges(in writer: StoreWriter) throws {
    let blocks = pending.withLock { pending -> [UInt64: [Int: [Float]]] in
      let taken = pending
      pending.removeAll()
      return taken
    }
    let width = configuration.sketchDimensions
    for (start, rows) in blocks.sorted(by: { $0.key < $1.key }) {
      var values: [Float] = []
      if let existing = try writer.transaction.value(
        forKey: BigEndianKey(start), in: sketchDatabase)
      {
        values = [Float](repeating: 0, count: existing.count / 4)
        values.withUnsafeMutableBytes { $0.copyMemory(from: existing) }
      }
      let needed = ((rows.keys.max() ?? 0) + 1) * width
      if values.count < needed { values += repeatElement(0, count: needed - values.count) }
      for (row, sketch) in rows {
        for column in 0..<width { values[row * width + column] = sketch[column] }
      }
      try writer.transaction.putReserving(
        byteCount: values.count * 4, forKey: BigEndianKey(start), in: sketchDatabase
      ) { target in values.withUnsafeBytes { target.copyMemory(from: $0) } }
    }
  }

  /// The bucket codes of a stored vector in every table, and its projection.
  func codes(for vector: UnsafeBufferPointer<Float>, projection z: inout [Float]) -> [UInt64] {
    var codes = [UInt64](repeating: 0, count: configuration.tables)
    z.withUnsafeMutableBufferPointer { transform.project(vector, into: $0) }
    z.withUnsafeBufferPointer { z in
      codes.withUnsafeMutableBufferPointer { codes in
        hasher.codes(
          UnsafeBufferPointer(rebasing: z[0..<configuration.hashDimensions]), into: codes)
      }
    }
    return codes
  }
}
