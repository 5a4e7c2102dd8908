import Foundation
import TestSupport
import Testing
import TripIndex
import VectorMath
import VectorStore

/// `query FOLDER` reads probes as `build` does (names, Market-1501 labels), and its exclusions
/// give, per probe, exactly the gallery `eval`'s Market-1501 protocol ranks.
@Suite struct QueryProtocolTests {
  @Test(
    "query FOLDER --protocol market1501 returns, per probe, brute force's top 10 over the Market-1501 gallery (same pid and camera, and junk, removed), with the count that passes"
  )
  func market1501Gallery() throws {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
      .deletingLastPathComponent().deletingLastPathComponent().path
    let directory = TemporaryDirectory()
    let store = directory.file("gallery.lmdb")
    _ = try Build.run(
      Build.Options(input: root + "/datasets/synth-reid/gallery", storePath: store),
      progress: SilentProgress())
    // The gallery in id order, as the reference sees it.
    var names: [String] = []
    var labels: [ItemLabels] = []
    var gallery = Matrix(rows: 0, columns: 0)
    try VectorStore.open(path: store, readOnly: true).read { snapshot in
      gallery = Matrix(rows: 0, columns: snapshot.store.dimension)
      try snapshot.forEachItem { item, vector in
        #expect(Int(item.id) == names.count)
        names.append(item.name)
        labels.append(item.labels)
        gallery.append(rows: Array(vector))
      }
    }
    let queries = try LabelledVectors.load(
      root + "/datasets/synth-reid/query", progress: SilentProgress())
    for (arguments, junk) in [
      (["--protocol", "market1501"], true), (["--exclude-same-pid-camera"], false),
    ] {
      let outcome = try TripIndexExecutable.run(
        ["query", root + "/datasets/synth-reid/query", "--store", store, "-k", "10", "--json"]
          + arguments)
      #expect(outcome.status == 0, "\(outcome.stderr)")
      let lines = try outcome.stdout.split(separator: "\n").map {
        try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
      }
      #expect(lines.count == queries.count)
      var compared = 0
      for (row, line) in lines.enumerated() {
        #expect(line["row"] as? Int == row && line["probe"] as? String == queries.names[row])
        #expect(line["method"] as? String == "exact")
        let probe = queries.labels[row]
        let excluded = Set(
          labels.indices.filter { index in
            (labels[index].pid == probe.pid && labels[index].camera == probe.camera)
              || (junk && labels[index].pid == -1)
          })
        #expect(line["passing"] as? Int == names.count - excluded.count, "\(queries.names[row])")
        let expected = Fixtures.bruteForce(
          base: gallery, probe: queries.vectors.row(row), k: 10, metric: .l2, excluded: excluded)
        let neighbors = try #require(line["neighbors"] as? [[String: Any]])
        #expect(neighbors.map { $0["name"] as? String ?? "" } == expected.map { names[$0.id] })
        for (neighbor, wanted) in zip(neighbors, expected) {
          let distance = try #require(neighbor["distance"] as? Double)
          #expect(abs(distance - Double(wanted.distance)) <= 1e-4 * max(1, Double(wanted.distance)))
        }
        compared += 1
      }
      #expect(compared == 400)
    }
  }
}
