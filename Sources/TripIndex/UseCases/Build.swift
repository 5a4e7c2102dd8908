import Embedding
import LSHIndex
import Plumbing
import VectorIO
import VectorMath
import VectorStore

/// The `build` command: ingest a folder of vector files into a store.
///
/// Every input file is read and checked before anything is written, so bad input leaves the store
/// exactly as it was. Then the vectors stream into the store in transactions of ``Options/batchRows``
/// rows: memory use is one batch, whatever the folder's size, and an interrupted build leaves the
/// batches committed so far. Names are unique, so building the same folder again changes nothing.
public enum Build {
  /// What to build.
  public struct Options: Sendable {
    /// The folder (or single file) to ingest.
    public var input: String
    /// The store's directory, or a `redis://` address.
    public var storePath: String
    /// How to reach a store on a Redis Cluster (and the shard count of a new one).
    public var redis = RedisAccess()
    /// The metric for a new store; `nil` keeps an existing store's metric (for a new store: the
    /// model's, else the one HDF5 inputs declare in their `distance` attribute, else l2).
    public var metric: DistanceMetric?
    /// The dataset read from HDF5 inputs (`nil`: `train`).
    public var dataset: String?
    /// Rows per write transaction.
    public var batchRows: Int
    /// A model that embeds every vector before it is stored; `nil` stores raw vectors.
    public var modelPath: String?
    /// The pid conventions given (recorded in the store, for `eval` and `query` to use; what is
    /// not given keeps the store's record, else Market-1501's).
    public var pidChoice = PIDConventionChoice()
    /// Build an LSH index with these settings after ingesting, resolved for the store's metric
    /// (an existing index with other settings is rebuilt; one with the same settings was kept in
    /// step during the ingest).
    public var index: LSHChoices?

    /// Creates options.
    ///
    /// - Parameters:
    ///   - input: the folder or file to ingest.
    ///   - storePath: the store's directory.
    ///   - metric: the metric for a new store.
    ///   - batchRows: rows per transaction.
    public init(
      input: String, storePath: String = "tripindex.lmdb", metric: DistanceMetric? = nil,
      batchRows: Int = 1024
    ) {
      self.input = input
      self.storePath = storePath
      self.metric = metric
      self.batchRows = batchRows
    }
  }

  /// What a build did.
  public struct Report: Sendable {
    /// The store's directory.
    public var storePath: String
    /// Vector files read.
    public var files = 0
    /// Vectors read.
    public var vectors = 0
    /// Items added, updated and left unchanged.
    public var added = 0, updated = 0, unchanged = 0
    /// Items in the store afterwards.
    public var storeCount = 0
    /// The store's dimension.
    public var dimension = 0
    /// The store's metric.
    public var metric = DistanceMetric.l2
    /// Wall-clock seconds.
    public var seconds = 0.0
    /// Non-fatal findings.
    public var warnings: [UserText] = []
    /// The LSH index built or kept, if one was asked for.
    public var index: LSHConfiguration?
    /// What a freshly built index measured against exact search (µs per query, one thread), as
    /// `index` measures it.
    public var indexSpeed: (lsh: Double, exact: Double)?

    /// The one-line summary.
    public var summary: UserText {
      let counts =
        "\(storePath): added \(TextFormatting.grouped(added)), updated \(TextFormatting.grouped(updated)), unchanged \(TextFormatting.grouped(unchanged)) "
        + "from \(TextFormatting.grouped(vectors)) vectors in \(TextFormatting.grouped(files)) file(s); dimension \(dimension), \(metric.rawValue), "
        + "\(TextFormatting.grouped(storeCount)) items in the store"
        + (index.map { "; LSH index \($0.summary)" } ?? "") + "; \(TextFormatting.seconds(seconds))"
      return UserText(verbatim: counts) + Index.speedNote(indexSpeed)
    }

    /// The summary as one JSON object.
    public var json: String {
      var out = OutputBuffer(stream: nil)
      out.write("{\"store\": ")
      out.writeJSONString(storePath)
      out.write(
        ", \"files\": \(files), \"vectors\": \(vectors), \"added\": \(added), \"updated\": \(updated), \"unchanged\": \(unchanged), \"count\": \(storeCount), \"dimension\": \(dimension), \"metric\": \"\(metric.rawValue)\", \"seconds\": \(seconds)}"
      )
      return out.text
    }
  }

  /// Runs a build.
  ///
  /// - Parameters:
  ///   - options: what to build.
  ///   - progress: where status goes.
  /// - Returns: what was done.
  /// - Throws: `VectorIOError` (file, line or record named), `VectorStoreError`, or
  ///   ``TripIndexError``; in every case the store is left as it was.
  public static func run(_ options: Options, progress: any ProgressReporting) throws -> Report {
    let started = MonotonicClock.now()
    guard options.batchRows > 0 else {
      throw TripIndexError("\(option: .batch) must be positive, not \(options.batchRows)")
    }
    var model = try options.modelPath.map { path in try EmbeddingModel.read(from: path) }
    var modelPath = options.modelPath
    let existing = try BuildTarget.existing(options.storePath, redis: options.redis)
    if let store = existing {
      // A store built with a model embeds what is added to it with that model, as `query`
      // embeds probes with it.
      if model == nil,
        let recorded = try StoreModel.load(
          metadata: store.metadata, location: options.storePath, override: nil)
      {
        model = recorded
        modelPath = try store.metadata(StoreModel.pathKey)
        progress.warn(
          "store \(options.storePath) holds embeddings of the model \(modelPath ?? "?"); the input is embedded with it"
        )
      }
      if let metric = options.metric, metric != store.metric {
        throw TripIndexError(
          "store \(options.storePath): uses the \(store.metric.rawValue) metric, but \(option: .metric) \(metric.rawValue) was given; a store's metric is fixed when it is created"
        )
      }
      try checkModel(model, path: modelPath, against: store, at: options.storePath)
    }
    let scan = try FolderScan(root: options.input)
    let hdf5Files = scan.vectorFiles.filter { VectorFileFormat(path: $0) == .hdf5 }
    if let dataset = options.dataset, hdf5Files.isEmpty {
      throw TripIndexError(
        "\(option: .dataset) \(dataset) names a dataset of an HDF5 file, and \(options.input) holds no .hdf5 or .h5 file"
      )
    }
    let declared = try ANNBenchmarksFile.declaredMetric(of: hdf5Files)
    let metric = existing?.metric ?? options.metric ?? model?.metric ?? declared ?? .l2
    if let declared, declared != metric {
      progress.warn(
        "the HDF5 input declares the \(declared.rawValue) metric; the store uses \(metric.rawValue)"
      )
    }
    let expectedDimension: (Int, String)? =
      model.map { ($0.architecture.inputDimension, "model \(modelPath ?? "")") }
      ?? existing.map { ($0.dimension, "store \(options.storePath)") }
    let plan = try BuildPlan(
      scan: scan, storing: StoredForm(model: model, normalizing: metric.normalizesVectors),
      expectedDimension: expectedDimension, progress: progress,
      dataset: options.dataset ?? BuildPlan.defaultDataset)
    for warning in plan.warnings { progress.warn(warning) }
    // What would fail after the vectors are committed is checked before the first write.
    if let choices = options.index {
      let storedDimension = model?.architecture.outputDimension ?? plan.dimension
      _ = try choices.configuration(metric: metric).validated(forDimension: storedDimension)
      let itemsAfter = try (existing?.count() ?? 0) + plan.totalRows
      guard itemsAfter >= 2 else {
        throw TripIndexError(
          "an LSH index needs at least 2 items, and the store would hold \(itemsAfter); nothing was written (build without \(option: .index), or add more vectors)"
        )
      }
    }

    let store: BuildTarget
    let created = existing == nil
    if let existing {
      store = existing
    } else {
      store = try BuildTarget.create(
        options.storePath, dimension: model?.architecture.outputDimension ?? plan.dimension,
        metric: metric, redis: options.redis)
      // An index another process builds while this build runs is picked up by the next batch.
      if case .lmdb(let created) = store { _ = try LSHIndex.open(created) }
    }
    let (conventions, differences) = options.pidChoice.resolved(
      recorded: try PIDConventions.recorded(store.metadata), storePath: options.storePath)
    for warning in differences { progress.warn(warning) }
    var metadata = conventions.metadata
    if let model, let path = modelPath {
      metadata.merge(StoreModel.metadata(of: model, path: path)) { $1 }
    }
    var report = Report(storePath: options.storePath)
    report.files = plan.files.count
    report.dimension = store.dimension
    report.metric = store.metric
    report.warnings = plan.warnings

    // High-dimensional rows come in smaller transactions, so a batch stays within a fixed size.
    let batchRows = VectorLimits.batchRows(options.batchRows, dimension: plan.dimension)
    var batch = Batch(dimension: plan.dimension, capacity: batchRows)
    func commit() throws {
      guard batch.count > 0 else { return }
      let stored = try StoreModel.embed(
        Matrix(rows: batch.count, columns: plan.dimension, values: batch.values), with: model,
        source: options.input)
      let summary = try store.write(
        names: batch.names, labels: batch.labels, vectors: stored, metadata: metadata)
      report.added += summary.added
      report.updated += summary.updated
      report.unchanged += summary.unchanged
      report.vectors += batch.count
      batch.removeAll()
      let rate = Double(report.vectors) / max(MonotonicClock.now() - started, 1e-9)
      progress.update(
        "writing \(TextFormatting.grouped(report.vectors))/\(TextFormatting.grouped(plan.totalRows)) vectors (\(TextFormatting.grouped(Int(rate)))/s)"
      )
    }
    do {
      for file in plan.files {
        var reader = try VectorFileReader(
          path: file.path, dataset: options.dataset ?? BuildPlan.defaultDataset)
        var row = 0
        while true {
          let wanted = batchRows - batch.count
          let read = try reader.read(maxRows: wanted, into: &batch.values)
          if read == 0 { break }
          for _ in 0..<read {
            let (name, labels) = BuildPlan.identity(of: file, row: row)
            batch.names.append(name)
            batch.labels.append(labels)
            row += 1
          }
          if batch.count >= batchRows { try commit() }
        }
        guard row == file.rows else {
          throw TripIndexError(
            "\(file.path) changed during the build (\(file.rows) vectors when checked, \(row) now)")
        }
      }
      try commit()
    } catch {
      // Whole batches committed before the failure stay: say so, and how to finish. A store
      // this build created and could not write to is removed.
      guard report.vectors > 0 else {
        if created { store.removeIfNeverWritten() }
        throw error
      }
      throw TripIndexError(
        "\(error) — \(TextFormatting.grouped(report.vectors)) of \(TextFormatting.grouped(plan.totalRows)) vectors were written in whole batches before this failure and are kept; run the same command again to finish (re-ingested names are updated in place, never duplicated)"
      )
    }
    if let choices = options.index {
      let requested = choices.configuration(metric: store.metric)
      let current = try store.indexConfiguration()
      var comparable = current
      if requested.bucketWidth == nil { comparable?.bucketWidth = nil }
      if comparable != requested {
        progress.update("building the LSH index", force: true)
        do {
          (report.index, report.indexSpeed) = try store.buildIndex(requested)
        } catch {
          throw TripIndexError(
            "\(error) — the \(TextFormatting.grouped(report.vectors)) vectors were written and are kept, but the index was not built (any former index is unchanged); build it with \(command: "index \(option: .store) \(RedisAccess.displayed(options.storePath))")"
          )
        }
      } else {
        report.index = current
      }
    }
    if case .lmdb(let lmdb) = store, report.added + report.updated > 0,
      let index = lmdb.attachedIndex(named: LSHIndex.name) as? LSHIndex
    {
      // The writes removed the packed copy of the index's tables; the build packs them again
      // (what was written is kept whatever happens here).
      progress.update("packing the index's tables for reading", force: true)
      do {
        try index.packAgain()
      } catch {
        progress.warn(
          "the index's tables were not packed again (\(error)); queries read them unpacked, a little slower, until \(command: "index \(option: .pack) \(option: .store) \(options.storePath)") runs"
        )
      }
    }
    progress.finish()
    report.storeCount = try store.count()
    report.seconds = MonotonicClock.now() - started
    return report
  }

  /// Refuses to mix raw vectors and embeddings, or embeddings of two models, in one store.
  private static func checkModel(
    _ model: EmbeddingModel?, path: String?, against store: BuildTarget, at location: String
  ) throws {
    let recorded = try store.metadata(StoreModel.fingerprintKey)
    switch (model, recorded) {
    case (nil, nil):
      return
    case (let model?, let recorded?):
      guard model.fingerprint == recorded else {
        throw TripIndexError(
          "store \(location) holds embeddings of another model (fingerprint \(recorded)); \(option: .model) \(path ?? "") has fingerprint \(model.fingerprint). Build a new store for this model"
        )
      }
    case (nil, _?):
      throw TripIndexError(
        "store \(location) holds embeddings of the model \(try store.metadata(StoreModel.pathKey) ?? "?"); pass it with \(option: .model) to add to it"
      )
    case (_?, nil):
      guard try store.count() == 0 else {
        throw TripIndexError(
          "store \(location) holds raw vectors; build embeddings into a new store (a store holds one kind of vector)"
        )
      }
    }
  }

  private struct Batch {
    let dimension: Int
    var values: [Float] = []
    var names: [String] = []
    var labels: [ItemLabels] = []
    var count: Int { names.count }

    init(dimension: Int, capacity: Int) {
      self.dimension = dimension
      values.reserveCapacity(dimension * capacity)
      names.reserveCapacity(capacity)
      labels.reserveCapacity(capacity)
    }

    mutating func removeAll() {
      values.removeAll(keepingCapacity: true)
      names.removeAll(keepingCapacity: true)
      labels.removeAll(keepingCapacity: true)
    }
  }
}
