import Foundation
import HDF5
import TestSupport
import Testing
import VectorIO
import VectorMath

/// HDF5 datasets read as vector files: files written by h5py (Fixtures/hdf5/make_hdf5_fixtures.py),
/// values recomputed from the script's formulas, every bad layout named in the error.
@Suite struct HDF5ReaderTests {
  static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("Fixtures/hdf5").path

  static func fixture(_ name: String) -> String { fixtures + "/" + name }

  /// `train[i, j] = 0.5 i − j`, 40 × 4.
  static let expectedTrain: [Float] = (0..<40).flatMap { i in
    (0..<4).map { j in Float(0.5 * Double(i) - Double(j)) }
  }

  private func read(_ dataset: String, file: String = "layouts.hdf5", batch: Int = 7)
    throws(VectorIOError) -> (values: [Float], dimension: Int)
  {
    var reader = try VectorFileReader(path: Self.fixture(file), dataset: dataset)
    var values: [Float] = []
    while try reader.read(maxRows: batch, into: &values) > 0 {}
    return (values, reader.dimension)
  }

  private func readError(_ dataset: String, file: String = "layouts.hdf5") -> VectorIOError? {
    do {
      _ = try read(dataset, file: file)
      return nil
    } catch {
      #expect(error.path == Self.fixture(file))
      return error
    }
  }

  @Test("ann-benchmarks' train and test read as written", arguments: [1, 7, 40, 1000])
  func trainAndTest(batch: Int) throws {
    var reader = try VectorFileReader(path: Self.fixture("ann-euclidean.hdf5"))
    #expect(reader.format == .hdf5)
    #expect(reader.dataset == "train")
    #expect(reader.rowCount == 40)
    #expect(reader.dimension == 4)
    var values: [Float] = []
    var calls = 0
    while try reader.read(maxRows: batch, into: &values) > 0 { calls += 1 }
    #expect(values == Self.expectedTrain)
    #expect(calls == (40 + batch - 1) / batch)
    let test = try read("test", file: "ann-euclidean.hdf5")
    let expectedTest: [Float] = (0..<6).flatMap { i in
      (0..<4).map { j in Float(0.25 * Double(i) + Double(j) - 1) }
    }
    #expect(test.values == expectedTest)
  }

  @Test(
    "any chunking, compression or numeric type gives the same rows",
    arguments: ["plain", "float64", "by_columns_gzip", "by_rows", "odd_chunks", "float16"])
  func layouts(dataset: String) throws {
    let (values, dimension) = try read(dataset)
    #expect(dimension == 4)
    #expect(values == Self.expectedTrain)
  }

  @Test("integers convert exactly")
  func integers() throws {
    #expect(
      try read("int32").values == (0..<40).flatMap { i in Array(repeating: Float(i), count: 4) })
    #expect(try read("uint8").values == Array(repeating: 255, count: 12))
  }

  @Test("the .h5 extension reads the same")
  func h5Extension() throws {
    let directory = TemporaryDirectory()
    let copy = directory.file("copy.H5")
    try FileManager.default.copyItem(atPath: Self.fixture("ann-euclidean.hdf5"), toPath: copy)
    #expect(try VectorFileReader.readAll(path: copy).values == Self.expectedTrain)
  }

  @Test("a missing dataset lists what the file has")
  func missingDataset() throws {
    let error = try #require(readError("base", file: "ann-euclidean.hdf5"))
    #expect(error.message.contains("base: no such dataset"), "\(error)")
    #expect(error.message.contains("distances, neighbors, test, train"), "\(error)")
  }

  @Test("a group is not a dataset")
  func group() throws {
    #expect(try #require(readError("group")).message.contains("is a group"))
  }

  @Test(
    "wrong rank, type or size is named",
    arguments: [
      ("rank1", "1-dimensional"), ("rank3", "3-dimensional"), ("strings", "holds string"),
      ("compound", "holds a compound"), ("empty", "holds no vectors"),
    ])
  func badLayouts(dataset: String, expected: String) throws {
    let error = try #require(readError(dataset))
    #expect(error.message.contains("dataset '\(dataset)'"), "\(error)")
    #expect(error.message.contains(expected), "\(error)")
  }

  @Test(
    "bad values name the dataset and row",
    arguments: [
      ("nan_row3", 3, "nan"), ("float64_huge_row2", 2, "outside the range"),
      ("int64_big_row1", 1, "cannot hold exactly"),
    ])
  func badValues(dataset: String, row: Int, expected: String) throws {
    let error = try #require(readError(dataset))
    #expect(error.location == .datasetRow(dataset, row), "\(error)")
    #expect(error.description.contains("dataset '\(dataset)', row \(row)"), "\(error)")
    #expect(error.message.contains(expected), "\(error)")
  }

  @Test("a file that is not HDF5, a truncated file and a missing file are refused")
  func badFiles() throws {
    let directory = TemporaryDirectory()
    let original = try Array(
      Data(contentsOf: URL(fileURLWithPath: Self.fixture("ann-euclidean.hdf5"))))
    let cases: [(String, [UInt8]?, String)] = [
      ("text.hdf5", Array("1 2 3\n".utf8), "not an HDF5 file"),
      ("truncated.hdf5", Array(original.prefix(original.count / 3)), "damaged or truncated"),
      ("absent.hdf5", nil, "cannot be opened"),
    ]
    for (name, bytes, expected) in cases {
      let path = bytes.map { directory.write($0, to: name) } ?? directory.file(name)
      do {
        _ = try VectorFileReader.readAll(path: path)
        Issue.record("\(name) was read")
      } catch {
        #expect(error.path == path)
        #expect(error.message.contains(expected), "\(name): \(error)")
      }
    }
  }

  @Test("the distance attribute reads as variable- and fixed-length strings")
  func distanceAttribute() throws {
    #expect(
      try HDF5File(path: Self.fixture("ann-euclidean.hdf5")).stringAttribute("distance")
        == "euclidean")
    #expect(
      try HDF5File(path: Self.fixture("ann-angular.hdf5")).stringAttribute("distance") == "angular")
    let layouts = try HDF5File(path: Self.fixture("layouts.hdf5"))
    #expect(try layouts.stringAttribute("distance") == nil)
    #expect(throws: HDF5Error.self) { try layouts.stringAttribute("number") }
  }

  @Test("files can be read from many threads at once")
  func concurrentReads() async throws {
    try await withThrowingTaskGroup(of: [Float].self) { group in
      for _ in 0..<8 {
        group.addTask {
          try VectorFileReader.readAll(path: Self.fixture("layouts.hdf5"), dataset: "odd_chunks")
            .values
        }
      }
      for try await values in group { #expect(values == Self.expectedTrain) }
    }
  }
}
