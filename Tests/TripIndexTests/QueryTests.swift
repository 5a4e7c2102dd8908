import Foundation
import TestSupport
import Testing
import TripIndex
import VectorMath

@Suite struct QueryTests {
  @Test(
    "query returns brute-force neighbours for every probe, in input order",
    arguments: [
      (DistanceMetric.l2, 1), (.l2, 50), (.cosine, 1), (.cosine, 50),
    ])
  func matchesBruteForce(metric: DistanceMetric, probes probeCount: Int) throws {
    let directory = TemporaryDirectory()
    let base = Fixtures.clusteredMatrix(rows: 3000, columns: 16, clusters: 20, seed: 11)
    directory.write(Fixtures.fvecsBytes(base), to: "in/base.fvecs")
    let store = directory.file("s.lmdb")
    _ = try Build.run(
      Build.Options(input: directory.file("in"), storePath: store, metric: metric),
      progress: SilentProgress())
    let probes = Fixtures.clusteredMatrix(rows: probeCount, columns: 16, clusters: 20, seed: 12)
    let probePath = directory.write(Fixtures.vecText(probes), to: "probes.vec")
    let result = try Query.run(Query.Options(probePath: probePath, storePath: store, k: 10))
    #expect(result.neighbors.count == probeCount)
    var normalisedBase = base
    if metric == .cosine { normalisedBase.normalizeRows() }
    for probe in 0..<probeCount {
      var vector = Matrix(rows: 1, columns: 16, values: probes.row(probe))
      if metric == .cosine { vector.normalizeRows() }
      let expected = Fixtures.bruteForce(
        base: normalisedBase, probe: vector.values, k: 10, metric: metric)
      #expect(result.neighbors[probe].map(\.item.name) == expected.map { "base#\($0.id)" })
    }
  }

  @Test("JSON lines carry id, name, pid, camera and distance, one object per probe")
  func jsonLines() throws {
    let directory = TemporaryDirectory()
    directory.write("0 0\n", to: "in/0003_c1s1_000001_00.vec")
    directory.write("1 0\n", to: "in/plain \"quoted\".vec")
    directory.write("5 5\n", to: "in/far.vec")
    let store = directory.file("s.lmdb")
    _ = try Build.run(
      Build.Options(input: directory.file("in"), storePath: store), progress: SilentProgress())
    directory.write("0 0\n1 0.1\n", to: "probes.vec")
    let outcome = try TripIndexExecutable.run([
      "query", directory.file("probes.vec"), "-k", "2", "--store", store, "--json",
    ])
    #expect(outcome.status == 0, "\(outcome.stderr)")
    let lines = outcome.stdout.split(separator: "\n")
    #expect(lines.count == 2)
    let objects = try lines.map {
      try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
    }
    #expect(objects.map { $0["row"] as? Int } == [0, 1])
    #expect(objects.map { $0["probe"] as? String } == ["probes#0", "probes#1"])
    #expect(
      objects.allSatisfy { $0["method"] as? String == "exact" && $0["method_reason"] is NSNull })
    let first = try #require(objects[0]["neighbors"] as? [[String: Any]])
    #expect(first.count == 2)
    #expect(first[0]["name"] as? String == "0003_c1s1_000001_00")
    #expect(first[0]["pid"] as? Int == 3 && first[0]["camera"] as? Int == 1)
    #expect(first[0]["distance"] as? Double == 0)
    #expect(first[1]["name"] as? String == "plain \"quoted\"")
    #expect(first[1]["pid"] is NSNull && first[1]["camera"] is NSNull)
    #expect(first[1]["distance"] as? Double == 1)
    let second = try #require(objects[1]["neighbors"] as? [[String: Any]])
    #expect(second.map { $0["name"] as? String } == ["plain \"quoted\"", "0003_c1s1_000001_00"])
    #expect(abs((second[0]["distance"] as? Double ?? 0) - 0.01) < 1e-6)
  }

  @Test("the table names the probe, the metric and every neighbour")
  func table() throws {
    let directory = TemporaryDirectory()
    directory.write("0 0\n3 4\n", to: "in/pts.vec")
    let store = directory.file("s.lmdb")
    _ = try Build.run(
      Build.Options(input: directory.file("in"), storePath: store), progress: SilentProgress())
    directory.write("0 0\n", to: "p.vec")
    let outcome = try TripIndexExecutable.run(["query", directory.file("p.vec"), "--store", store])
    #expect(outcome.status == 0)
    #expect(
      outcome.stdout == """
        probe p (row 0): 2 nearest of 2 items (exact, squared L2)
        rank  distance  id  pid  camera  name
           1       0.0   0    -       -  pts#0
           2      25.0   1    -       -  pts#1

        """)
  }
}
