import LSHIndex
import Plumbing
import VectorIO
import VectorStore

/// The `check` command: reads every record of a store, verifies checksums, counts, the
/// `names` ↔ `items` maps, the deleted bitmaps, block sizes and the LSH tables, and with
/// `repair` rebuilds what is derived (names, count, missing checksums, the LSH index) in one
/// transaction.
public enum StoreCheck {
  /// What a check (and repair) found and did.
  public struct Report: Sendable {
    /// The store.
    public var storePath: String
    /// Entries read per database.
    public var entriesRead: [(database: String, entries: Int)] = []
    /// The problems found (before any repair).
    public var found: [StoreDamage] = []
    /// What the repair rebuilt, one line each (empty without `repair`).
    public var repaired: [UserText] = []
    /// The problems left after the repair (the same as `found` without one).
    public var remaining: [StoreDamage] = []
    /// Whether the store has checksums (a schema-1 store checked read-only has none).
    public var hasChecksums = true
    /// Seconds taken.
    public var seconds = 0.0

    /// Whether the store is sound now.
    public var isSound: Bool { remaining.isEmpty }
  }

  /// Checks (and optionally repairs) a store.
  ///
  /// - Parameters:
  ///   - storePath: the store's directory, or a `redis://` address.
  ///   - repair: rebuild what is derived, in one transaction (LMDB only).
  ///   - redis: how to reach a store on a Redis Cluster.
  ///   - progress: where status goes.
  /// - Returns: the report.
  /// - Throws: `VectorStoreError` when the store cannot be opened at all (its message says
  ///   why: a truncated file, damaged metadata), or LMDB fails; `RedisError` or
  ///   `RedisStoreError` for a Redis store.
  public static func run(
    storePath: String, repair: Bool, redis: RedisAccess = RedisAccess(),
    progress: any ProgressReporting
  ) throws -> Report {
    let started = MonotonicClock.now()
    if RedisAccess.isRedis(storePath) {
      return try checkRedis(storePath, repair: repair, redis: redis, started: started)
    }
    let store = try VectorStore.open(path: storePath, readOnly: !repair)
    var report = Report(storePath: storePath)
    progress.update("checking \(storePath)", force: true)
    report.found = try findDamage(store, into: &report)
    report.remaining = report.found
    if repair && report.found.contains(where: \.isDerived) {
      progress.update("repairing what is derived", force: true)
      report.repaired = try repairDerived(store, damage: report.found)
      progress.update("checking again", force: true)
      var again = Report(storePath: storePath)
      report.remaining = try findDamage(store, into: &again)
    }
    progress.finish()
    // An attached index holds its store: let go, so the store closes with this call.
    store.detachIndex(named: LSHIndex.name)
    report.seconds = MonotonicClock.now() - started
    return report
  }

  /// Checks a store on a Redis Cluster: every shard's records, rows, names, counts and every
  /// vector's checksum, as one consistent read.
  private static func checkRedis(
    _ location: String, repair: Bool, redis: RedisAccess, started: Double
  ) throws -> Report {
    if repair {
      throw TripIndexError(
        "\(option: .repair) works on LMDB stores; on a Redis store, copy what is sound to a new store with \(command: "copy") or build it again"
      )
    }
    let store = try redis.open(location)
    var report = Report(storePath: "\(store.address)")
    report.found = try store.check().map { line in
      // Each line reads "shard N: what is wrong".
      let parts = line.split(separator: ":", maxSplits: 1)
      let (shard, problem) =
        parts.count == 2
        ? (String(parts[0]), String(parts[1].drop { $0 == " " })) : ("store", line)
      return StoreDamage(database: shard, key: "", problem: problem, isDerived: false)
    }
    report.entriesRead = try store.shardStatistics().map { ("shard \($0.shard)", $0.items) }
    report.remaining = report.found
    report.seconds = MonotonicClock.now() - started
    return report
  }

  private static func findDamage(_ store: VectorStore, into report: inout Report) throws
    -> [StoreDamage]
  {
    let storeReport = try store.check()
    report.entriesRead = storeReport.entriesRead
    report.hasChecksums = storeReport.hasChecksums
    var damage = storeReport.damage
    let recorded = try recordedIndexes(store)
    for name in recorded where name != LSHIndex.name {
      damage.append(
        StoreDamage(
          database: "meta", key: VectorStore.indexesKey,
          problem: "records an index '\(name)' that this version does not know", isDerived: true))
    }
    // Index tables are compared with the vectors, which must be readable for that.
    if !damage.contains(where: { $0.database == "vectors" || $0.database == "deleted" }) {
      damage += try LSHIndex.check(store)
    } else if try store.metadata(VectorStore.indexesKey) != nil {
      damage.append(
        StoreDamage(
          database: "lsh.table.*", key: "",
          problem: "not compared with the vectors, which are damaged", isDerived: false))
    }
    return damage
  }

  /// The index names the store records.
  private static func recordedIndexes(_ store: VectorStore) throws -> [String] {
    try store.metadata(VectorStore.indexesKey)?.split(separator: ",").map(String.init) ?? []
  }

  /// Rebuilds names, count, checksum records and the LSH index in one transaction.
  private static func repairDerived(_ store: VectorStore, damage: [StoreDamage]) throws
    -> [UserText]
  {
    let indexDamage = damage.filter { $0.database.hasPrefix("lsh.") }
    var rebuild: LSHIndex.Rebuild?
    var repack: LSHIndex?
    var indexLine: UserText?
    if !indexDamage.isEmpty && indexDamage.allSatisfy({ $0.database == LSHIndex.packedName }),
      let index = try? LSHIndex.open(store)
    {
      // The tables are sound (check compared them with the vectors): only their packed copy is
      // written again, and the index keeps its build and its measured speed.
      repack = index
      indexLine = "LSH index: packed copy written again from the tables"
    } else if !indexDamage.isEmpty {
      // The parameters are kept when they load; otherwise the index is dropped.
      let encoder = (try? LSHIndex.open(store))??.encoder
      rebuild = try LSHIndex.prepareRebuild(of: store, encoder: encoder)
      indexLine =
        encoder == nil
        ? "LSH index: dropped (its parameters are damaged); build a new one with \(command: "index") or \(command: "tune")"
        : "LSH index: every table rebuilt from the vectors"
    }
    do {
      return try store.write { writer in
        var lines = try writer.rebuildDerived().map { UserText(verbatim: $0) }
        if let rebuild, let indexLine {
          try rebuild.apply(in: writer)
          lines.append(indexLine)
        } else if let repack, let indexLine {
          try repack.writePackedTables(in: writer)
          lines.append(indexLine)
        }
        let recorded = try recordedIndexes(store)
        let known = recorded.filter { $0 == LSHIndex.name }
        if known.count != recorded.count {
          try writer.setIndexNames(known)
          lines.append("meta indexes: unknown index names removed")
        }
        return lines
      }
    } catch {
      rebuild?.discard()
      throw error
    }
  }
}

extension StoreCheck.Report {
  /// The findings as text: one line per problem, then the verdict.
  public var text: UserText {
    var lines: [UserText] = []
    let read = entriesRead.map { "\($0.database) \(TextFormatting.grouped($0.entries))" }
    lines.append("\(storePath): read \(read.joined(separator: ", ")) entries")
    if !hasChecksums {
      lines.append(
        "note: this store predates checksums (schema 1); any write, or `check \(option: .repair)`, adds them"
      )
    }
    for damage in found {
      lines.append(
        "damaged: \(damage)"
          + (damage.isDerived
            ? " (derived: \(option: .repair) rebuilds it)" : UserText(verbatim: "")))
    }
    for line in repaired { lines.append("repaired: \(line)") }
    if remaining.isEmpty {
      lines.append(
        found.isEmpty ? "the store is sound" : "the store is sound after the repair")
    } else {
      let derived = remaining.filter(\.isDerived).count
      var line: UserText = "\(remaining.count) problem(s) remain"
      if derived > 0 && repaired.isEmpty {
        line = line + "; \(derived) can be rebuilt with \(option: .repair)"
      }
      if remaining.contains(where: { !$0.isDerived }) {
        line =
          line
          + "; damage to vectors or item records cannot be derived: restore the store from a copy, or run \(command: "build") again on the source files (it rewrites vectors and labels that differ)"
      }
      lines.append(line)
    }
    return UserText.joined(lines, separator: "\n")
  }

  /// The report as one JSON object.
  public var json: String {
    var out = OutputBuffer(stream: nil)
    out.write("{\"store\": ")
    out.writeJSONString(storePath)
    out.write(", \"sound\": \(isSound), \"has_checksums\": \(hasChecksums), \"entries_read\": {")
    for (index, entry) in entriesRead.enumerated() {
      if index > 0 { out.write(", ") }
      out.writeJSONString(entry.database)
      out.write(": \(entry.entries)")
    }
    out.write("}")
    for (key, list) in [("found", found), ("remaining", remaining)] {
      out.write(", \"\(key)\": [")
      for (index, damage) in list.enumerated() {
        if index > 0 { out.write(", ") }
        out.write("{\"database\": ")
        out.writeJSONString(damage.database)
        out.write(", \"key\": ")
        out.writeJSONString(damage.key)
        out.write(", \"problem\": ")
        out.writeJSONString(damage.problem)
        out.write(", \"derived\": \(damage.isDerived)}")
      }
      out.write("]")
    }
    out.write(", \"repaired\": [")
    for (index, line) in repaired.enumerated() {
      if index > 0 { out.write(", ") }
      out.writeJSONString(line.description)
    }
    out.write("], \"seconds\": \(seconds)}")
    return out.text
  }
}
