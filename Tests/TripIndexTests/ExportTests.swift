import Foundation
import TestSupport
import Testing
import TripIndex
import VectorIO
import VectorMath
import VectorStore

@Suite struct ExportTests {
  /// Every live item of a store: name, labels and vector bits, in id order.
  static func contents(of path: String) throws -> [(String, ItemLabels, [UInt32])] {
    var items: [(String, ItemLabels, [UInt32])] = []
    try VectorStore.open(path: path, readOnly: true).read { snapshot in
      try snapshot.forEachItem { item, vector in
        items.append((item.name, item.labels, vector.map(\.bitPattern)))
      }
    }
    return items
  }

  @Test(
    "export then build gives the same items, labels and vectors bit for bit",
    arguments: [VectorFileFormat.npy, .fvecs])
  func roundTrip(format: VectorFileFormat) throws {
    let directory = TemporaryDirectory()
    let base = Fixtures.randomMatrix(rows: 50, columns: 7, seed: 3, scale: 1e3)
    directory.write(Fixtures.fvecsBytes(base), to: "in/x.fvecs")
    var labels = "name,pid,camera,group\n"
    for row in 0..<base.rows {
      // Names the export must quote (CR LF is one Character in Swift), and two names that are
      // canonically equal but different bytes (the store compares names as bytes).
      let special = [
        4: "\"a, \"\"quoted\"\"\nname\"", 5: "  spaced ", 8: "\"crlf\r\nname\"", 9: "\u{E9}",
        10: "e\u{301}", 11: "\"\ttab\"",
      ]
      let name = special[row] ?? "item\(row)"
      labels += "\(name),\(row % 7 - 1),\(row % 3 == 0 ? "" : String(row % 3)),\(row % 4)\n"
    }
    directory.write(labels, to: "in/labels.csv")
    let store = directory.file("s.lmdb")
    _ = try Build.run(
      Build.Options(input: directory.file("in"), storePath: store), progress: SilentProgress())
    _ = try Deletion.run(storePath: store, items: ["item7"], byID: false)
    var options = Export.Options(storePath: store, outputDirectory: directory.file("out"))
    options.format = format
    let report = try Export.run(options, progress: SilentProgress())
    #expect(report.items == 49)
    let copy = directory.file("copy.lmdb")
    _ = try Build.run(
      Build.Options(input: directory.file("out"), storePath: copy), progress: SilentProgress())
    let original = try Self.contents(of: store)
    let rebuilt = try Self.contents(of: copy)
    #expect(original.count == 49 && rebuilt.count == 49)
    for (a, b) in zip(original, rebuilt) {
      #expect(Array(a.0.utf8) == Array(b.0.utf8) && a.1 == b.1 && a.2 == b.2, "\(a.0)")
    }
    // Groups are stored and exported.
    #expect(original.first { $0.0 == "item6" }?.1 == ItemLabels(pid: 5, camera: nil, group: 2))
    #expect(Set(original.map { Array($0.0.utf8) }).count == 49)
    let exported = try LabelsFile(path: directory.file("out/labels.csv"))
    #expect(exported.entries.count == 49)
    #expect(exported.entries.first { $0.name == "item13" }?.labels.group == 1)
  }

  @Test("export refuses a folder with files in it, and leaves nothing behind when it fails")
  func refusals() throws {
    let directory = TemporaryDirectory()
    directory.write("1 2\n", to: "in/a.vec")
    let store = directory.file("s.lmdb")
    _ = try Build.run(
      Build.Options(input: directory.file("in"), storePath: store), progress: SilentProgress())
    directory.write("x", to: "full/keep.txt")
    let full = try TripIndexExecutable.run([
      "export", "--store", store, "--out", directory.file("full"),
    ])
    #expect(full.status != 0 && full.stderr.contains("already holds files"))
    let text = try TripIndexExecutable.run([
      "export", "--store", store, "--out", directory.file("text"), "--format", "vec",
    ])
    #expect(text.status != 0 && text.stderr.contains("--format takes npy or fvecs"))
    #expect(!FileManager.default.fileExists(atPath: directory.file("text")))
  }
}
