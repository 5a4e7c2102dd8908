import Embedding
import Plumbing
import VectorIO
import VectorMath

/// What a build will ingest, worked out by reading and checking every input once before anything
/// is written: the files, how many vectors each holds, and every row's name and labels.
struct BuildPlan {
  /// One input file.
  struct File {
    /// The file's path.
    let path: String
    /// Its number of vectors.
    let rows: Int
    /// How its rows are named.
    let naming: Naming
  }

  /// How a file's rows get their names and labels.
  enum Naming {
    /// One vector: named after the file, labels from `labels.csv` or the Market-1501 pattern.
    case single(name: String, labels: ItemLabels)
    /// Many vectors, named and labelled in order by a `labels.csv` with as many rows.
    case positional(LabelsFile)
    /// Many vectors named `STEM#ROW`, labels looked up by that name.
    case numbered(stem: String, lookup: [LabelsFile])
  }

  /// The files, in ingest order.
  let files: [File]
  /// The common dimension.
  let dimension: Int
  /// The total number of vectors.
  let totalRows: Int
  /// Non-fatal findings to tell the user.
  let warnings: [UserText]
  /// Every vector, row-major in file order, when the plan was made with `keepingVectors`.
  let vectors: [Float]

  /// The name and labels of row `row` of `file`.
  /// The dataset read from HDF5 files when none is named: ann-benchmarks' base vectors.
  static let defaultDataset = "train"

  static func identity(of file: File, row: Int) -> (name: String, labels: ItemLabels) {
    switch file.naming {
    case .single(let name, let labels):
      return (name, labels)
    case .positional(let labelsFile):
      let entry = labelsFile.entries[row]
      return (entry.name, entry.labels)
    case .numbered(let stem, let lookup):
      let name = "\(stem)#\(row)"
      return (name, labels(for: name, in: lookup))
    }
  }

  /// Labels for a name: the nearest `labels.csv` that lists it, else a known dataset's naming
  /// pattern (Market-1501, DukeMTMC, MSMT17), else none.
  static func labels(for name: String, in lookup: [LabelsFile]) -> ItemLabels {
    for labelsFile in lookup {
      if let entry = labelsFile.entry(named: name) { return entry.labels }
    }
    return ItemLabels(datasetName: name) ?? .none
  }

  /// Reads every vector file under `scan` and checks it.
  ///
  /// - Parameters:
  ///   - scan: the folder's files.
  ///   - storing: how rows will be stored (after which model, normalised or not), so that every
  ///     row the store would refuse is refused here, before anything is written; `nil` checks
  ///     nothing beyond what the readers check.
  ///   - expectedDimension: the store's dimension when it exists already.
  ///   - progress: status output.
  ///   - keepingVectors: keep every vector read in ``vectors`` (for commands that work in memory).
  ///   - dataset: the dataset read from HDF5 files.
  /// - Throws: `VectorIOError` naming the bad file and row, or ``TripIndexError`` for problems
  ///   across files (mixed dimensions, duplicate names, no vectors at all).
  init(
    scan: FolderScan, storing: StoredForm?, expectedDimension: (Int, String)?,
    progress: any ProgressReporting,
    keepingVectors: Bool = false, dataset: String = BuildPlan.defaultDataset
  ) throws {
    guard !scan.vectorFiles.isEmpty else {
      throw TripIndexError(
        "\(scan.root): no vector files found (looked for .vec, .fvecs, .ivecs, .bvecs, .npy, .hdf5 and .h5, recursively)"
      )
    }
    var files: [File] = []
    var dimension: (value: Int, source: String)?
    var totalRows = 0
    var batch: [Float] = []
    var kept: [Float] = []
    for (fileIndex, path) in scan.vectorFiles.enumerated() {
      var reader = try VectorFileReader(path: path, dataset: dataset)
      if let expectedDimension, reader.dimension != expectedDimension.0 {
        throw TripIndexError(
          "\(path) has dimension \(reader.dimension), but \(expectedDimension.1) holds \(expectedDimension.0)-dimensional vectors"
        )
      }
      if let dimension, dimension.value != reader.dimension {
        throw TripIndexError(
          "\(path) has dimension \(reader.dimension); expected \(dimension.value) as in \(dimension.source) (all files of one build must agree)"
        )
      }
      dimension = dimension ?? (reader.dimension, path)
      var rows = 0
      while true {
        batch.removeAll(keepingCapacity: true)
        let read = try reader.read(
          maxRows: VectorLimits.batchRows(4096, dimension: reader.dimension), into: &batch)
        if read == 0 { break }
        if let storing {
          try storing.check(batch, rows: read, dimension: reader.dimension) { row, problem in
            VectorIOError(path: path, location: reader.location(ofBatchRow: row), problem)
          }
        }
        if keepingVectors { kept += batch }
        rows += read
        totalRows += read
        progress.update(
          "checking file \(fileIndex + 1)/\(scan.vectorFiles.count): \(TextFormatting.grouped(totalRows)) vectors"
        )
      }
      files.append(File(path: path, rows: rows, naming: .single(name: "", labels: .none)))
    }
    guard let dimension else { throw TripIndexError("\(scan.root): no vector files found") }
    self.dimension = dimension.value
    self.totalRows = totalRows
    self.vectors = kept
    let (named, warnings) = try Self.assignNames(files, scan: scan)
    self.files = named
    self.warnings = scan.warnings.map { UserText(verbatim: $0) } + warnings
  }

  /// Chooses each file's naming and checks that every name is unique.
  private static func assignNames(_ files: [File], scan: FolderScan) throws -> ([File], [UserText])
  {
    var named: [File] = []
    // Names compared as the store compares them: by their bytes.
    var explicitNames: [ItemNameKey: (name: String, path: String)] = [:]  // → file that produced it
    var numberedStems: [ItemNameKey: (path: String, rows: Int)] = [:]
    var positionalFiles = Set<String>()  // labels files used in order
    // The stems of the vector files in each folder (single-vector items' names).
    let stemsByDirectory = Dictionary(grouping: scan.vectorFiles, by: FolderScan.directory(of:))
      .mapValues { paths in Set(paths.map { ItemNameKey(FolderScan.stem(of: $0)) }) }
    func claim(_ name: String, by path: String) throws {
      if let other = explicitNames[ItemNameKey(name)] {
        throw TripIndexError(
          "item name '\(name)' comes from both \(other.path) and \(path); names must be unique within a build (rename one file)"
        )
      }
      explicitNames[ItemNameKey(name)] = (name, path)
    }
    for file in files {
      let lookup = scan.labelsFiles(for: file.path)
      let stem = FolderScan.stem(of: file.path)
      if file.rows == 1 {
        try claim(stem, by: file.path)
        named.append(
          File(
            path: file.path, rows: 1,
            naming: .single(name: stem, labels: labels(for: stem, in: lookup))))
        continue
      }
      let besideDirectory = FolderScan.directory(of: file.path)
      if let beside = scan.labelsByDirectory[besideDirectory], beside.entries.count == file.rows {
        for entry in beside.entries {
          try claim(entry.name, by: "\(file.path) (via \(beside.path))")
        }
        positionalFiles.insert(beside.path)
        named.append(File(path: file.path, rows: file.rows, naming: .positional(beside)))
      } else {
        // A labels file beside a multi-vector file either lists its rows in order (as many rows
        // as vectors) or names them FILESTEM#ROW; one that does neither is a mistake (a row
        // too few or too many), which would leave every row unlabelled.
        if let beside = scan.labelsByDirectory[besideDirectory],
          !beside.entries.contains(where: {
            $0.name.hasPrefix(stem + "#")
              || stemsByDirectory[besideDirectory]?.contains(ItemNameKey($0.name)) == true
          })
        {
          throw TripIndexError(
            "\(beside.path) lists \(TextFormatting.grouped(beside.entries.count)) items, but \(file.path) beside it holds \(TextFormatting.grouped(file.rows)) vectors: a labels file beside a file of many vectors must list one row per vector, in order (or name them '\(stem)#ROW'); nothing was written"
          )
        }
        if let other = numberedStems[ItemNameKey(stem)] {
          throw TripIndexError(
            "\(other.path) and \(file.path) would both name their rows '\(stem)#N'; rename one file"
          )
        }
        numberedStems[ItemNameKey(stem)] = (file.path, file.rows)
        named.append(
          File(path: file.path, rows: file.rows, naming: .numbered(stem: stem, lookup: lookup)))
      }
    }
    for (name, path) in explicitNames.values {
      guard let hash = name.lastIndex(of: "#"), let row = Int(name[name.index(after: hash)...])
      else {
        continue
      }
      if let numbered = numberedStems[ItemNameKey(String(name[..<hash]))], row >= 0,
        row < numbered.rows
      {
        throw TripIndexError(
          "item name '\(name)' from \(path) collides with row \(row) of \(numbered.path); rename one of them"
        )
      }
    }
    var warnings: [UserText] = []
    for (_, labelsFile) in scan.labelsByDirectory.sorted(by: { $0.key < $1.key })
    where !positionalFiles.contains(labelsFile.path) {
      let unused = labelsFile.entries.filter { entry in
        explicitNames[ItemNameKey(entry.name)] == nil && !isNumberedRow(entry.name, numberedStems)
      }
      if !unused.isEmpty {
        throw TripIndexError(
          "\(labelsFile.path): \(TextFormatting.grouped(unused.count)) of its \(TextFormatting.grouped(labelsFile.entries.count)) names match no vector (e.g. '\(unused[0].name)' on line \(unused[0].line)); every listed name must be a vector file's stem or a FILESTEM#ROW of a file of many vectors; nothing was written"
        )
      }
    }
    let unlabelled = named.compactMap { file -> String? in
      guard case .single(let name, let labels) = file.naming, labels == .none else { return nil }
      return name
    }
    if !unlabelled.isEmpty {
      warnings.append(
        "\(TextFormatting.grouped(unlabelled.count)) file(s) have no pid or camera: no labels.csv lists them and their names follow no known pattern (Market-1501 '0001_c1s1_001051_00', MSMT17 '0004_000_01_0303morning_0015_0'), e.g. '\(unlabelled[0])'"
      )
    }
    if !scan.otherFiles.isEmpty {
      warnings.append(
        "ignored \(scan.otherFiles.count) file(s) that are not vector files, e.g. \(scan.otherFiles[0])"
      )
    }
    return (named, warnings)
  }

  private static func isNumberedRow(
    _ name: String, _ stems: [ItemNameKey: (path: String, rows: Int)]
  )
    -> Bool
  {
    guard let hash = name.lastIndex(of: "#"), let row = Int(name[name.index(after: hash)...]),
      let numbered = stems[ItemNameKey(String(name[..<hash]))]
    else { return false }
    return row >= 0 && row < numbered.rows
  }
}

/// How a build will store its rows: through which model (if any), and whether the store
/// normalises them. ``check(_:rows:dimension:error:)`` applies the store's own test
/// (``VectorLimits/storageProblem(_:normalizing:)``) to what the store would receive.
struct StoredForm {
  /// The model that embeds every row first, or `nil`.
  var model: EmbeddingModel?
  /// Whether the store normalises vectors (the cosine metric).
  var normalizing: Bool

  /// Throws the error `error` makes for the first of `rows` rows the store would refuse.
  ///
  /// - Parameters:
  ///   - values: the rows as read, one after another.
  ///   - rows: how many.
  ///   - dimension: values per row as read.
  ///   - error: the error for a row and its problem.
  func check(
    _ values: [Float], rows: Int, dimension: Int, error: (Int, String) -> some Error
  ) throws {
    let stored =
      model.map { $0.embed(Matrix(rows: rows, columns: dimension, values: values)) }
      ?? Matrix(rows: rows, columns: dimension, values: values)
    try stored.values.withUnsafeBufferPointer { all in
      for row in 0..<rows {
        let vector = UnsafeBufferPointer(
          rebasing: all[(row * stored.columns)..<((row + 1) * stored.columns)])
        if let problem = VectorLimits.storageProblem(vector, normalizing: normalizing) {
          throw error(row, model == nil ? problem : "after the model: \(problem)")
        }
      }
    }
  }
}
