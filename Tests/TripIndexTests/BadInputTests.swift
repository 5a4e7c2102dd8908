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
    Case(
      name: "huge finite value", file: "in/bad.vec", bytes: Array("1 2 3 4\n1 2 3 1e20\n".utf8),
      expected: ["bad.vec, line 2", "norm", "at most 2^62"]),
    Case(
      name: "huge npy value", file: "in/bad.npy",
      bytes: Fixtures.npyBytes(
        dictionary: "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 4), }",
        payload: Fixtures.float32Bytes([1, 3e38, 3e38, 1])),
      expected: ["bad.npy, row 0", "norm"]),
    Case(
      name: "lone carriage returns", file: "in/bad.vec", bytes: Array("1 2 3 4\r5 6 7 8\r".utf8),
      expected: ["bad.vec, line 1", "carriage return"]),
    Case(
      name: "npy rows that overflow", file: "in/bad.npy",
      bytes: Fixtures.npyBytes(
        dictionary: "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }",
        payload: Array(repeating: 0, count: 16)),
      expected: ["bad.npy", "truncated", "4611686018427387904 × 4"]),
    Case(
      name: "npy dimension over the limit", file: "in/bad.npy",
      bytes: Fixtures.npyBytes(
        dictionary: "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2000000), }",
        payload: Array(repeating: 0, count: 16)),
      expected: ["bad.npy", "2000000 values", "at most 1048576"]),
    Case(
      name: "text line over the dimension limit", file: "in/bad.vec",
      bytes: Array(String(repeating: "0 ", count: (1 << 20) + 1).utf8) + [0x0A],
      expected: ["bad.vec, line 1", "more than 1048576 values"]),
    Case(
      name: "reserved pid", file: "in/labels.csv",
      bytes: Array("name,pid,camera\ngood,-2147483648,1\n".utf8),
      expected: ["labels.csv, line 2", "pid -2147483648 is reserved"]),
    Case(
      name: "name that is not UTF-8", file: "in/labels.csv",
      bytes: Array("name,pid,camera\ngood,1,1\nb".utf8) + [0xFF] + Array(",2,1\n".utf8),
      expected: ["labels.csv, line 3", "not valid UTF-8"]),
    Case(
      name: "name over the key limit", file: "in/labels.csv",
      bytes: Array("name,pid,camera\n\(String(repeating: "n", count: 600)),1,1\n".utf8),
      expected: ["labels.csv, line 2", "600 bytes long", "at most 511"]),
  ]

  /// A store holding one item, and a snapshot of its files' bytes.
  private func existingStore(_ directory: TemporaryDirectory) throws -> (String, Data) {
    directory.write("9 9 9 9\n", to: "seed/seed.vec")
    let store = directory.file("s.lmdb")
    _ = try Build.run(
      Build.Options(input: directory.file("seed"), storePath: store),
      progress: SilentProgress())
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

  @Test("a dangling link and a link loop are skipped with a warning naming them")
  func unreadableLinks() throws {
    let directory = TemporaryDirectory()
    directory.write("1 2\n", to: "in/a.vec")
    try FileManager.default.createSymbolicLink(
      atPath: directory.file("in/dangling.vec"), withDestinationPath: directory.file("gone.vec"))
    try FileManager.default.createSymbolicLink(
      atPath: directory.file("in/loop.vec"), withDestinationPath: directory.file("in/loop.vec"))
    let outcome = try TripIndexExecutable.run([
      "build", directory.file("in"), "--store", directory.file("s.lmdb"),
    ])
    #expect(outcome.status == 0, "\(outcome.stderr)")
    #expect(outcome.stderr.contains("dangling.vec: skipped a symbolic link"))
    #expect(outcome.stderr.contains("No such file or directory"))
    #expect(outcome.stderr.contains("loop.vec: skipped a symbolic link"))
    #expect(outcome.stdout.contains("added 1"))
  }

  @Test("an LSH index of vectors wider than it takes is refused before the store is created")
  func wideIndexRefused() throws {
    let directory = TemporaryDirectory()
    directory.write(
      Fixtures.fvecsBytes(Fixtures.randomMatrix(rows: 20, columns: 4096, seed: 8)),
      to: "wide/w.fvecs")
    let store = directory.file("wide.lmdb")
    let outcome = try TripIndexExecutable.run([
      "build", directory.file("wide"), "--store", store, "--index", "lsh",
    ])
    #expect(outcome.status != 0)
    #expect(outcome.stderr.contains("at most 2048 dimensions"), "\(outcome.stderr)")
    #expect(!FileManager.default.fileExists(atPath: store))
  }

  @Test("the CLI words library errors with its own commands and flags")
  func advice() throws {
    let directory = TemporaryDirectory()
    directory.write("1 2 3 4\n", to: "probe.vec")
    let missing = try TripIndexExecutable.run(
      ["query", directory.file("probe.vec"), "--store", directory.file("none.lmdb")])
    #expect(missing.status == 1)
    #expect(
      missing.stderr.contains("create one with `tripindex build DIR --store"), "\(missing.stderr)")
    let (store, _) = try existingStore(directory)
    for (arguments, expected) in [
      (["--tables", "0"], "--tables must be in 1…256, not 0"),
      (["--width", "-1"], "--width must be positive"),
      (["--bits", "99"], "--bits must be in 1…64"),
    ] {
      let outcome = try TripIndexExecutable.run(["index", "--store", store] + arguments)
      #expect(outcome.status != 0)
      #expect(outcome.stderr.contains(expected), "\(arguments): \(outcome.stderr)")
    }
  }

  @Test(
    "negative counts on the command line are refused by name",
    arguments: [
      (["-k", "-1"], "-k must be at least 1, not -1"),
      (["--budget", "-5"], "--budget cannot be negative"),
      (["--probes", "-3"], "--probes must be at least 1, not -3"),
    ])
  func negativeOptions(arguments: [String], expected: String) throws {
    let directory = TemporaryDirectory()
    let (store, _) = try existingStore(directory)
    directory.write("1 2 3 4\n", to: "probe.vec")
    let outcome = try TripIndexExecutable.run(
      ["query", directory.file("probe.vec"), "--store", store] + arguments)
    #expect(outcome.status != 0)
    #expect(outcome.stderr.contains(expected), "\(outcome.stderr)")
  }

  @Test(
    "a probe of huge values is refused; a 1-item store cannot be indexed and nothing is written")
  func hugeProbeAndTinyIndex() throws {
    let directory = TemporaryDirectory()
    let (store, before) = try existingStore(directory)
    directory.write("1 2 3 1e20\n", to: "probe.vec")
    let probe = try TripIndexExecutable.run([
      "query", directory.file("probe.vec"), "--store", store,
    ])
    #expect(probe.status != 0)
    #expect(probe.stderr.contains("probe.vec, line 1"), "\(probe.stderr)")
    let fresh = directory.file("fresh.lmdb")
    directory.write("1 2 3 4\n", to: "one/one.vec")
    let index = try TripIndexExecutable.run([
      "build", directory.file("one"), "--store", fresh, "--index", "lsh",
    ])
    #expect(index.status != 0)
    #expect(index.stderr.contains("needs at least 2 items"), "\(index.stderr)")
    #expect(!FileManager.default.fileExists(atPath: fresh))
    #expect(try Data(contentsOf: URL(fileURLWithPath: store + "/data.mdb")) == before)
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
    #expect(outcome.stderr.contains("probe.vec has dimension 3, but store"))
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

  @Test("delete names an item twice and deletes it once; eval refuses --threads 0 as query does")
  func repeatedDeletesAndThreads() throws {
    let directory = TemporaryDirectory()
    directory.write(
      Fixtures.fvecsBytes(Fixtures.randomMatrix(rows: 10, columns: 4, seed: 1)), to: "in/a.fvecs")
    let store = directory.file("s.lmdb")
    #expect(
      try TripIndexExecutable.run(["build", directory.file("in"), "--store", store]).status == 0)
    let byID = try TripIndexExecutable.run(["delete", "--ids", "5", "5", "05", "--store", store])
    #expect(byID.status == 0 && byID.stdout.contains("deleted 1 item"), "\(byID.stderr)")
    let byName = try TripIndexExecutable.run(["delete", "a#1", "a#1", "--store", store])
    #expect(byName.status == 0 && byName.stdout.contains("deleted 1 item"), "\(byName.stderr)")
    let info = try TripIndexExecutable.run(["info", "--store", store, "--json"])
    #expect(info.stdout.contains("\"count\": 8,"))
    let eval = try TripIndexExecutable.run([
      "eval", "--query", directory.file("in"), "--gallery", directory.file("in"), "--protocol",
      "retrieval", "--threads", "0",
    ])
    #expect(
      eval.status == 1 && eval.stderr.contains("--threads must be at least 1"), "\(eval.stderr)")
  }
}
