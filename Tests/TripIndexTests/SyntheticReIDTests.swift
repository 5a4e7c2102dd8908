import Foundation
import LSHIndex
import TestSupport
import Testing
import TripIndex
import TripIndexTools
import VectorMath

@Suite struct SyntheticReIDTests {
  private func generate(_ directory: TemporaryDirectory, _ name: String, seed: UInt64) throws
    -> SyntheticReID.Report
  {
    var options = SyntheticReID.Options(output: directory.file(name), seed: seed)
    options.trainIdentities = 20
    options.testIdentities = 10
    options.distractors = 5
    options.junk = 3
    return try SyntheticReID.generate(options)
  }

  private func files(_ path: String) throws -> [String: Data] {
    var result: [String: Data] = [:]
    for folder in ["train", "query", "gallery"] {
      for name in try FileManager.default.contentsOfDirectory(atPath: path + "/" + folder) {
        result[folder + "/" + name] = try Data(
          contentsOf: URL(fileURLWithPath: "\(path)/\(folder)/\(name)"))
      }
    }
    return result
  }

  @Test("the same seed gives identical files; another seed does not")
  func deterministic() throws {
    let directory = TemporaryDirectory()
    _ = try generate(directory, "a", seed: 5)
    _ = try generate(directory, "b", seed: 5)
    _ = try generate(directory, "c", seed: 6)
    let a = try files(directory.file("a"))
    #expect(a == (try files(directory.file("b"))))
    #expect(a != (try files(directory.file("c"))))
  }

  @Test(
    "the default camera distortion regenerates the shipped set byte for byte; a stronger one changes it"
  )
  func shippedSetAndDistortion() throws {
    let directory = TemporaryDirectory()
    _ = try SyntheticReID.generate(SyntheticReID.Options(output: directory.file("again"), seed: 1))
    let shipped = try files(
      URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("datasets/synth-reid").path)
    #expect(try files(directory.file("again")) == shipped)
    var harder = SyntheticReID.Options(output: directory.file("harder"), seed: 1)
    harder.cameraDistortion = 1.8
    _ = try SyntheticReID.generate(harder)
    #expect(try files(directory.file("harder")) != shipped)
    harder.cameraDistortion = -1
    #expect(throws: TripIndexError.self) { try SyntheticReID.generate(harder) }
  }

  @Test("train and test identities are disjoint; every query has a match in another camera")
  func protocolShape() throws {
    let directory = TemporaryDirectory()
    let report = try generate(directory, "set", seed: 1)
    func labels(_ folder: String) throws -> [ItemLabels] {
      try FileManager.default.contentsOfDirectory(atPath: directory.file("set/\(folder)")).map {
        name in
        try #require(ItemLabels(marketName: String(name.dropLast(".fvecs".count))))
      }
    }
    let train = try labels("train")
    let query = try labels("query")
    let gallery = try labels("gallery")
    #expect(
      train.count == report.train && query.count == report.query && gallery.count == report.gallery)
    #expect(Set(train.compactMap(\.pid)).isDisjoint(with: Set(query.compactMap(\.pid))))
    #expect(Set(train.compactMap(\.pid)).isDisjoint(with: Set(gallery.compactMap(\.pid))))
    #expect(gallery.filter { $0.pid == 0 }.count == 5 && gallery.filter { $0.pid == -1 }.count == 3)
    for probe in query {
      #expect(gallery.contains { $0.pid == probe.pid && $0.camera != probe.camera })
    }
    #expect { try generate(directory, "set", seed: 1) } throws: { "\($0)".contains("not empty") }
  }
}
