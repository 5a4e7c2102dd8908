import Plumbing
import VectorMath

/// Every live item of a source encoded at once, on all cores: its table entry (compact code,
/// then id), and on request its bucket codes and its leading principal components (which
/// `tune` hashes again under other settings). The one bulk encoder of a build, of `check` and
/// of `tune`.
struct BulkEncoding {
  /// Item `i`'s entry at bytes `i * entryBytes ..< (i + 1) * entryBytes`.
  let entries: [UInt8]
  /// Bytes per entry.
  let entryBytes: Int
  /// Item `i`'s bucket codes at `codes[i * tables ..< (i + 1) * tables]`, for the tables of
  /// ``codedTables`` in order (empty unless asked).
  let codes: [UInt64]
  /// The tables whose codes are kept.
  let codedTables: Range<Int>
  /// Codes kept per item.
  var tables: Int { codedTables.count }
  /// Item `i`'s leading principal components at `projections[i * width ..< (i + 1) * width]`
  /// (empty unless asked).
  let projections: [Float]
  /// Components kept per item (at most the sketch dimensions; 0 unless asked).
  let width: Int

  /// The number of items encoded (the live items, in id order: their ids are in their entries).
  let count: Int

  /// Encodes a source's live items.
  ///
  /// - Parameters:
  ///   - source: the vectors.
  ///   - encoder: the projection, hashes and compact codes.
  ///   - heldOut: ids left out (`tune`'s held-out queries).
  ///   - keepsCodes: keep bucket codes.
  ///   - codedTables: the tables whose codes are kept (`nil`: every table).
  ///   - keptComponents: leading principal components kept per item (as many as the hashes
  ///     to be drawn see: at 10 million items each costs 40 MB), 0 for none.
  /// - Complexity: O(n · (d · m + L)), on all cores.
  init(
    _ source: some VectorSource, encoder: ItemEncoder, excluding heldOut: Set<UInt64> = [],
    codes keepsCodes: Bool, of codedTables: Range<Int>? = nil, projections keptComponents: Int
  ) {
    let ids = heldOut.isEmpty ? source.liveIDs : source.liveIDs.filter { !heldOut.contains($0) }
    let codedTables = codedTables ?? 0..<encoder.model.configuration.tables
    let tables = codedTables.count
    let width = min(keptComponents, encoder.model.configuration.sketchDimensions)
    let entryBytes = encoder.coder.entryBytes
    var codes = [UInt64](repeating: 0, count: keepsCodes ? ids.count * tables : 0)
    var projections = [Float](repeating: 0, count: ids.count * width)
    var entries = [UInt8](repeating: 0, count: ids.count * entryBytes)
    codes.withUnsafeMutableBufferPointer { codes in
      projections.withUnsafeMutableBufferPointer { projections in
        entries.withUnsafeMutableBytes { entries in
          let shared = UncheckedSendable((codes, projections, entries))
          // Only the kept tables are hashed (a build of many tables encodes the items once per
          // group of them).
          let hasher = encoder.model.hasher.tables(keepsCodes ? codedTables : 0..<0)
          Parallel.forEachChunk(of: ids.count, count: Parallel.processorCount) { _, range in
            let (codes, projections, entries) = shared.value
            var scratch = encoder.makeScratch()
            for item in range {
              guard let vector = source.vector(id: ids[item]) else { continue }
              encoder.encode(vector, id: ids[item], into: &scratch, codesOf: hasher)
              for position in 0..<(keepsCodes ? tables : 0) {
                codes[item * tables + position] = scratch.codes[position]
              }
              if width > 0 {
                for column in 0..<width {
                  projections[item * width + column] = scratch.projection[column]
                }
              }
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
    count = ids.count
    self.entries = entries
    self.entryBytes = entryBytes
    self.codes = codes
    self.codedTables = codedTables
    self.projections = projections
    self.width = width
  }

  /// The most bytes of bucket codes one pass over a large store keeps (at 8 bytes per item and
  /// table, 5 tables of 10 million items); a build or check with more tables encodes the items
  /// again for each group (the projection costs the pass, the grouping saves 80 MB per table
  /// at 10 million items).
  static let codeBytesPerPass = 400_000_000

  /// The most bytes of bucket codes a group of tables hashed again from kept projections holds
  /// (tuning's tables: hashing costs little next to projecting, so groups are kept small; one
  /// table of 10 million items, whose codes are then sorted in place).
  static let rehashedCodeBytesPerGroup = 80_000_000

  /// Groups of consecutive tables whose codes fit ``codeBytesPerPass`` together (one group for
  /// any store of up to 6 million items at 8 tables).
  ///
  /// - Parameters:
  ///   - items: items to encode.
  ///   - tables: L.
  ///   - budget: bytes of codes per group.
  static func tableGroups(items: Int, tables: Int, budget: Int = codeBytesPerPass) -> [Range<Int>] {
    let perPass = max(1, min(tables, budget / max(1, items * 8)))
    return stride(from: 0, to: tables, by: perPass).map { $0..<min(tables, $0 + perPass) }
  }

  /// Every table of `encoder` over the live items of `source`, one after the other, each in the
  /// order a store keeps it (``TableOrder``): what a build writes and what `check` compares
  /// with the stored tables. Items are encoded once per group of tables (``tableGroups(items:tables:budget:)``);
  /// `body` runs on the calling thread while the next table is sorted on another.
  ///
  /// - Parameters:
  ///   - source: the vectors.
  ///   - encoder: the projection, hashes and compact codes.
  ///   - body: receives the table, its items in table order (indices into `entries`), each
  ///     item's code in that table, and the items' entries (item `i` at `i * entryBytes`).
  static func forEachTableInStoreOrder(
    of source: some VectorSource, encoder: ItemEncoder,
    _ body: (_ table: Int, _ order: [UInt32], _ code: (Int) -> UInt64, _ entries: [UInt8]) throws
      -> Void
  ) throws {
    let entryBytes = encoder.coder.entryBytes
    for group in tableGroups(items: source.count, tables: encoder.model.configuration.tables) {
      let encoded = BulkEncoding(source, encoder: encoder, codes: true, of: group, projections: 0)
      let (codes, tables) = (encoded.codes, encoded.tables)
      let code = { (column: Int) in { (item: Int) in codes[item * tables + column] } }
      let order = { (column: Int) in
        TableOrder.sorted(
          items: encoded.count, code: code(column), entries: encoded.entries,
          entryBytes: entryBytes)
      }
      // The next table is sorted on another core while `body` takes this one (a build writes
      // it to the store: one thread, the transaction's).
      var sorted = order(0)
      for (column, table) in group.enumerated() {
        let current = sorted
        guard column + 1 < group.count else {
          try body(table, current, code(column), encoded.entries)
          break
        }
        sorted = try Parallel.overlapping({ order(column + 1) }) {
          try body(table, current, code(column), encoded.entries)
        }
      }
    }
  }
}
