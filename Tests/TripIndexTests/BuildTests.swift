import Embedding
import Foundation
import LSHIndex
import TestSupport
import Testing
import TripIndex
import VectorIO
import VectorMath
import VectorStore

@Suite struct BuildTests {
  private func build(
    _ input: String, store: String, metric: DistanceMetric? = nil, batch: Int = 1024
  ) throws -> Build.Report {
    try Build.run(
      Build.Options(input: input, storePath: store, metric: metric, batchRows: batch),
      progress: SilentProgress())
  }

  private func items(_ storePath: String) throws -> [String: (labels: ItemLabels, vector: [Float])]
  {
    let store = try VectorStore.open(path: storePath, readOnly: true)
    var result: [String: (ItemLabels, [Float])] = [:]
    try store.read { snapshot in
      try snapshot.forEachItem { item, vector in result[item.name] = (item.labels, Array(vector)) }
    }
    return result
  }

  /// A folder mixing every layout `build` understands.
  private func mixedFolder(_ directory: TemporaryDirectory) throws -> Matrix {
    let bulk = Fixtures.randomMatrix(rows: 6, columns: 4, seed: 1)
    // Single-vector files: Market-1501 names, one listed in labels.csv, one plain.
    directory.write("1 2 3 4\n", to: "in/0007_c2s1_000100_00.vec")
    directory.write(
      Fixtures.fvecsBytes(Matrix(rowArrays: [[5, 6, 7, 8]])), to: "in/cam/listed.fvecs")
    directory.write("9 9 9 9\n", to: "in/cam/plain.vec")
    directory.write("name,pid,camera\nlisted,3,4\nnumbered#1,8,1\n", to: "in/labels.csv")
    // A bulk .npy with a positional labels.csv beside it.
    directory.write("name,pid,camera\nr0,10,1\nr1,11,2\nr2,12,\n", to: "in/bulk/labels.csv")
    let writer = try VectorFileWriter(path: directory.file("in/bulk/rows.npy"), dimension: 4)
    try writer.write(Array(bulk.values[0..<12]))
    try writer.finish()
    // A bulk .fvecs without positional labels: rows are named numbered#ROW.
    directory.write(
      Fixtures.fvecsBytes(Matrix(rows: 3, columns: 4, values: Array(bulk.values[12...]))),
      to: "in/numbered.fvecs")
    directory.write("not vectors", to: "in/README.txt")
    return bulk
  }

  @Test("every layout is ingested with the right names and labels; a rebuild changes nothing")
  func layouts() throws {
    let directory = TemporaryDirectory()
    let bulk = try mixedFolder(directory)
    let store = directory.file("s.lmdb")
    let report = try build(directory.file("in"), store: store, batch: 4)
    #expect(report.added == 9 && report.files == 5 && report.dimension == 4)
    #expect(report.warnings.contains { $0.description.contains("README.txt") })
    let stored = try items(store)
    #expect(stored.count == 9)
    #expect(stored["0007_c2s1_000100_00"]?.labels == ItemLabels(pid: 7, camera: 2))
    #expect(stored["0007_c2s1_000100_00"]?.vector == [1, 2, 3, 4])
    #expect(stored["listed"]?.labels == ItemLabels(pid: 3, camera: 4))
    #expect(stored["plain"]?.labels == ItemLabels.none)
    #expect(stored["r2"]?.labels == ItemLabels(pid: 12, camera: nil))
    #expect(stored["r1"]?.vector == bulk.row(1))
    #expect(stored["numbered#1"]?.labels == ItemLabels(pid: 8, camera: 1))
    #expect(stored["numbered#2"]?.vector == bulk.row(5))
    let again = try build(directory.file("in"), store: store)
    #expect(again.added == 0 && again.updated == 0 && again.unchanged == 9)
    #expect(try VectorStore.open(path: store).count() == 9)
  }

  @Test("a changed file updates its items in place")
  func updates() throws {
    let directory = TemporaryDirectory()
    directory.write("1 2\n", to: "in/a.vec")
    directory.write("3 4\n", to: "in/b.vec")
    let store = directory.file("s.lmdb")
    _ = try build(directory.file("in"), store: store)
    directory.write("5 6\n", to: "in/b.vec")
    let report = try build(directory.file("in"), store: store)
    #expect(report.updated == 1 && report.unchanged == 1 && report.added == 0)
    #expect(try items(store)["b"]?.vector == [5, 6])
  }

  @Test("duplicate names across files are refused before anything is written")
  func duplicateNames() throws {
    let directory = TemporaryDirectory()
    directory.write("1 2\n", to: "in/x/same.vec")
    directory.write("3 4\n", to: "in/y/same.vec")
    #expect { try build(directory.file("in"), store: directory.file("s.lmdb")) } throws: { error in
      "\(error)".contains("'same'") && "\(error)".contains("x/same.vec")
        && "\(error)".contains("y/same.vec")
    }
    #expect(!FileManager.default.fileExists(atPath: directory.file("s.lmdb")))
  }

  @Test("the cosine metric stores unit vectors and rejects an all-zero row with its line")
  func cosineBuild() throws {
    let directory = TemporaryDirectory()
    directory.write("3 4\n6 8\n", to: "in/pairs.vec")
    let store = directory.file("s.lmdb")
    _ = try build(directory.file("in"), store: store, metric: .cosine)
    #expect(try items(store)["pairs#1"]?.vector == [0.6, 0.8])
    directory.write("1 1\n\n0 0\n", to: "in/zero.vec")
    #expect { try build(directory.file("in"), store: store) } throws: { error in
      "\(error)".contains("zero.vec, line 3") && "\(error)".contains("all zeros")
    }
    #expect { try build(directory.file("in"), store: store, metric: .l2) } throws: { error in
      (error as? TripIndexError)?.parameter == .metric && "\(error)".contains("cosine metric")
    }
    // The tool names its flag.
    let outcome = try TripIndexExecutable.run([
      "build", directory.file("in"), "--store", store, "--metric", "l2", "--quiet",
    ])
    #expect(outcome.status == 1)
    #expect(
      outcome.stderr.contains("uses the cosine metric, but --metric l2 was given"),
      "\(outcome.stderr)")
  }

  @Test(
    "every value the store would refuse is refused before the first write: a tiny-norm row under cosine, model outputs beyond the limits; nothing is created or kept"
  )
  func checksBeforeWriting() throws {
    let directory = TemporaryDirectory()
    // 3,000 rows in batches of 500; row 2,500's norm underflows in Float (values of 1e-30).
    var rows = Fixtures.randomMatrix(rows: 3000, columns: 8, seed: 5)
    for column in 0..<8 { rows[2500, column] *= 1e-30 }
    directory.write(Fixtures.vecText(rows), to: "tiny/rows.vec")
    let store = directory.file("s.lmdb")
    for _ in 0..<2 {  // the same refusal every time, never a partial store to "finish"
      #expect {
        try build(directory.file("tiny"), store: store, metric: .cosine, batch: 500)
      } throws: { error in
        "\(error)".contains("rows.vec, line 2501") && "\(error)".contains("underflows to zero")
      }
      #expect(!FileManager.default.fileExists(atPath: store))
    }
    // Into an existing store: nothing of the input is kept.
    directory.write(
      Fixtures.vecText(Fixtures.randomMatrix(rows: 5, columns: 8, seed: 6)), to: "ok/a.vec")
    _ = try build(directory.file("ok"), store: store, metric: .cosine)
    #expect { try build(directory.file("tiny"), store: store, batch: 500) } throws: { _ in true }
    #expect(try VectorStore.open(path: store, readOnly: true).count() == 5)
    // Every row tiny: no empty store is left.
    let allTiny = Matrix(rows: 4, columns: 8, values: Array(repeating: 1e-30, count: 32))
    directory.write(Fixtures.vecText(allTiny), to: "alltiny/rows.vec")
    #expect {
      try build(directory.file("alltiny"), store: directory.file("t.lmdb"), metric: .cosine)
    } throws: { "\($0)".contains("rows.vec, line 1") }
    #expect(!FileManager.default.fileExists(atPath: directory.file("t.lmdb")))

    // A linear model with large weights: one input of norm 2.8e15 (within the limits) gives
    // an output far beyond 2^62. Refused with its row, before the store is created.
    var options = TrainingOptions()
    options.hiddenSizes = []
    options.outputDimension = 4
    options.iterations = 2
    let trained = try Trainer.train(
      TrainingData(
        vectors: Matrix(rows: 4, columns: 8, values: (0..<32).map { Float($0 % 5) }),
        identities: [1, 1, 2, 2]),
      options: options)
    let architecture = Architecture(
      inputDimension: 8, hiddenSizes: [], outputDimension: 4, batchNorm: false,
      normalizeOutput: false)
    let plain = Network<Float>(architecture: architecture, seed: 3)
    let amplified = EmbeddingModel(
      network: Network(
        architecture: architecture, parameters: plain.parameters.map { $0 * 1e6 },
        state: plain.state),
      training: trained.model.training)
    let modelPath = directory.file("m.tpm")
    try amplified.write(to: modelPath)
    var inputs = Fixtures.randomMatrix(rows: 1200, columns: 8, seed: 7)
    for column in 0..<8 { inputs[1100, column] = 1e15 }
    directory.write(Fixtures.vecText(inputs), to: "huge/rows.vec")
    var embedded = Build.Options(
      input: directory.file("huge"), storePath: directory.file("m.lmdb"), batchRows: 100)
    embedded.modelPath = modelPath
    #expect { try Build.run(embedded, progress: SilentProgress()) } throws: { error in
      "\(error)".contains("rows.vec, line 1101") && "\(error)".contains("after the model")
    }
    #expect(!FileManager.default.fileExists(atPath: directory.file("m.lmdb")))
  }

  @Test(
    "labels the way re-ID users have them: a labels.csv a row short, or naming what no vector is, fails before writing; MSMT17 names give labels; unlabelled names are reported"
  )
  func reIDLabelTraps() throws {
    let directory = TemporaryDirectory()
    let store = directory.file("s.lmdb")
    // A multi-vector file with a labels.csv one row short (torchreid spellings in the header).
    directory.write(
      Fixtures.fvecsBytes(Fixtures.randomMatrix(rows: 4, columns: 3, seed: 1)), to: "short/f.fvecs")
    directory.write("name,person_id,camid\na,1,1\nb,1,2\nc,2,1\n", to: "short/labels.csv")
    #expect { try build(directory.file("short"), store: store) } throws: { error in
      "\(error)".contains("lists 3 items, but") && "\(error)".contains("holds 4 vectors")
    }
    #expect(!FileManager.default.fileExists(atPath: store))
    // A name listed that matches no vector.
    directory.write("1 2 3\n", to: "extra/one.vec")
    directory.write("name,pid,camera\none,1,1\ntwo,2,2\nthree,3,3\n", to: "extra/labels.csv")
    #expect { try build(directory.file("extra"), store: store) } throws: { error in
      "\(error)".contains("2 of its 3 names match no vector") && "\(error)".contains("'two'")
    }
    #expect(!FileManager.default.fileExists(atPath: store))
    // MSMT17 names are labelled; names of no known pattern are reported.
    directory.write("1 2 3\n", to: "msmt/0004_000_01_0303morning_0015_0.vec")
    directory.write("1 2 4\n", to: "msmt/holiday-photo.vec")
    let report = try build(directory.file("msmt"), store: store)
    #expect(
      try items(store)["0004_000_01_0303morning_0015_0"]?.labels == ItemLabels(pid: 4, camera: 1))
    #expect(
      report.warnings.contains {
        $0.description.contains("1 file(s) have no pid or camera")
          && $0.description.contains("'holiday-photo'")
      }, "\(report.warnings)")
  }
}
