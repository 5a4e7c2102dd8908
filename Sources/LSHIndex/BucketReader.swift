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
/// settings without writing them to the store.
public final class MemoryTables: @unchecked Sendable {
  /// Per table: the bucket codes, sorted.
  let codes: [[UInt64]]
  /// Per table: bucket `b` holds entries `starts[b] ..< starts[b + 1]`.
  let starts: [[Int]]
  /// Per table: the entries, bucket after bucket, each bucket's by first code byte.
  let entries: [UnsafeMutableRawBufferPointer]
  let entryBytes: Int
  let entriesPerPage: Int

  /// Builds tables from every item's codes and entry.
  ///
  /// - Parameters:
  ///   - tables: L.
  ///   - entryBytes: bytes per entry.
  ///   - items: the number of items.
  ///   - codes: item `i`'s code in table `t` is `codes[i * tables + t]`.
  ///   - itemEntries: item `i`'s entry starts at byte `i * entryBytes`.
  ///   - storeOrder: order each bucket by its entries' bytes, exactly as a store's table is
  ///     ordered (so that a search reads the same pages and gives the same answers); otherwise
  ///     by first code byte, then item (cheaper to sort, as tuning wants).
  init(
    tables: Int, entryBytes: Int, items: Int, codes allCodes: [UInt64], itemEntries: [UInt8],
    storeOrder: Bool = false
  ) {
    self.entryBytes = entryBytes
    entriesPerPage = max(1, 4080 / entryBytes)
    var codes = [[UInt64]](repeating: [], count: tables)
    var starts = [[Int]](repeating: [], count: tables)
    var entries = [UnsafeMutableRawBufferPointer?](repeating: nil, count: tables)
    codes.withUnsafeMutableBufferPointer { codes in
      starts.withUnsafeMutableBufferPointer { starts in
        entries.withUnsafeMutableBufferPointer { entries in
          // Tables are independent: each worker builds its own (disjoint writes).
          let shared = UncheckedSendable((codes, starts, entries))
          Parallel.forEachChunk(of: tables, count: Parallel.processorCount) { _, range in
            let (codes, starts, entries) = shared.value
            for table in range {
              (codes[table], starts[table], entries[table]) = Self.table(
                table, of: tables, entryBytes: entryBytes, items: items, codes: allCodes,
                itemEntries: itemEntries, storeOrder: storeOrder)
            }
          }
        }
      }
    }
    self.codes = codes
    self.starts = starts
    self.entries = entries.compactMap { $0 }
  }

  /// One table: bucket codes, bucket starts and the entries, by code, then by first code byte
  /// (the order crowded buckets are scanned in).
  private static func table(
    _ table: Int, of tables: Int, entryBytes: Int, items: Int, codes allCodes: [UInt64],
    itemEntries: [UInt8], storeOrder: Bool
  ) -> ([UInt64], [Int], UnsafeMutableRawBufferPointer) {
    var keyed: [(code: UInt64, order: UInt64)]
    if storeOrder {
      keyed = TableOrder.sorted(
        items: items, code: { allCodes[$0 * tables + table] }, entries: itemEntries,
        entryBytes: entryBytes
      ).map { (allCodes[$0 * tables + table], UInt64($0)) }
    } else {
      keyed = (0..<items).map { item in
        (
          code: allCodes[item * tables + table],
          order: UInt64(itemEntries[item * entryBytes]) << 56 | UInt64(item)
        )
      }
      keyed.sort { $0.code < $1.code || ($0.code == $1.code && $0.order < $1.order) }
    }
    let buffer = UnsafeMutableRawBufferPointer.allocate(
      byteCount: max(1, items * entryBytes), alignment: 8)
    var tableCodes: [UInt64] = []
    var tableStarts: [Int] = []
    itemEntries.withUnsafeBytes { source in
      for (position, key) in keyed.enumerated() {
        let item = Int(key.order & 0x00ff_ffff_ffff_ffff)
        if tableCodes.last != key.code {
          tableCodes.append(key.code)
          tableStarts.append(position)
        }
        UnsafeMutableRawBufferPointer(
          rebasing: buffer[(position * entryBytes)..<((position + 1) * entryBytes)]
        ).copyMemory(
          from: UnsafeRawBufferPointer(
            rebasing: source[(item * entryBytes)..<((item + 1) * entryBytes)]))
      }
    }
    tableStarts.append(keyed.count)
    return (tableCodes, tableStarts, buffer)
  }

  deinit { for buffer in entries { buffer.deallocate() } }

  /// Bytes of entries held.
  public var bytes: Int { entries.reduce(0) { $0 + $1.count } }

  /// A reader for one thread.
  func reader() -> Reader { Reader(tables: self) }

  /// Reads ``MemoryTables`` page by page.
  struct Reader: BucketReader {
    let tables: MemoryTables
    /// Per table: the bucket's entry range and the pages last returned up and down.
    var bucket: [Range<Int>]
    var upPage: [Int]
    var downPage: [Int]

    init(tables: MemoryTables) {
      self.tables = tables
      bucket = Array(repeating: 0..<0, count: tables.codes.count)
      upPage = Array(repeating: 0, count: tables.codes.count)
      downPage = Array(repeating: 0, count: tables.codes.count)
    }

    private func page(_ table: Int, _ page: Int) -> UnsafeRawBufferPointer? {
      let range = bucket[table]
      let start = range.lowerBound + page * tables.entriesPerPage
      guard page >= 0, start < range.upperBound else { return nil }
      let end = min(range.upperBound, start + tables.entriesPerPage)
      return UnsafeRawBufferPointer(
        rebasing: tables.entries[table][(start * tables.entryBytes)..<(end * tables.entryBytes)])
    }

    mutating func seek(table: Int, code: UInt64, firstByte: UInt8)
      -> (page: UnsafeRawBufferPointer, entries: Int)?
    {
      let codes = tables.codes[table]
      var low = 0
      var high = codes.count
      while low < high {
        let middle = (low + high) / 2
        if codes[middle] < code { low = middle + 1 } else { high = middle }
      }
      guard low < codes.count, codes[low] == code else {
        bucket[table] = 0..<0
        return nil
      }
      let range = tables.starts[table][low]..<tables.starts[table][low + 1]
      bucket[table] = range
      // The first entry whose first byte is at least `firstByte` (or the last one).
      let buffer = tables.entries[table]
      var first = range.lowerBound
      var last = range.upperBound
      while first < last {
        let middle = (first + last) / 2
        if buffer[middle * tables.entryBytes] < firstByte {
          first = middle + 1
        } else {
          last = middle
        }
      }
      let position = min(first, range.upperBound - 1)
      let pageIndex = (position - range.lowerBound) / tables.entriesPerPage
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
}

/// The order LMDB keeps a table in: by bucket code, then by entry bytes.
enum TableOrder {
  /// Item indices sorted by (code, entry bytes).
  ///
  /// The codes are put in order by a radix sort (stable, six passes of 11 bits, a pass skipped
  /// when every code has the same digit there), then each run of equal codes — a bucket, short
  /// next to the table — by its entries' bytes, with a comparison sort: the same order as one
  /// comparison sort of the whole table, at a fraction of its cost for a million items.
  static func sorted(
    items: Int, code: (Int) -> UInt64, entries: [UInt8], entryBytes: Int
  ) -> [Int] {
    entries.withUnsafeBytes { bytes in
      guard let base = bytes.baseAddress else { return [] }
      // The first eight entry bytes as a big-endian word compare as memcmp compares them, and
      // settle almost every comparison; the rest of the bytes only break their ties.
      let head = min(8, entryBytes)
      var keyed = (0..<items).map { item in
        var word: UInt64 = 0
        for offset in 0..<head { word = word << 8 | UInt64(bytes[item * entryBytes + offset]) }
        return Keyed(code: code(item), head: word << (8 * UInt64(8 - head)), item: item)
      }
      keyed.withUnsafeMutableBufferPointer { keyed in
        radixSortByCode(keyed)
        var start = 0
        while start < items {
          var end = start + 1
          while end < items && keyed[end].code == keyed[start].code { end += 1 }
          if end - start > 1 {
            var run = UnsafeMutableBufferPointer(rebasing: keyed[start..<end])
            run.sort { a, b in
              if a.head != b.head { return a.head < b.head }
              let order = memcmp(
                base + a.item * entryBytes, base + b.item * entryBytes, entryBytes)
              return order != 0 ? order < 0 : a.item < b.item
            }
          }
          start = end
        }
      }
      return keyed.map(\.item)
    }
  }

  /// An item with its sort keys.
  struct Keyed {
    var code: UInt64
    var head: UInt64
    var item: Int
  }

  /// Sorts by code, stably: least significant 11 bits first (2,048 destinations a pass stay in
  /// the caches; 16-bit digits made the whole build slower), a pass skipped when all codes
  /// share its digit.
  static func radixSortByCode(_ keyed: UnsafeMutableBufferPointer<Keyed>) {
    let count = keyed.count
    guard count > 1 else { return }
    let spare = UnsafeMutableBufferPointer<Keyed>.allocate(capacity: count)
    defer { spare.deallocate() }
    let bits: UInt64 = 11
    let mask = (1 << Int(bits)) - 1
    var counts = [Int](repeating: 0, count: 1 << Int(bits))
    var source = keyed
    var target = spare
    for shift in stride(from: UInt64(0), to: 64, by: Int(bits)) {
      counts.withUnsafeMutableBufferPointer { counts in
        counts.update(repeating: 0)
        for index in 0..<count {
          counts[Int(truncatingIfNeeded: source[index].code >> shift) & mask] += 1
        }
        let first = Int(truncatingIfNeeded: source[0].code >> shift) & mask
        guard counts[first] != count else { return }  // one digit: already in order
        var total = 0
        for digit in 0...mask {
          let here = counts[digit]
          counts[digit] = total
          total += here
        }
        for index in 0..<count {
          let digit = Int(truncatingIfNeeded: source[index].code >> shift) & mask
          target[counts[digit]] = source[index]
          counts[digit] += 1
        }
        swap(&source, &target)
      }
    }
    if source.baseAddress != keyed.baseAddress {
      _ = keyed.update(fromContentsOf: source)
    }
  }
}

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif
