import CKernels
import Plumbing
import StorageBackend
import Synchronization
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
/// | `lsh.packed` | table number T (integer keys) | table T packed for reading (``PackedTables``), written by every build, removed by any later change to the tables |
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
  let parametersTable: StorageTable
  let bucketTables: [StorageTable]
  /// The packed copy of the tables (``PackedTables``); `nil` in a store whose index was built
  /// before packed copies were written.
  let packedTable: StorageTable?
  /// Which build of the store's index this is (see ``Version``).
  let version: Version
  /// The last committed state in which the packed copy's every bucket was checked sound
  /// (``packedTables(in:)``).
  let packedTablesChecked = Mutex<StoreSnapshot.Key?>(nil)

  init(
    store: VectorStore, encoder: ItemEncoder, parametersTable: StorageTable,
    bucketTables: [StorageTable], packedTable: StorageTable?, version: Version
  ) {
    self.store = store
    self.encoder = encoder
    self.parametersTable = parametersTable
    self.bucketTables = bucketTables
    self.packedTable = packedTable
    self.version = version
  }

  static let parametersName = "lsh.params"
  /// The sketches of format 1 (removed when an index is rebuilt or dropped).
  static let formerSketchName = "lsh.sketch"
  static func tableName(_ table: Int) -> String { "lsh.table.\(table)" }
  /// Tables: integer keys (bucket codes compare as numbers), fixed-size sorted duplicates.
  static let tableLayout: TableLayout = [.sortedDuplicates, .fixedSizeDuplicates, .integerKeys]
  /// The tables of format 1.
  static let formerTableLayout: TableLayout = [.sortedDuplicates, .fixedSizeDuplicates]
  /// The index's databases (parameters, then tables) with their sizes.
  ///
  /// - Returns: name and statistics per database.
  /// - Throws: ``VectorStoreError`` of kind `storage`.
  public func databaseStatistics() throws -> [(name: String, statistics: TableStatistics)] {
    try store.statistics(of: [parametersTable] + bucketTables + (packedTable.map { [$0] } ?? []))
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
  /// index as `snapshot` records it (see ``resolved(in:)``): its packed tables when they are
  /// sound and current, else its tables.
  func searcher(in snapshot: StoreSnapshot) throws -> LSHSearcher {
    let index = try resolved(in: snapshot)
    if let packed = try index.packedTables(in: snapshot) {
      return LSHSearcher(encoder: index.encoder, source: snapshot, tables: .packed(packed))
    }
    return LSHSearcher(
      encoder: index.encoder, source: snapshot,
      tables: .mapped(index.bucketTables, snapshot.transaction))
  }
}
