import Foundation
import TestSupport
import Testing
import TripIndex

/// Each kind of bad input: a non-zero exit, one message naming the file and place, and a store
/// left exactly as it was.
@Suite struct BadInputTests {
  struct Case: Sendable, CustomStringConvertible {
    let name: String
    let file: String
    let bytes: [UInt8]
    let expected: [String]
    var description: String { name }
  }

  static let cases: [Case] = [
    Case(
      name: "truncated fvecs", file: "in/bad.fvecs",
      bytes: Array(
        Fixtures.fvecsBytes(Fixtures.randomMatrix(rows: 3, columns: 4, seed: 2)).dropLast(3)),
      expected: ["bad.fvecs, record 2", "truncated"]),
    Case(
      name: "wrong dimension", file: "in/bad.vec", bytes: Array("1 2 3\n".utf8),
      expected: ["bad.vec", "dimension 3", "4-dimensional"]),
    Case(
      name: "NaN value", file: "in/bad.vec", bytes: Array("1 2 3 4\n1 nan 3 4\n".utf8),
      expected: ["bad.vec, line 2", "value 1 is nan"]),
    Case(name: "empty file", file: "in/bad.npy", bytes: [], expected: ["bad.npy", "empty"]),
    Case(
      name: "bad npy header", file: "in/bad.npy",
      bytes: Fixtures.npyBytes(
        dictionary: "{'descr': '<U4', 'fortran_order': False, 'shape': (1, 4), }",
        payload: Array(repeating: 0, count: 16)),
      expected: ["bad.npy", "'<U4' is not supported"]),
    Case(
      name: "bad labels row", file: "in/labels.csv",
      bytes: Array("name,pid,camera\ngood,1,1\nbad,one,1\n".utf8),
      expected: ["labels.csv, line 3", "pid 'one'"]),
  ]

  /// A store holding one item, and a snapshot of its files' bytes.
  private func existingStore(_ directory: TemporaryDirectory) throws -> (String, Data) {
    directory.write("9 9 9 9\n", to: "seed/seed.vec")
    let store = directory.file("s.lmdb")
    _ = try Build.run(
      Build.Options(input: directory.file("seed"), storePath: store),
      progress: Progress(quiet: true))
    return (store, try Data(contentsOf: URL(fileURLWithPath: store + "/data.mdb")))
  }

  @Test("bad input fails the build and leaves the store untouched", arguments: cases)
  func badInput(testCase: Case) throws {
    let directory = TemporaryDirectory()
    let (store, before) = try existingStore(directory)
    directory.write("1 2 3 4\n", to: "in/good.vec")
    directory.write(
      Fixtures.fvecsBytes(Fixtures.randomMatrix(rows: 2000, columns: 4, seed: 1)),
      to: "in/a-good-bulk.fvecs")
    directory.write(testCase.bytes, to: testCase.file)
    let outcome = try TripIndexExecutable.run([
      "build", directory.file("in"), "--store", store, "--batch", "100",
    ])
    #expect(outcome.status != 0)
    let message = outcome.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
    #expect(message.hasPrefix("Error: "), "\(message)")
    #expect(!message.contains("\n"), "one line: \(message)")
    for fragment in testCase.expected {
      #expect(message.contains(fragment), "\(message) lacks \(fragment)")
    }
    #expect(outcome.stdout.isEmpty)
    let after = try Data(contentsOf: URL(fileURLWithPath: store + "/data.mdb"))
    #expect(after == before, "the store changed")
  }

  @Test("a missing store is not created by a failing build")
  func noStoreOnFailure() throws {
    let directory = TemporaryDirectory()
    directory.write("1 2\n", to: "in/a.vec")
    directory.write("1 2 3\n", to: "in/b.vec")
    let outcome = try TripIndexExecutable.run([
      "build", directory.file("in"), "--store", directory.file("new.lmdb"),
    ])
    #expect(outcome.status != 0)
    #expect(outcome.stderr.contains("b.vec has dimension 3; expected 2 as in"))
    #expect(!FileManager.default.fileExists(atPath: directory.file("new.lmdb")))
  }

  @Test("an unreadable input is named")
  func unreadable() throws {
    let directory = TemporaryDirectory()
    directory.write("1 2\n", to: "in/a.vec")
    try FileManager.default.createSymbolicLink(
      atPath: directory.file("in/dangling.vec"), withDestinationPath: directory.file("gone.vec"))
    let outcome = try TripIndexExecutable.run([
      "build", directory.file("in"), "--store", directory.file("s.lmdb"),
    ])
    #expect(outcome.status != 0)
    #expect(outcome.stderr.contains("dangling.vec"))
    #expect(outcome.stderr.contains("No such file or directory"))
  }

  @Test("a probe of the wrong dimension is named and nothing is printed on stdout")
  func wrongProbe() throws {
    let directory = TemporaryDirectory()
    let (store, before) = try existingStore(directory)
    directory.write("1 2 3\n", to: "probe.vec")
    let outcome = try TripIndexExecutable.run([
      "query", directory.file("probe.vec"), "--store", store,
    ])
    #expect(outcome.status != 0)
    #expect(outcome.stderr.contains("probe.vec: probes have dimension 3"))
    #expect(outcome.stderr.contains("4-dimensional"))
    #expect(outcome.stdout.isEmpty)
    #expect(try Data(contentsOf: URL(fileURLWithPath: store + "/data.mdb")) == before)
  }

  @Test("querying a missing store says how to make one")
  func missingStore() throws {
    let directory = TemporaryDirectory()
    directory.write("1 2 3\n", to: "probe.vec")
    let outcome = try TripIndexExecutable.run([
      "query", directory.file("probe.vec"), "--store", directory.file("none.lmdb"),
    ])
    #expect(outcome.status != 0)
    #expect(outcome.stderr.contains("no store here"))
  }
}
