import Foundation
import Synchronization
import TestSupport
import Testing
import TripIndex
import VectorMath
import VectorStore

/// `query --where` and the probe exclusions: the expression language, and filtered search equal
/// to brute force over the passing items (exact) or close to it (LSH).
@Suite struct FilterTests {
  static func item(id: UInt64, name: String = "x", pid: Int32? = nil, camera: Int32? = nil)
    -> StoredItem
  {
    StoredItem(id: id, name: name, labels: ItemLabels(pid: pid, camera: camera))
  }

  @Test("the expression language: comparisons, lists, and/or/not with precedence, missing labels")
  func evaluation() throws {
    let a = Self.item(id: 4, name: "0007_c2", pid: 7, camera: 2)
    let b = Self.item(id: 9, name: "0000_c3", pid: 0, camera: 3)
    let unlabelled = Self.item(id: 12, name: "free")
    let cases: [(String, [Bool])] = [
      ("camera != 3", [true, false, false]),
      ("not camera == 3", [true, false, true]),
      ("pid not in [0, -1]", [true, false, false]),
      ("pid in [7]", [true, false, false]),
      ("id >= 9", [false, true, true]),
      ("id < 5 or pid == 0 and camera == 2", [true, false, false]),
      ("(id < 5 or pid == 0) and camera == 2", [true, false, false]),
      ("(id < 5 or pid == 0) and not camera == 2", [false, true, false]),
      ("name == 'free' or name < \"0001\"", [false, true, true]),
      ("NAME != 'free' AND Camera >= 2", [true, true, false]),
      ("id > -3", [true, true, true]),
      ("pid in [] or camera not in []", [true, true, false]),
    ]
    for (text, expected) in cases {
      let filter = try ItemFilter.parse(text)
      #expect([a, b, unlabelled].map(filter.matches) == expected, "\(text)")
    }
    // Groups, stored since schema 3.
    let grouped = StoredItem(id: 2, name: "g", labels: ItemLabels(pid: 7, camera: 1, group: 7))
    #expect(try ItemFilter.parse("group == 7 and pid in [7]").matches(grouped))
    #expect(try !ItemFilter.parse("group != 7").matches(a))  // no group: every comparison fails
    #expect(try ItemFilter.parse("not group == 7").matches(a))
  }

  @Test("nesting is refused past 256 levels with a message; long chains evaluate on a small stack")
  func nestingLimit() throws {
    let limit = ItemFilter.maximumNesting
    let deepest =
      String(repeating: "(", count: limit) + "pid == 7" + String(repeating: ")", count: limit)
    let nots = String(repeating: "not ", count: limit) + "pid == 7"
    #expect(try ItemFilter.parse(deepest).matches(Self.item(id: 1, pid: 7)))
    #expect(try ItemFilter.parse(nots).matches(Self.item(id: 1, pid: 7)))  // an even count
    for text in [
      "(" + deepest + ")", "not " + nots, String(repeating: "(", count: 40_000),
      String(repeating: "(", count: 40_000) + "pid == 1" + String(repeating: ")", count: 40_000),
      String(repeating: "not (", count: 200) + "pid == 1" + String(repeating: ")", count: 200),
    ] {
      #expect {
        try ItemFilter.parse(text)
      } throws: { error in
        "\(error)".contains("more than \(limit) levels deep")
      }
    }
    // A chain of 50,000 comparisons at the deepest nesting is a balanced tree: evaluating and
    // releasing it takes under 300 frames, which a worker thread's 512 KiB stack holds.
    let chain = (0..<50_000).map { "pid == \($0)" }.joined(separator: " or ")
    let deepChain = UncheckedBox(
      try ItemFilter.parse(
        String(repeating: "(", count: limit) + chain + String(repeating: ")", count: limit)))
    let verdict = Mutex<Bool?>(nil)
    let thread = Thread {
      let filter = deepChain.take()
      verdict.withLock { $0 = filter.matches(Self.item(id: 1, pid: 49_999)) }
    }
    thread.stackSize = 512 << 10
    thread.start()
    let deadline = Date().addingTimeInterval(60)
    while verdict.withLock({ $0 }) == nil && Date() < deadline { usleep(10_000) }
    #expect(verdict.withLock { $0 } == true)
    // Through the command line: a clean error, not a signal.
    let directory = TemporaryDirectory()
    directory.write(
      Fixtures.fvecsBytes(Fixtures.randomMatrix(rows: 20, columns: 4, seed: 1)), to: "in/a.fvecs")
    let store = directory.file("s.lmdb")
    #expect(
      try TripIndexExecutable.run(["build", directory.file("in"), "--store", store]).status == 0)
    let probe = directory.write("1 2 3 4\n", to: "p.vec")
    let outcome = try TripIndexExecutable.run([
      "query", probe, "--store", store, "--where",
      String(repeating: "(", count: 40_000) + "pid == 1",
    ])
    #expect(!outcome.signalled && outcome.status == 1)
    #expect(
      outcome.stderr.contains("--where: the expression nests parentheses and 'not' more than 256"))
  }

  @Test(
    "a parse error names what was expected and points at the column",
    arguments: [
      ("camera != 3 and pid not in [0, -1", "expected ',' or ']' at column 34"),
      ("age == 3", "expected a field (pid, camera, group, id or name)"),
      ("pid ==", "expected an integer for pid at column 7"),
      ("name == 3", "expected a quoted name"),
      ("pid == 1 & camera == 2", "at column 10"),
      ("pid not [1]", "expected 'in' after 'not' at column 9"),
      ("", "expected an expression at column 1"),
      ("(pid == 1", "expected ')' at column 10"),
      ("pid == 1 camera == 2", "expected 'and', 'or' or the end at column 10"),
      ("name == 'open", "expected a closing '"),
      ("pid == 99999999999999999999", "expected an integer"),
    ])
  func parseErrors(text: String, expected: String) {
    #expect {
      _ = try ItemFilter.parse(text)
    } throws: { error in
      "\(error)".contains(expected) && "\(error)".contains("^")
    }
  }

  /// A labelled store of clustered vectors (pid = row % 40, camera = row % 6 + 1, every tenth
  /// row without a camera), with or without an LSH index.
  static func store(in directory: TemporaryDirectory, lsh: Bool) throws -> (String, Matrix) {
    let base = Fixtures.clusteredMatrix(rows: 12000, columns: 16, clusters: 60, seed: 21)
    directory.write(Fixtures.fvecsBytes(base), to: "in/x.fvecs")
    var labels = "name,pid,camera\n"
    for row in 0..<base.rows {
      labels += "item\(row),\(row % 40),\(row % 10 == 9 ? "" : String(row % 6 + 1))\n"
    }
    directory.write(labels, to: "in/labels.csv")
    let store = directory.file(lsh ? "lsh.lmdb" : "exact.lmdb")
    var options = Build.Options(input: directory.file("in"), storePath: store)
    if lsh { options.index = LSHChoices() }
    _ = try Build.run(options, progress: SilentProgress())
    return (store, base)
  }

  static func passes(_ filter: ItemFilter, row: Int) -> Bool {
    filter.matches(
      Self.item(
        id: UInt64(row), name: "item\(row)", pid: Int32(row % 40),
        camera: row % 10 == 9 ? nil : Int32(row % 6 + 1)))
  }

  static let filters = [
    "camera != 3 and pid not in [0, 7]", "pid < 4 or camera == 2", "id >= 100 and id < 400",
    "pid == 5 and camera == 6", "name in ['item3', 'item17']", "pid == 1",
  ]

  /// Probes near stored items (rows of the base with a little noise), as real probes are.
  static func probes(near base: Matrix, count: Int, seed: UInt64) -> Matrix {
    let noise = Fixtures.randomMatrix(rows: count, columns: base.columns, seed: seed, scale: 0.3)
    let step = base.rows / count
    return Matrix(
      rows: count, columns: base.columns,
      values: (0..<count).flatMap { probe in
        zip(base.row(probe * step + 1), noise.row(probe)).map { $0 + $1 }
      })
  }

  @Test(
    "filtered search returns brute force's top k among the passing items (exact), and LSH's recall does not drop under a filter"
  )
  func filteredSearch() throws {
    let directory = TemporaryDirectory()
    for lsh in [false, true] {
      let (store, base) = try Self.store(in: directory, lsh: lsh)
      let probes = Self.probes(near: base, count: 20, seed: 22)
      let probePath = directory.write(Fixtures.vecText(probes), to: "probes.vec")
      /// LSH's recall@10 against brute force among the items passing `text` (nil: all).
      func recall(_ text: String?) throws -> Double {
        let filter = try text.map { try ItemFilter.parse($0) }
        var options = Query.Options(probePath: probePath, storePath: store, k: 10)
        options.filter = filter
        options.forceIndex = lsh
        let result = try Query.run(options)
        let excluded = Set(
          (0..<base.rows).filter { row in filter.map { !Self.passes($0, row: row) } ?? false })
        if filter != nil {
          #expect(result.passing?.allSatisfy { $0 == base.rows - excluded.count } == true)
        }
        var found = 0
        var wanted = 0
        for probe in 0..<probes.rows {
          let expected = Fixtures.bruteForce(
            base: base, probe: probes.row(probe), k: 10, metric: .l2, excluded: excluded
          ).map { "item\($0.id)" }
          let names = result.neighbors[probe].map(\.item.name)
          #expect(names.count == min(10, base.rows - excluded.count), "\(text ?? "")")
          #expect(
            names.allSatisfy { name in
              Int(name.dropFirst(4)).map { !excluded.contains($0) } ?? false
            }, "\(text ?? ""): an item that fails the filter came back")
          if !lsh { #expect(names == expected, "\(text ?? ""), probe \(probe)") }
          found += Set(names).intersection(expected).count
          wanted += expected.count
        }
        return Double(found) / Double(wanted)
      }
      let unfiltered = try recall(nil)
      for text in Self.filters {
        let filtered = try recall(text)
        #expect(
          filtered >= unfiltered - 0.05, "\(text): recall \(filtered), unfiltered \(unfiltered)")
      }
    }
  }

  @Test("--exclude-same-camera and --exclude-same-pid leave out each probe's own camera and pid")
  func probeExclusions() throws {
    let directory = TemporaryDirectory()
    let (store, base) = try Self.store(in: directory, lsh: false)
    let probes = Fixtures.clusteredMatrix(rows: 12, columns: 16, clusters: 30, seed: 23)
    let probePath = directory.write(Fixtures.vecText(probes), to: "probes.vec")
    var labels = "name,pid,camera\n"
    for row in 0..<probes.rows { labels += "probe\(row),\(row % 3),\(row % 6 + 1)\n" }
    let labelsPath = directory.write(labels, to: "probe-labels.csv")
    for (sameCamera, samePID) in [(true, false), (false, true), (true, true)] {
      var options = Query.Options(probePath: probePath, storePath: store, k: 8)
      options.filter = try ItemFilter.parse("pid != 39")
      options.probeLabelsPath = labelsPath
      options.excludeSameCamera = sameCamera
      options.excludeSamePID = samePID
      let result = try Query.run(options)
      for probe in 0..<probes.rows {
        let excluded = Set(
          (0..<base.rows).filter { row in
            let camera = row % 10 == 9 ? nil : row % 6 + 1
            return row % 40 == 39 || (sameCamera && camera == probe % 6 + 1)
              || (samePID && row % 40 == probe % 3)
          })
        let expected = Fixtures.bruteForce(
          base: base, probe: probes.row(probe), k: 8, metric: .l2, excluded: excluded
        ).map { "item\($0.id)" }
        #expect(result.neighbors[probe].map(\.item.name) == expected, "probe \(probe)")
      }
    }
  }

  @Test(
    "the exclusions need probe labels (read with the probes, or one row per probe), with the label they use",
    arguments: [
      (["--exclude-same-camera"], "probe 'p#0' has no camera, which the exclusion needs"),
      (["--probe-labels", "LABELS"], "--probe-labels is read for --exclude-same-camera"),
      (["--exclude-same-pid", "--probe-labels", "SHORT"], "has 1 rows but"),
      (["--protocol", "market"], "--protocol takes 'market1501' or 'none'"),
      (["--exclude-same-camera", "--probe-labels", "NOCAMERA"], "has no camera"),
      (["--where", "pid = 3"], "expected a comparison"),
    ])
  func exclusionErrors(arguments: [String], expected: String) throws {
    let directory = TemporaryDirectory()
    directory.write("0 0\n1 1\n", to: "in/pts.vec")
    let store = directory.file("s.lmdb")
    _ = try Build.run(
      Build.Options(input: directory.file("in"), storePath: store), progress: SilentProgress())
    // In a folder of its own: a labels.csv beside the probe file would label the probes.
    let probe = directory.write("0 0\n1 0\n", to: "probes/p.vec")
    let paths = [
      "LABELS": directory.write("name,pid,camera\na,1,1\nb,2,2\n", to: "labels.csv"),
      "SHORT": directory.write("name,pid,camera\na,1,1\n", to: "short.csv"),
      "NOCAMERA": directory.write("name,pid,camera\na,1,1\nb,2,\n", to: "nocamera.csv"),
    ]
    let outcome = try TripIndexExecutable.run(
      ["query", probe, "--store", store] + arguments.map { paths[$0] ?? $0 })
    #expect(outcome.status != 0)
    #expect(outcome.stderr.contains(expected), "\(outcome.stderr)")
  }
}

/// Hands a value to another thread once.
private final class UncheckedBox<Value>: @unchecked Sendable {
  private var value: Value?
  init(_ value: Value) { self.value = value }
  func take() -> Value {
    defer { value = nil }
    guard let value else { fatalError("taken twice") }
    return value
  }
}
