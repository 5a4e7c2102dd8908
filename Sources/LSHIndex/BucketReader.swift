import StorageBackend
import VectorMath

/// Reads a bucket's entries page by page, outwards from a position: how a search sees the
/// tables, whether they sit in the store's memory map (``MappedBuckets``) or in memory
/// (``MemoryTables``, while tuning). Entries of a bucket are sorted by their first code byte
/// (the first principal component), so pages further from the query's position hold entries
/// further from it along that component.
///
/// One reader serves one thread.
public protocol BucketReader {
  /// Positions on bucket `code` of `table` at its first entry whose first byte is at least
  /// `firstByte` (or its last entry, when every one is smaller) and returns the page of entries
  /// holding it, with the bucket's number of entries; `nil` when the bucket is empty.
  mutating func seek(table: Int, code: UInt64, firstByte: UInt8)
    -> (page: UnsafeRawBufferPointer, entries: Int)?
  /// The page after the last one returned upwards since ``seek(table:code:firstByte:)``.
  mutating func nextPage(table: Int) -> UnsafeRawBufferPointer?
  /// The page before the last one returned downwards (at first: before the sought page).
  mutating func previousPage(table: Int, code: UInt64, firstByte: UInt8) -> UnsafeRawBufferPointer?
  /// A read that failed (a damaged table), if any: pages it would have returned were skipped.
  var failure: (any Error)? { get }
}

/// Tables read in place from the store's engine: two cursors per table (one walking up, one
/// down), pages of a bucket's entries returned zero-copy (from LMDB's memory map). Nothing is
/// loaded or sorted per process: opening costs nothing beyond the cursors. Generic over the
/// engine's cursor, so the search is specialised for it.
struct MappedBuckets<Cursor: StorageCursor>: BucketReader {
  let up: [Cursor]
  let down: [Cursor]
  /// Bytes of one entry.
  let entryBytes: Int
  /// Whether the down cursor of a table has been positioned since the last seek.
  var downPositioned: [Bool]
  /// A failed read (a damaged table); the search reports it after the query.
  var failure: (any Error)?

  init(up: [Cursor], down: [Cursor], entryBytes: Int) {
    self.up = up
    self.down = down
    self.entryBytes = entryBytes
    downPositioned = Array(repeating: false, count: up.count)
  }

  /// Runs a read, keeping its error (the search goes on with what it has read and reports the
  /// error once the query is done).
  @inline(__always)
  private mutating func reading<R>(_ read: () throws -> R?) -> R? {
    do { return try read() } catch {
      failure = error
      return nil
    }
  }

  mutating func seek(table: Int, code: UInt64, firstByte: UInt8)
    -> (page: UnsafeRawBufferPointer, entries: Int)?
  {
    downPositioned[table] = false
    let cursor = up[table]
    // Most buckets fit one page: the key alone finds it (integer compares only).
    guard
      let (first, entries) = reading({ () throws -> (UnsafeRawBufferPointer, Int)? in
        guard try cursor.seek(to: IntegerKey(code)) != nil, let first = try cursor.duplicatesPage()
        else { return nil }
        return (first, try cursor.duplicateCount())
      })
    else { return nil }
    if first.count >= entries * entryBytes { return (first, entries) }
    guard let page = position(cursor, code: code, firstByte: firstByte) else { return nil }
    return (page, entries)
  }

  /// Positions `cursor` at the first entry of bucket `code` whose first byte is at least
  /// `firstByte` (or its last) and returns that entry's page.
  private mutating func position(_ cursor: Cursor, code: UInt64, firstByte: UInt8)
    -> UnsafeRawBufferPointer?
  {
    var key = code
    var wanted = firstByte
    return reading {
      let found = try withUnsafeBytes(of: &key) { key in
        try withUnsafeBytes(of: &wanted) { value in
          try cursor.seek(to: key, atLeastValue: value)
        }
      }
      guard found != nil else { return nil }
      return try cursor.duplicatesPage()
    }
  }

  mutating func nextPage(table: Int) -> UnsafeRawBufferPointer? {
    let cursor = up[table]
    return reading { try cursor.nextDuplicatesPage() }
  }

  mutating func previousPage(table: Int, code: UInt64, firstByte: UInt8)
    -> UnsafeRawBufferPointer?
  {
    if !downPositioned[table] {
      downPositioned[table] = true
      guard position(down[table], code: code, firstByte: firstByte) != nil else { return nil }
    }
    let cursor = down[table]
    return reading { try cursor.previousDuplicatesPage() }
  }
}

/// Tables held in memory, with the same page structure as LMDB's (pages of
/// ``entriesPerPage`` entries from each bucket's start): what tuning searches while it tries
/// settings without writing them to the store, and what a query process over a Redis store
/// searches.
///
/// Two layouts, the same pages: each table holds a copy of its entries, bucket after bucket
/// (pages are read in place), or, when copies would take more than ``copiedBytesLimit``, each
/// table holds only the positions of its entries (4 bytes an item) in one shared array of the
/// items' entries, and a page is gathered when read: 16 tables of 10 million 41-byte entries
/// take 640 MB instead of 6.5 GB, for the cost of the gather.
public final class MemoryTables: @unchecked Sendable {
  /// Per table: the bucket codes, sorted.
  let codes: [[UInt64]]
  /// Per table: bucket `b` holds entries `starts[b] ..< starts[b + 1]`.
  let starts: [[UInt32]]
  /// Where the entries are.
  let layout: Layout
  let entryBytes: Int
  let entriesPerPage: Int
  /// For tables holding only some buckets (fetched for a search, ``LSHPostingsSearch``): where a
  /// read of a bucket they do not hold is noted; `nil` for whole tables.
  let misses: PostingsMisses?

  /// Where a table's entries are.
  enum Layout {
    /// Per table: the entries, bucket after bucket, each bucket's by first code byte.
    case copies([UnsafeMutableRawBufferPointer])
    /// Every item's entry once (item `i` at byte `i * entryBytes`: the encoder's own array,
    /// shared, not copied), and per table the items in table order.
    case positions(entries: [UInt8], [UnsafeMutableBufferPointer<UInt32>])
  }

  /// Copies of every table's entries are kept up to this many bytes; beyond, positions.
  static let copiedBytesLimit = 1 << 30

  /// Tables of at least this many items are sorted one at a time, each on every core (in
  /// tuning's order).
  static let itemsSortedOneTableAtATime = 1 << 21

  /// Whether tables of this size keep copies of their entries (else positions).
  static func keepsCopies(
    tables: Int, items: Int, entryBytes: Int, copiedBytesLimit: Int = copiedBytesLimit
  ) -> Bool {
    tables * items * entryBytes <= copiedBytesLimit
  }

  /// The ``bytes`` tables of this size hold, known without building them.
  static func bytes(
    tables: Int, items: Int, entryBytes: Int, copiedBytesLimit: Int = copiedBytesLimit
  ) -> Int {
    keepsCopies(
      tables: tables, items: items, entryBytes: entryBytes, copiedBytesLimit: copiedBytesLimit)
      ? tables * max(1, items * entryBytes)
      : items * entryBytes + tables * items * MemoryLayout<UInt32>.size
  }

  /// Builds tables from every item's entry and, group of tables by group, their codes.
  ///
  /// - Parameters:
  ///   - tables: L.
  ///   - entryBytes: bytes per entry.
  ///   - items: the number of items.
  ///   - itemEntries: item `i`'s entry starts at byte `i * entryBytes`.
  ///   - storeOrder: order each bucket by its entries' bytes, exactly as a store's table is
  ///     ordered (so that a search reads the same pages and gives the same answers); otherwise
  ///     by first code byte, then item (cheaper to sort, as tuning wants).
  ///   - copiedBytesLimit: copies are kept up to this many bytes (tests force positions).
  ///   - oneTableAtATimeFrom: tables of at least this many items in tuning's order are sorted
  ///     one at a time, on every core (tests force it).
  ///   - codeBytesPerGroup: bytes of codes a group of tables holds
  ///     (``BulkEncoding/tableGroups(items:tables:budget:)``).
  ///   - codesOfGroup: for a group of tables, item `i`'s code in the group's `c`-th table at
  ///     `[i * group.count + c]`.
  init(
    tables: Int, entryBytes: Int, items: Int, itemEntries: [UInt8], storeOrder: Bool = false,
    copiedBytesLimit: Int = MemoryTables.copiedBytesLimit,
    oneTableAtATimeFrom: Int = MemoryTables.itemsSortedOneTableAtATime,
    codeBytesPerGroup: Int = BulkEncoding.codeBytesPerPass,
    codesOfGroup: (Range<Int>) -> [UInt64]
  ) {
    precondition(items <= Int(UInt32.max), "tables of more than 2^32 items")
    self.entryBytes = entryBytes
    entriesPerPage = Self.entriesPerPage(entryBytes: entryBytes)
    misses = nil
    let copies = Self.keepsCopies(
      tables: tables, items: items, entryBytes: entryBytes, copiedBytesLimit: copiedBytesLimit)
    var codes = [[UInt64]](repeating: [], count: tables)
    var starts = [[UInt32]](repeating: [], count: tables)
    var orders = [UnsafeMutableBufferPointer<UInt32>](
      repeating: .init(start: nil, count: 0), count: tables)
    // Small tables are sorted side by side, a core each; large ones in tuning's order one at a
    // time on every core, so that only one table's sorting buffers (~13 bytes an item) exist
    // at once (store order's bucket sorts would run on one core).
    let sideBySide = storeOrder || items < oneTableAtATimeFrom
    let sortThreads = sideBySide ? 1 : Parallel.processorCount
    for group in BulkEncoding.tableGroups(items: items, tables: tables, budget: codeBytesPerGroup) {
      var groupCodes = codesOfGroup(group)
      precondition(groupCodes.count == items * group.count, "codes of another group of tables")
      groupCodes.withUnsafeMutableBufferPointer { groupCodes in
        codes.withUnsafeMutableBufferPointer { codes in
          starts.withUnsafeMutableBufferPointer { starts in
            orders.withUnsafeMutableBufferPointer { orders in
              // Tables are independent: each worker builds its own (disjoint writes).
              let shared = UncheckedSendable((codes, starts, orders, groupCodes))
              Parallel.forEachChunk(
                of: group.count, count: sideBySide ? Parallel.processorCount : 1
              ) { _, range in
                let (codes, starts, orders, groupCodes) = shared.value
                for column in range {
                  (
                    (codes[group.lowerBound + column], starts[group.lowerBound + column]),
                    orders[group.lowerBound + column]
                  ) = Self.table(
                    column, of: group.count, entryBytes: entryBytes, items: items,
                    codes: groupCodes, itemEntries: itemEntries, storeOrder: storeOrder,
                    threads: sortThreads)
                }
              }
            }
          }
        }
      }
    }
    self.codes = codes
    self.starts = starts
    if copies {
      let buffers = orders.map { _ in
        UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, items * entryBytes), alignment: 8)
      }
      itemEntries.withUnsafeBytes { source in
        let shared = UncheckedSendable(source)
        Parallel.forEachChunk(of: tables, count: Parallel.processorCount) { _, range in
          for table in range {
            Self.gather(
              orders[table], from: shared.value, entryBytes: entryBytes, into: buffers[table])
          }
        }
      }
      for order in orders { order.deallocate() }
      layout = .copies(buffers)
    } else {
      layout = .positions(entries: itemEntries, orders)
    }
  }

  /// Tables holding only some buckets, each with all its entries: pages and order as whole
  /// tables would have them (entries by their bytes, as a store orders a bucket), and a read of
  /// a bucket not held noted in `misses` (a bucket held with no entries reads as empty).
  ///
  /// - Parameters:
  ///   - buckets: per table, the buckets held: code → entries (whole entries, any order).
  ///   - entryBytes: bytes per entry.
  ///   - misses: where reads of buckets not held are noted.
  init(buckets: [[UInt64: [UInt8]]], entryBytes: Int, misses: PostingsMisses) {
    self.entryBytes = entryBytes
    entriesPerPage = Self.entriesPerPage(entryBytes: entryBytes)
    self.misses = misses
    var allCodes: [[UInt64]] = []
    var allStarts: [[UInt32]] = []
    var copies: [UnsafeMutableRawBufferPointer] = []
    var run: [(head: UInt64, item: UInt32)] = []
    for table in buckets {
      let codes = table.keys.sorted()
      var starts: [UInt32] = [0]
      let total = table.values.reduce(0) { $0 + $1.count }
      let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, total), alignment: 8)
      var written = 0
      for code in codes {
        let entries = table[code] ?? []
        var order = (0..<UInt32(entries.count / entryBytes)).map { $0 }
        entries.withUnsafeBytes { bytes in
          guard let base = bytes.baseAddress else { return }
          order.withUnsafeMutableBufferPointer { order in
            TableOrder.sortBucket(order[...], entries: base, entryBytes: entryBytes, run: &run)
            Self.gather(
              order, from: bytes, entryBytes: entryBytes,
              into: UnsafeMutableRawBufferPointer(rebasing: copy[written...]))
          }
        }
        written += order.count * entryBytes
        starts.append(UInt32(written / entryBytes))
      }
      allCodes.append(codes)
      allStarts.append(starts)
      copies.append(copy)
    }
    codes = allCodes
    starts = allStarts
    layout = .copies(copies)
  }

  /// Entries of a page: as many as an LMDB page of 4 KiB holds.
  static func entriesPerPage(entryBytes: Int) -> Int { max(1, 4080 / entryBytes) }

  /// Copies the entries of `items`, in that order, from `entries` to the start of `target`.
  static func gather(
    _ items: UnsafeMutableBufferPointer<UInt32>, from entries: UnsafeRawBufferPointer,
    entryBytes: Int, into target: UnsafeMutableRawBufferPointer
  ) {
    guard let source = entries.baseAddress, let destination = target.baseAddress else { return }
    for (position, item) in items.enumerated() {
      (destination + position * entryBytes).copyMemory(
        from: source + Int(item) * entryBytes, byteCount: entryBytes)
    }
  }

  /// One table of a group: its bucket codes, bucket starts and items in table order (by code,
  /// then first code byte, or entry bytes for `storeOrder`). The group's codes of a group of
  /// one table are that table's alone: they are sorted in place (at 10 million items, 80 MB
  /// not copied), and left in table order.
  private static func table(
    _ column: Int, of columns: Int, entryBytes: Int, items: Int,
    codes allCodes: UnsafeMutableBufferPointer<UInt64>, itemEntries: [UInt8], storeOrder: Bool,
    threads: Int
  ) -> (([UInt64], [UInt32]), UnsafeMutableBufferPointer<UInt32>) {
    let order = UnsafeMutableBufferPointer<UInt32>.allocate(capacity: items)
    if storeOrder {
      _ = order.initialize(
        from: TableOrder.sorted(
          items: items, code: { allCodes[$0 * columns + column] }, entries: itemEntries,
          entryBytes: entryBytes))
    } else {
      // By code, then first code byte, then item: one radix sort of (code, item) pairs whose
      // first pass is by first byte keeps it stable.
      let inPlace = columns == 1
      let keys = inPlace ? allCodes : .allocate(capacity: items)
      let heads = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: items)
      defer {
        if !inPlace { keys.deallocate() }
        heads.deallocate()
      }
      itemEntries.withUnsafeBufferPointer { entries in
        let shared = UncheckedSendable(entries)
        Parallel.forEachChunk(of: items, count: threads) { _, range in
          for item in range {
            if !inPlace { keys[item] = allCodes[item * columns + column] }
            heads[item] = shared.value[item * entryBytes]
            order[item] = UInt32(item)
          }
        }
      }
      TableOrder.radixSortByCode(
        codes: keys, items: order, leadingBytes: UnsafeBufferPointer(heads), threads: threads)
      return (buckets(items: items) { keys[$0] }, order)
    }
    return (buckets(items: items) { allCodes[Int(order[$0]) * columns + column] }, order)
  }

  /// A table's bucket codes and starts, from the code at each position of the table in order.
  private static func buckets(items: Int, codeAt: (Int) -> UInt64) -> ([UInt64], [UInt32]) {
    /// Calls `body` with each bucket's first position and code.
    func eachBucket(_ body: (Int, UInt64) -> Void) {
      var previous: UInt64?
      for position in 0..<items {
        let code = codeAt(position)
        if previous != code {
          body(position, code)
          previous = code
        }
      }
    }
    // Counted first, so that the arrays hold no spare capacity (at 10 million items, tables
    // of small buckets have millions).
    var count = 0
    eachBucket { _, _ in count += 1 }
    var tableCodes: [UInt64] = []
    var tableStarts: [UInt32] = []
    tableCodes.reserveCapacity(count)
    tableStarts.reserveCapacity(count + 1)
    eachBucket { position, code in
      tableCodes.append(code)
      tableStarts.append(UInt32(position))
    }
    tableStarts.append(UInt32(items))
    return (tableCodes, tableStarts)
  }

  deinit {
    switch layout {
    case .copies(let tables): for buffer in tables { buffer.deallocate() }
    case .positions(_, let orders):
      for order in orders { order.deallocate() }
    }
  }

  /// Bytes of entries (or of entries and positions) held.
  public var bytes: Int {
    switch layout {
    case .copies(let tables): tables.reduce(0) { $0 + $1.count }
    case .positions(let entries, let orders):
      entries.count + orders.reduce(0) { $0 + $1.count * MemoryLayout<UInt32>.size }
    }
  }

  /// A reader for one thread.
  func reader() -> ContiguousBucketReader<Pages> {
    ContiguousBucketReader(Pages(tables: self))
  }
}

extension MemoryTables {
  /// One thread's view of memory tables: pages read in place (copies) or gathered into the
  /// view's own page buffers (positions).
  struct Pages: ContiguousBuckets {
    let tables: MemoryTables
    /// Per table: where a gathered page is put (positions layout), valid until the table's
    /// next page is read.
    let gathered: GatherSpace

    init(tables: MemoryTables) {
      self.tables = tables
      var pageBytes = 0
      if case .positions = tables.layout { pageBytes = tables.entriesPerPage * tables.entryBytes }
      gathered = GatherSpace(tables: tables.codes.count, bytes: pageBytes)
    }

    var tableCount: Int { tables.codes.count }
    var entriesPerPage: Int { tables.entriesPerPage }

    func bucket(_ table: Int, code: UInt64) -> Range<Int>? {
      let codes = tables.codes[table]
      let index = ContiguousBucketSearch.firstIndex(of: code, count: codes.count) { codes[$0] }
      guard let index else {
        tables.misses?.bucket(table: table, code: code)
        return nil
      }
      return Int(tables.starts[table][index])..<Int(tables.starts[table][index + 1])
    }

    func firstByte(_ table: Int, _ position: Int) -> UInt8 {
      switch tables.layout {
      case .copies(let copies): copies[table][position * tables.entryBytes]
      case .positions(let entries, let orders):
        entries[Int(orders[table][position]) * tables.entryBytes]
      }
    }

    func entries(_ table: Int, _ range: Range<Int>) -> UnsafeRawBufferPointer {
      let entryBytes = tables.entryBytes
      switch tables.layout {
      case .copies(let copies):
        return UnsafeRawBufferPointer(
          rebasing: copies[table][(range.lowerBound * entryBytes)..<(range.upperBound * entryBytes)]
        )
      case .positions(let entries, let orders):
        let target = gathered.pages[table]
        entries.withUnsafeBytes { entries in
          MemoryTables.gather(
            UnsafeMutableBufferPointer(rebasing: orders[table][range]), from: entries,
            entryBytes: entryBytes, into: target)
        }
        return UnsafeRawBufferPointer(rebasing: target[0..<(range.count * entryBytes)])
      }
    }
  }
}

/// Tables each laid out as one sorted run: bucket codes in order, each bucket's entries
/// contiguous (in a store's order, by first code byte), read in pages of ``entriesPerPage``
/// entries from each bucket's start — LMDB's pages for tables written in one pass. Memory
/// tables (``MemoryTables``) and a store's packed tables (``PackedTables``) are both.
protocol ContiguousBuckets {
  /// The number of tables.
  var tableCount: Int { get }
  /// Entries of a page.
  var entriesPerPage: Int { get }
  /// The positions of bucket `code`'s entries in `table`, or `nil` when it has none.
  func bucket(_ table: Int, code: UInt64) -> Range<Int>?
  /// The first code byte of the entry at `position` of `table`.
  func firstByte(_ table: Int, _ position: Int) -> UInt8
  /// The entries at `range` of `table`, contiguous (valid until the table's next read).
  func entries(_ table: Int, _ range: Range<Int>) -> UnsafeRawBufferPointer
}

/// The binary search of a sorted run of bucket codes.
enum ContiguousBucketSearch {
  /// The index of `code` among `count` sorted codes (`code(i)` the i-th), or `nil`.
  @inline(__always)
  static func firstIndex(of code: UInt64, count: Int, _ codeAt: (Int) -> UInt64) -> Int? {
    var low = 0
    var high = count
    while low < high {
      let middle = (low + high) / 2
      if codeAt(middle) < code { low = middle + 1 } else { high = middle }
    }
    return low < count && codeAt(low) == code ? low : nil
  }
}

/// Reads ``ContiguousBuckets`` page by page, as ``MappedBuckets`` reads a store's tables.
struct ContiguousBucketReader<Layout: ContiguousBuckets>: BucketReader {
  let layout: Layout
  /// Per table: the bucket's entry range and the pages last returned up and down.
  var bucket: [Range<Int>]
  var upPage: [Int]
  var downPage: [Int]

  init(_ layout: Layout) {
    self.layout = layout
    bucket = Array(repeating: 0..<0, count: layout.tableCount)
    upPage = Array(repeating: 0, count: layout.tableCount)
    downPage = Array(repeating: 0, count: layout.tableCount)
  }

  private func page(_ table: Int, _ page: Int) -> UnsafeRawBufferPointer? {
    let range = bucket[table]
    let start = range.lowerBound + page * layout.entriesPerPage
    guard page >= 0, start < range.upperBound else { return nil }
    return layout.entries(table, start..<min(range.upperBound, start + layout.entriesPerPage))
  }

  mutating func seek(table: Int, code: UInt64, firstByte sought: UInt8)
    -> (page: UnsafeRawBufferPointer, entries: Int)?
  {
    guard let range = layout.bucket(table, code: code), !range.isEmpty else {
      bucket[table] = 0..<0
      return nil
    }
    bucket[table] = range
    // The first entry whose first byte is at least `sought` (or the last one).
    var first = range.lowerBound
    var last = range.upperBound
    while first < last {
      let middle = (first + last) / 2
      if layout.firstByte(table, middle) < sought {
        first = middle + 1
      } else {
        last = middle
      }
    }
    let position = min(first, range.upperBound - 1)
    let pageIndex = (position - range.lowerBound) / layout.entriesPerPage
    upPage[table] = pageIndex
    downPage[table] = pageIndex
    return page(table, pageIndex).map { ($0, range.count) }
  }

  /// Memory cannot fail to be read.
  var failure: (any Error)? { nil }

  mutating func nextPage(table: Int) -> UnsafeRawBufferPointer? {
    upPage[table] += 1
    return page(table, upPage[table])
  }

  mutating func previousPage(table: Int, code: UInt64, firstByte: UInt8)
    -> UnsafeRawBufferPointer?
  {
    downPage[table] -= 1
    return page(table, downPage[table])
  }
}

/// What a search over fetched postings (``LSHPostingsSearch``) found missing: buckets its
/// tables do not hold, vectors its source does not hold. A search that needs one stops (its
/// answer is not kept) and is run again once they are fetched.
final class PostingsMisses {
  /// Buckets read but not held.
  var buckets: [(table: Int, code: UInt64)] = []
  /// Vectors a distance was needed for, or about to be, but not held.
  var vectors: [UInt64] = []
  /// Whether the search stopped for want of a bucket or a vector.
  var stopped = false
  /// Whether the search found fewer than k items in its buckets and would scan the store.
  var needsScan = false

  /// Notes a bucket read but not held: the search stops.
  func bucket(table: Int, code: UInt64) {
    buckets.append((table, code))
    stopped = true
  }

  /// Notes a vector the search needs now: it stops.
  func vector(_ id: UInt64) {
    vectors.append(id)
    stopped = true
  }

  /// Notes a vector the search is about to need.
  func upcoming(_ id: UInt64) { vectors.append(id) }

  /// Forgets everything, for the next search.
  func reset() {
    buckets.removeAll(keepingCapacity: true)
    vectors.removeAll(keepingCapacity: true)
    stopped = false
    needsScan = false
  }
}

/// A reader's page buffers for gathered pages, one per table, freed with the reader.
final class GatherSpace {
  let pages: [UnsafeMutableRawBufferPointer]

  init(tables: Int, bytes: Int) {
    pages =
      bytes == 0
      ? [] : (0..<tables).map { _ in .allocate(byteCount: bytes, alignment: 8) }
  }

  deinit { for page in pages { page.deallocate() } }
}

/// The order LMDB keeps a table in: by bucket code, then by entry bytes.
enum TableOrder {
  /// Item indices sorted by (code, entry bytes).
  ///
  /// The codes are put in order by a radix sort (stable, six passes of 11 bits, a pass skipped
  /// when every code has the same digit there), then each run of equal codes — a bucket, short
  /// next to the table — by its entries' bytes, with a comparison sort: the same order as one
  /// comparison sort of the whole table, at a fraction of its cost for a million items. The
  /// keys are kept as two arrays (an 8-byte code and a 4-byte item each, and as much again
  /// while sorting): 24 bytes per item at the peak, which at 10 million items is what lets an
  /// index build stay within its memory.
  static func sorted(
    items: Int, code: (Int) -> UInt64, entries: [UInt8], entryBytes: Int
  ) -> [UInt32] {
    precondition(items <= Int(UInt32.max), "a table of more than 2^32 items")
    var codes = (0..<items).map(code)
    var order = (0..<UInt32(items)).map { $0 }
    codes.withUnsafeMutableBufferPointer { codes in
      order.withUnsafeMutableBufferPointer { order in
        radixSortByCode(codes: codes, items: order)
        entries.withUnsafeBytes { bytes in
          guard let base = bytes.baseAddress else { return }
          var run: [(head: UInt64, item: UInt32)] = []
          var start = 0
          while start < items {
            var end = start + 1
            while end < items && codes[end] == codes[start] { end += 1 }
            if end - start > 1 {
              sortBucket(order[start..<end], entries: base, entryBytes: entryBytes, run: &run)
            }
            start = end
          }
        }
      }
    }
    return order
  }

  /// Sorts one bucket's items by their entries' bytes (then by item: the radix sort left them
  /// in item order, and a comparison sort is not stable): the order a store keeps a bucket in.
  static func sortBucket(
    _ items: Slice<UnsafeMutableBufferPointer<UInt32>>, entries base: UnsafeRawPointer,
    entryBytes: Int, run: inout [(head: UInt64, item: UInt32)]
  ) {
    // The first eight entry bytes as a big-endian word compare as memcmp compares them, and
    // settle almost every comparison; the rest of the bytes only break their ties.
    let head = min(8, entryBytes)
    run.removeAll(keepingCapacity: true)
    for item in items {
      let entry = base + Int(item) * entryBytes
      var word: UInt64 = 0
      for offset in 0..<head {
        word = word << 8 | UInt64(entry.load(fromByteOffset: offset, as: UInt8.self))
      }
      run.append((word << (8 * UInt64(8 - head)), item))
    }
    run.sort { a, b in
      if a.head != b.head { return a.head < b.head }
      let order = memcmp(
        base + Int(a.item) * entryBytes, base + Int(b.item) * entryBytes, entryBytes)
      return order != 0 ? order < 0 : a.item < b.item
    }
    for (position, keyed) in zip(items.indices, run) { items.base[position] = keyed.item }
  }

  /// Sorts items by code, stably: least significant 11 bits first (2,048 destinations a pass
  /// stay in the caches; 16-bit digits made the whole build slower), a pass skipped when all
  /// codes share its digit. `codes[i]` is `items[i]`'s code, and both are permuted together.
  /// With `leadingBytes` (a byte per item, by item), items of one code are ordered by their
  /// byte first (a pass by it comes first). With `threads` above 1, each pass counts and
  /// scatters contiguous chunks side by side (each chunk's items of a digit placed after those
  /// of the chunks before it: the same order), a chunk of at least `itemsPerWorker` items.
  static func radixSortByCode(
    codes: UnsafeMutableBufferPointer<UInt64>, items: UnsafeMutableBufferPointer<UInt32>,
    leadingBytes: UnsafeBufferPointer<UInt8>? = nil, threads: Int = 1,
    itemsPerWorker: Int = itemsPerSortWorker
  ) {
    let count = codes.count
    guard count > 1 else { return }
    let workers = max(1, min(threads, count / max(1, itemsPerWorker)))
    let spareCodes = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: count)
    let spareItems = UnsafeMutableBufferPointer<UInt32>.allocate(capacity: count)
    defer {
      spareCodes.deallocate()
      spareItems.deallocate()
    }
    let bits = 11
    // Worker w's count (then next position) of digit d at [w * (1 << bits) + d].
    var counts = [Int](repeating: 0, count: workers * (1 << bits))
    var source = (codes: codes, items: items)
    var target = (codes: spareCodes, items: spareItems)
    counts.withUnsafeMutableBufferPointer { counts in
      let passes =
        (leadingBytes.map { [RadixDigit(leadingBytes: $0)] } ?? [])
        + stride(from: UInt64(0), to: 64, by: bits).map { RadixDigit(shift: $0, bits: bits) }
      for digit in passes
      where radixPass(from: source, to: target, counts: counts, workers: workers, by: digit) {
        swap(&source, &target)
      }
    }
    if source.codes.baseAddress != codes.baseAddress {
      _ = codes.update(fromContentsOf: source.codes)
      _ = items.update(fromContentsOf: source.items)
    }
  }

  /// The digit of a pass of ``radixSortByCode(codes:items:leadingBytes:threads:itemsPerWorker:)``:
  /// some bits of the code, or the item's leading byte.
  private struct RadixDigit {
    var shift: UInt64 = 0
    var mask: UInt64 = 0xff
    var leadingBytes: UnsafeBufferPointer<UInt8>?

    init(shift: UInt64, bits: Int) {
      self.shift = shift
      mask = UInt64(1 << bits - 1)
    }

    init(leadingBytes: UnsafeBufferPointer<UInt8>) { self.leadingBytes = leadingBytes }

    /// Digits run from 0 to this.
    var values: Int { Int(mask) + 1 }

    @inline(__always)
    func callAsFunction(_ code: UInt64, _ item: UInt32) -> Int {
      if let leadingBytes { return Int(leadingBytes[Int(item)]) }
      return Int(truncatingIfNeeded: code >> shift & mask)
    }
  }

  /// One stable counting pass of ``radixSortByCode(codes:items:leadingBytes:threads:itemsPerWorker:)``
  /// by `digit`, from `source` into `target`; `false`, and nothing moved, when every item has
  /// the same digit.
  private static func radixPass(
    from source: (
      codes: UnsafeMutableBufferPointer<UInt64>, items: UnsafeMutableBufferPointer<UInt32>
    ),
    to target: (
      codes: UnsafeMutableBufferPointer<UInt64>, items: UnsafeMutableBufferPointer<UInt32>
    ),
    counts: UnsafeMutableBufferPointer<Int>, workers: Int, by digit: RadixDigit
  ) -> Bool {
    let count = source.codes.count
    let stride = counts.count / workers
    counts.update(repeating: 0)
    let shared = UncheckedSendable((source, target, counts))
    Parallel.forEachChunk(of: count, count: workers) { worker, range in
      let (source, _, counts) = shared.value
      for index in range {
        counts[worker * stride + digit(source.codes[index], source.items[index])] += 1
      }
    }
    let first = digit(source.codes[0], source.items[0])
    guard (0..<workers).reduce(0, { $0 + counts[$1 * stride + first] }) != count else {
      return false  // one digit: already in order
    }
    var total = 0
    for value in 0..<digit.values {
      for worker in 0..<workers {
        let here = counts[worker * stride + value]
        counts[worker * stride + value] = total
        total += here
      }
    }
    Parallel.forEachChunk(of: count, count: workers) { worker, range in
      let (source, target, counts) = shared.value
      for index in range {
        let slot = worker * stride + digit(source.codes[index], source.items[index])
        target.codes[counts[slot]] = source.codes[index]
        target.items[counts[slot]] = source.items[index]
        counts[slot] += 1
      }
    }
    return true
  }

  /// Fewest items a worker of a parallel sort takes (below, threads cost more than they save).
  static let itemsPerSortWorker = 1 << 16
}

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif
