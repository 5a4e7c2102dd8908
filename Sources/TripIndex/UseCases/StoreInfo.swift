import LSHIndex
import Plumbing
import RedisStore
import VectorMath
import VectorStore

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// What the `info` command reports: the store's items, layout and size per database, its index
/// (settings, measured speed, tune's verdict) and its model.
public struct StoreInfo: Sendable {
  /// A database and its size.
  public struct DatabaseSize: Sendable {
    /// Its name.
    public var name: String
    /// Key/value pairs.
    public var entries: Int
    /// Bytes in use (pages × page size).
    public var bytes: Int
  }

  /// The LSH index.
  public struct IndexInfo: Sendable {
    /// Its settings.
    public var configuration: LSHConfiguration
    /// The speed check `index` or `tune` recorded (µs/query, LSH and exact), if any.
    public var measured: (lsh: Double, exact: Double)?
  }

  /// The model the store's vectors were embedded with.
  public struct ModelInfo: Sendable {

    /// Where it was when the store was built.
    public var path: String
    /// Its fingerprint.
    public var fingerprint: String
    /// Its architecture and loss, when the file is there and matches.
    public var description: String?
  }

  /// The store's directory.
  public var storePath: String
  /// Live items.
  public var count: Int
  /// Ids ever assigned (live + deleted).
  public var assignedIDs: UInt64
  /// Values per vector.
  public var dimension: Int
  /// The metric.
  public var metric: DistanceMetric
  /// Bytes of data.mdb.
  public var dataBytes: Int
  /// The schema version (2: block checksums).
  public var schemaVersion: Int
  /// The store's and the index's databases.
  public var databases: [DatabaseSize]
  /// The LSH index, or `nil`.
  public var index: IndexInfo?
  /// Why the recorded index cannot be opened (a damaged or outdated index), or `nil`.
  public var indexProblem: String?
  /// The last `tune` verdict, or `nil`.
  public var tuneVerdict: String?
  /// The model, or `nil` for raw vectors.
  public var model: ModelInfo?

  /// The engine holding the store: `lmdb`, or `redis` (a store on a Redis Cluster).
  public var engine = "lmdb"

  /// Reads a store's description.
  ///
  /// - Parameters:
  ///   - storePath: the store's directory, or a `redis://` address.
  ///   - redis: how to reach a store on a Redis Cluster.
  /// - Returns: the description.
  /// - Throws: `VectorStoreError` or `LSHError` for an unreadable store or index; `RedisError` or
  ///   `RedisStoreError` for a Redis store.
  public static func read(storePath: String, redis: RedisAccess = RedisAccess()) throws
    -> StoreInfo
  {
    if RedisAccess.isRedis(storePath) { return try describe(try redis.open(storePath)) }
    let store = try VectorStore.open(path: storePath, readOnly: true)
    // A damaged index is described, not fatal: `index` can still replace it.
    var index: LSHIndex?
    var indexProblem: String?
    do {
      index = try LSHIndex.open(store)
    } catch let error as LSHError {
      indexProblem = error.message
    }
    defer { if index != nil { store.detachIndex(named: LSHIndex.name) } }
    return try describe(store, index: index, indexProblem: indexProblem)
  }

  /// Describes an open store and its open index (a server's, which keeps both open).
  ///
  /// - Parameters:
  ///   - store: the store.
  ///   - index: its LSH index, or `nil`.
  ///   - indexProblem: why the recorded index could not be opened, or `nil`.
  /// - Returns: the description.
  /// - Throws: `VectorStoreError` for an unreadable store.
  static func describe(_ store: VectorStore, index: LSHIndex?, indexProblem: String?) throws
    -> StoreInfo
  {
    let storePath = store.path
    var status = stat()
    let bytes = stat(storePath + "/data.mdb", &status) == 0 ? Int(status.st_size) : 0
    let sizes = try store.databaseStatistics() + (index?.databaseStatistics() ?? [])
    let model = try ModelInfo(recordedIn: store.metadata, location: storePath)
    let tuneVerdict = try store.metadata(Tune.verdictDetailKey)
    let recordedSpeed = try LSHIndex.recordedSpeed(of: store)
    return try store.read { snapshot in
      StoreInfo(
        storePath: storePath, count: snapshot.count, assignedIDs: snapshot.nextID,
        dimension: store.dimension, metric: store.metric, dataBytes: bytes,
        schemaVersion: store.schemaVersion,
        databases: sizes.map {
          DatabaseSize(name: $0.name, entries: $0.statistics.entries, bytes: $0.statistics.bytes)
        },
        index: index.map { IndexInfo(configuration: $0.configuration, measured: recordedSpeed) },
        indexProblem: indexProblem, tuneVerdict: tuneVerdict, model: model)
    }
  }

  /// Describes a store on a Redis Cluster: its items acknowledged so far (also while a build
  /// runs), its shards with the memory their keys take (`MEMORY USAGE`), its index, its model.
  ///
  /// - Parameter store: the store.
  /// - Returns: the description (``databases`` lists the shards).
  /// - Throws: `RedisError`.
  static func describe(_ store: RedisStore) throws -> StoreInfo {
    let location = "\(store.address)"
    let shards = try store.shardStatistics()
    let model = try ModelInfo(recordedIn: store.metadata, location: location)
    var index: IndexInfo?
    var indexProblem: String?
    let recordedSpeed = LSHIndex.parsedSpeed(try store.metadata(LSHIndex.speedKey))
    do {
      index = try RedisIndex.current(of: store).map {
        IndexInfo(configuration: $0.encoder.model.configuration, measured: recordedSpeed)
      }
    } catch let error as LSHError {
      indexProblem = error.message
    }
    var info = StoreInfo(
      storePath: location, count: shards.reduce(0) { $0 + $1.items },
      assignedIDs: try store.assignedIDs(), dimension: store.dimension, metric: store.metric,
      dataBytes: shards.reduce(0) { $0 + $1.bytes }, schemaVersion: store.schema,
      databases: shards.map {
        DatabaseSize(name: "shard \($0.shard)", entries: $0.items, bytes: $0.bytes)
      }, index: index, indexProblem: indexProblem,
      tuneVerdict: try store.metadata(Tune.verdictDetailKey), model: model)
    info.engine = "redis"
    return info
  }

  private static func mebibytes(_ bytes: Int) -> String {
    "\(TextFormatting.fixed(Double(bytes) / 1_048_576, 2)) MiB"
  }

  /// The description for people: a summary table, then the databases, index and model.
  public var text: UserText {
    var lines: [UserText] = [
      UserText(
        verbatim: TextTable.render(
          header: [
            "store", "items", "deleted", "dimension", "metric",
            engine == "redis" ? "memory" : "data file",
          ],
          rows: [
            [
              storePath, TextFormatting.grouped(count),
              TextFormatting.grouped(Int(assignedIDs) - count), String(dimension),
              metric.rawValue, Self.mebibytes(dataBytes),
            ]
          ]
        ).trimmingTrailingNewline()),
      "",
      engine == "redis"
        ? "Redis Cluster store, layout \(schemaVersion) (\(databases.count) shards; vector checksums in item records, \(command: "check") verifies them; items counted as acknowledged)"
        : "schema \(schemaVersion)"
          + (schemaVersion >= 3
            ? " (block checksums; \(command: "check") verifies them)"
            : schemaVersion == 2
              ? " (block checksums, no groups in item records: opening it for writing adds them)"
              : " (no checksums or groups yet: opening it for writing adds them)"),
    ]
    if let index {
      var line = "index: lsh \(index.configuration.summary)"
      if let measured = index.measured {
        line +=
          "; measured \(TextFormatting.fixed(measured.lsh, 1)) µs/query against \(TextFormatting.fixed(measured.exact, 1)) µs for exact search"
      }
      lines.append(UserText(verbatim: line))
    } else if let indexProblem {
      lines.append("index: cannot be used: \(indexProblem)")
    } else {
      lines.append("index: none (queries search exactly)")
    }
    if let tuneVerdict { lines.append("last tune: \(tuneVerdict)") }
    if let model {
      lines.append(
        UserText(
          verbatim: "model: \(model.path) (fingerprint \(model.fingerprint))"
            + (model.description.map { ", \($0)" } ?? ", not readable there now")))
    } else {
      lines.append("model: none (raw vectors)")
    }
    lines.append("")
    lines.append(
      UserText(
        verbatim: TextTable.render(
          header: [engine == "redis" ? "shard" : "database", "entries", "size"],
          rows: databases.map {
            [$0.name, TextFormatting.grouped($0.entries), Self.mebibytes($0.bytes)]
          },
          rightAligned: [false, true, true]
        ).trimmingTrailingNewline()))
    return UserText.joined(lines, separator: "\n")
  }

  /// The description as one JSON object.
  public var json: String {
    var fields: [(String, JSONValue)] = [
      ("store", .string(storePath)), ("engine", .string(engine)), ("count", .integer(count)),
      ("deleted", .integer(Int(assignedIDs) - count)), ("dimension", .integer(dimension)),
      ("metric", .string(metric.rawValue)), ("data_bytes", .integer(dataBytes)),
      ("schema", .integer(schemaVersion)),
      (
        "databases",
        .array(
          databases.map {
            .object([
              ("name", .string($0.name)), ("entries", .integer($0.entries)),
              ("bytes", .integer($0.bytes)),
            ])
          })
      ),
    ]
    if let index {
      var indexFields: [(String, JSONValue)] = [
        ("kind", .string("lsh")), ("settings", index.configuration.json),
      ]
      if let measured = index.measured {
        indexFields.append(("microseconds_per_query", .number(measured.lsh)))
        indexFields.append(("exact_microseconds_per_query", .number(measured.exact)))
      }
      fields.append(("index", .object(indexFields)))
    } else if let indexProblem {
      fields.append(
        ("index", .object([("kind", .string("lsh")), ("problem", .string(indexProblem))])))
    } else {
      fields.append(("index", .null))
    }
    fields.append(("tune", tuneVerdict.map { .string($0) } ?? .null))
    if let model {
      fields.append(
        (
          "model",
          .object([
            ("path", .string(model.path)), ("fingerprint", .string(model.fingerprint)),
            ("description", model.description.map { .string($0) } ?? .null),
          ])
        ))
    } else {
      fields.append(("model", .null))
    }
    return JSONValue.object(fields).serialized()
  }
}

extension StoreInfo.ModelInfo {
  /// The model a store's metadata records, or `nil` for a store of raw vectors; described
  /// when its file is there and matches.
  ///
  /// - Parameters:
  ///   - metadata: reads one of the store's metadata values.
  ///   - location: the store, for messages.
  init?(recordedIn metadata: (String) throws -> String?, location: String) throws {
    guard let fingerprint = try metadata(StoreModel.fingerprintKey),
      let path = try metadata(StoreModel.pathKey)
    else { return nil }
    let loaded = try? StoreModel.load(metadata: metadata, location: location, override: nil)
    self.init(
      path: path, fingerprint: fingerprint, description: loaded.flatMap { $0 }.map { $0.summary })
  }
}

extension String {
  func trimmingTrailingNewline() -> String {
    hasSuffix("\n") ? String(dropLast()) : self
  }
}
