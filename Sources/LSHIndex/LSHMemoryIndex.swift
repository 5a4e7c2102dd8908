import VectorMath

/// An LSH index held in memory over a ``VectorSource`` instead of in a store: fitted, encoded
/// and searched as a stored index is (the same hash functions, compact codes and searcher), for
/// approximate search over a gallery that lives in memory — no temporary store to write.
///
/// ```swift
/// try gallery.withVectorSource(metric: .l2) { source in
///   let index = try LSHMemoryIndex.build(configuration: .defaults(for: .pstable), over: source)
///   let results = try index.withSearcher(over: source) { try $0.search(queries, k: 10) }
/// }
/// ```
public struct LSHMemoryIndex: @unchecked Sendable {
  /// Projection, hashing and compact codes.
  public let encoder: ItemEncoder
  /// The tables, in memory (they hold ids and codes, never pointers into the source).
  let tables: MemoryTables

  /// The settings (with the bucket width resolved).
  public var configuration: LSHConfiguration { encoder.model.configuration }

  /// Bytes of table entries held.
  public var bytes: Int { tables.bytes }

  /// The bytes of table entries an index with `encoder` holds over `items` live items: its
  /// ``bytes``, known without building it.
  ///
  /// - Parameters:
  ///   - encoder: the fitted parameters.
  ///   - items: live items of the source.
  public static func bytes(of encoder: ItemEncoder, items: Int) -> Int {
    MemoryTables.bytes(
      tables: encoder.model.configuration.tables, items: items,
      entryBytes: encoder.coder.entryBytes)
  }

  /// Fits an index to a source's vectors and builds its tables.
  ///
  /// - Parameters:
  ///   - configuration: the settings (a missing p-stable width is estimated from the data).
  ///   - source: the vectors (prepared for the metric: unit length for cosine).
  ///   - sampleSize: vectors the projection and codes are fitted on.
  /// - Returns: the index, valid for searches over the same source's vectors.
  /// - Throws: ``LSHError`` for bad settings or fewer than 2 vectors.
  /// - Complexity: O(n · (d · m + L)) to encode and hash, O(n log n) per table to sort.
  public static func build(
    configuration: LSHConfiguration, over source: some VectorSource,
    sampleSize: Int = LSHIndex.fittingSampleSize
  ) throws -> LSHMemoryIndex {
    let encoder = try LSHIndex.fitEncoder(
      configuration, over: source, sampleSize: sampleSize, describedAs: "the vectors in memory")
    let encoded = BulkEncoding(
      source, encoder: encoder, codes: false,
      projections: encoder.model.configuration.hashDimensions)
    return LSHMemoryIndex(
      encoder: encoder,
      tables: encoded.memoryTables(
        hasher: encoder.model.hasher, configuration: encoder.model.configuration))
  }

  /// The tables of a fitted encoder (a stored index's) over a source's live items, each table
  /// in the order a store keeps it, so that searches read the same pages and give the same
  /// answers as the stored index over the same items.
  ///
  /// - Parameters:
  ///   - encoder: the projection, hashes and compact codes.
  ///   - source: the vectors (prepared for the metric).
  /// - Complexity: O(n · (d · m + L)) to encode, O(n log n) per table to sort, on all cores.
  public init(encoder: ItemEncoder, over source: some VectorSource) {
    let groups = BulkEncoding.tableGroups(
      items: source.count, tables: encoder.model.configuration.tables)
    let first = BulkEncoding(source, encoder: encoder, codes: true, of: groups[0], projections: 0)
    self.encoder = encoder
    tables = MemoryTables(
      tables: encoder.model.configuration.tables, entryBytes: first.entryBytes,
      items: first.count, itemEntries: first.entries, storeOrder: true
    ) { group in
      group == groups[0]
        ? first.codes
        : BulkEncoding(source, encoder: encoder, codes: true, of: group, projections: 0).codes
    }
  }

  private init(encoder: ItemEncoder, tables: MemoryTables) {
    self.encoder = encoder
    self.tables = tables
  }

  /// Lends `body` a searcher over `source`, the source the index was built over; the searcher
  /// is borrowed and cannot outlive the call.
  ///
  /// - Parameters:
  ///   - source: the vectors the index was built over.
  ///   - body: the searches.
  /// - Returns: what `body` returns.
  public func withSearcher<R>(
    over source: some VectorSource, _ body: (borrowing LSHSearcher) throws -> R
  ) rethrows -> R {
    try body(LSHSearcher(encoder: encoder, source: source, tables: .memory(tables)))
  }
}
