import StorageBackend
import VectorStore

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

extension LSHIndex {
  /// Checks a store's index against its vectors: the parameters (and their checksum) must load,
  /// and every table must hold exactly one entry per live item, the entry (bucket code, compact
  /// code, id) its stored vector gives now. Everything found is derived data: a repair
  /// rebuilds it.
  ///
  /// - Parameter store: the store.
  /// - Returns: the problems found (none when the store has no index, or a sound one).
  /// - Throws: ``VectorStoreError`` when the store cannot be read.
  /// - Complexity: O(items · tables · log(items)).
  public static func check(_ store: VectorStore) throws -> [StoreDamage] {
    let index: LSHIndex?
    do {
      index = try open(store)
    } catch let error as LSHError {
      return [
        StoreDamage(database: parametersName, key: "", problem: error.message, isDerived: true)
      ]
    }
    guard let index else { return [] }
    // Opening attached the index; the check changes nothing, so it lets go of it again.
    defer { store.detachIndex(named: name) }
    return try store.read { snapshot in try index.resolved(in: snapshot).checkTables(in: snapshot) }
  }

  private func checkTables(in snapshot: StoreSnapshot) throws -> [StoreDamage] {
    var damage: [StoreDamage] = []
    try BulkEncoding.forEachTableInStoreOrder(of: snapshot, encoder: encoder) {
      table, order, code, entries in
      if let found = try checkTable(
        table, expecting: order, code: code, entries: entries, in: snapshot)
      {
        damage.append(found)
      }
    }
    if let found = try checkPackedTables(in: snapshot) { damage.append(found) }
    return damage
  }

  /// Compares the packed copy of the tables, when there is one, with the tables: every table
  /// packed, each a sound value of this build and of the store's items as they are
  /// (``PackedTable``, ``PackedStamp``) holding the table's buckets, counts and entries in its
  /// order. The damage found, or `nil`.
  func checkPackedTables(in snapshot: StoreSnapshot) throws -> StoreDamage? {
    guard let packedTable else { return nil }
    let transaction = snapshot.transaction
    let stored = try transaction.entryCount(in: packedTable)
    guard stored > 0 else { return nil }
    func damage(_ table: Int?, _ problem: String) -> StoreDamage {
      StoreDamage(
        database: Self.packedName, key: table.map { "table \($0)" } ?? "", problem: problem,
        isDerived: true)
    }
    guard stored == bucketTables.count else {
      return damage(nil, "holds \(stored) packed tables; the index has \(bucketTables.count)")
    }
    let stamp = packedStamp(in: snapshot)
    for (table, storage) in bucketTables.enumerated() {
      guard let value = try transaction.value(forKey: IntegerKey(UInt64(table)), in: packedTable)
      else { return damage(table, "missing") }
      if let problem = Self.staleness(of: value, expecting: stamp) {
        return damage(table, problem)
      }
      guard
        let packed = PackedTable(
          value: value, entryBytes: encoder.coder.entryBytes, stamp: stamp,
          entries: try transaction.entryCount(in: storage))
      else {
        return damage(
          table,
          "not a sound packed copy of this build of the index (its header, size or order is wrong)"
        )
      }
      if let problem = try packed.difference(from: storage, in: transaction) {
        return damage(table, problem)
      }
    }
    return nil
  }

  /// Why a packed value is not of the state `expected` describes, when its format says so: an
  /// older format, another build, or items changed since it was packed (by a tripindex older
  /// than packed copies, which changes the tables without removing the copy). `nil` when the
  /// stamp is the expected one, or the value is not in a format that has one.
  static func staleness(of value: UnsafeRawBufferPointer, expecting expected: PackedStamp)
    -> String?
  {
    let repair = "`tripindex index --pack` or `tripindex check --repair` packs the tables again"
    if value.prefix(8).elementsEqual(PackedTable.firstMagic) {
      return "written by an older tripindex (format TIPACK01), so never read; \(repair)"
    }
    guard let stamp = PackedTable.stamp(of: value), stamp != expected else { return nil }
    if stamp.generation != expected.generation || stamp.checksum != expected.checksum {
      return "packed for another build of the index (\(stamp)); this build is \(expected)"
    }
    return "stale: packed when the store held \(stamp.itemCount) items (next id \(stamp.nextID));"
      + " it holds \(expected.itemCount) (next id \(expected.nextID)), so the items changed"
      + " without the copy being removed (a tripindex older than packed copies wrote to the"
      + " store); it is never read; \(repair)"
  }

  /// Compares one table with the entries its items' vectors give now (a merge of both in table
  /// order): the damage found, or `nil`.
  private func checkTable(
    _ table: Int, expecting order: [UInt32], code: (Int) -> UInt64, entries: [UInt8],
    in snapshot: StoreSnapshot
  ) throws -> StoreDamage? {
    let entryBytes = encoder.coder.entryBytes
    var missing = 0
    var unexpected = 0
    var firstProblem: String?
    try entries.withUnsafeBytes { expectedBytes in
      guard let expectedBase = expectedBytes.baseAddress else { return }
      var next = 0
      func idOf(_ entry: UnsafeRawPointer) -> UInt64 {
        encoder.coder.id(in: UnsafeRawBufferPointer(start: entry, count: entryBytes), at: 0)
      }
      func expected(_ position: Int) -> (UInt64, UnsafeRawPointer) {
        let item = Int(order[position])
        return (code(item), expectedBase + item * entryBytes)
      }
      try snapshot.transaction.withCursor(in: bucketTables[table]) { cursor in
        try cursor.forEachKey { current in
          guard let code = IntegerKey(bytes: current.key)?.value else {
            firstProblem = firstProblem ?? "a key of \(current.key.count) bytes"
            unexpected += 1
            return true
          }
          try cursor.forEachDuplicatesPage { values in
            guard values.count % entryBytes == 0, let base = values.baseAddress else {
              firstProblem = firstProblem ?? "entries of the wrong size under code \(code)"
              unexpected += 1
              return false
            }
            for offset in stride(from: 0, to: values.count, by: entryBytes) {
              let stored = base + offset
              // Merge: expected entries that sort before this one are missing from the table.
              var matched = false
              while next < order.count {
                let (expectedCode, expectedEntry) = expected(next)
                let comparison =
                  expectedCode != code
                  ? (expectedCode < code ? -1 : 1) : memcmp(expectedEntry, stored, entryBytes)
                if comparison < 0 {
                  missing += 1
                  firstProblem =
                    firstProblem
                    ?? "item \(idOf(expectedEntry)) is missing from bucket \(expectedCode)"
                  next += 1
                  continue
                }
                if comparison == 0 {
                  next += 1
                  matched = true
                }
                break
              }
              if !matched {
                unexpected += 1
                firstProblem =
                  firstProblem
                  ?? "bucket \(code) holds an entry (id \(idOf(stored))) that no live vector gives"
              }
            }
            return true
          }
          return true
        }
      }
      missing += order.count - next
      if next < order.count && firstProblem == nil {
        firstProblem = "\(order.count - next) items at the end are missing"
      }
    }
    guard missing > 0 || unexpected > 0 else { return nil }
    return StoreDamage(
      database: Self.tableName(table), key: "",
      problem:
        "\(missing) live items missing, \(unexpected) entries no live vector gives (first: \(firstProblem ?? "?"))",
      isDerived: true)
  }
}
