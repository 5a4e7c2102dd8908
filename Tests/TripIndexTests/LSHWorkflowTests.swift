import Foundation
import TestSupport
import Testing
import TripIndex

/// build --index lsh → tune → query (LSH and --exact) through the command line.
@Suite struct LSHWorkflowTests {
  private func json(_ text: String) throws -> [[String: Any]] {
    try text.split(separator: "\n").map { line in
      try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }
  }

  @Test("queries through a tuned index reach the recall tune promised, on probes it never saw")
  func tunedRecall() throws {
    let directory = TemporaryDirectory()
    let data = Fixtures.clusteredMatrix(rows: 6200, columns: 24, clusters: 60, seed: 31)
    directory.write(
      Fixtures.fvecsBytes(
        Matrix(rows: 6000, columns: 24, values: Array(data.values[..<(6000 * 24)]))),
      to: "in/base.fvecs")
    let probes = directory.write(
      Fixtures.fvecsBytes(
        Matrix(rows: 200, columns: 24, values: Array(data.values[(6000 * 24)...]))),
      to: "probes.fvecs")
    let store = directory.file("s.lmdb")
    let built = try TripIndexExecutable.run([
      "build", directory.file("in"), "--store", store, "--index", "lsh", "--quiet",
    ])
    #expect(built.status == 0, "\(built.stderr)")
    #expect(built.stdout.contains("LSH index pstable L8 K8"))
    let tuned = try TripIndexExecutable.run([
      "tune", "--store", store, "--recall", "0.9", "--sample", "150", "--json", "--quiet",
    ])
    #expect(tuned.status == 0, "\(tuned.stderr)")
    let report = try #require(
      JSONSerialization.jsonObject(with: Data(tuned.stdout.utf8)) as? [String: Any])
    let promised = try #require(report["held_out_recall"] as? Double)

    let approximate = try TripIndexExecutable.run([
      "query", probes, "-k", "10", "--store", store, "--json",
    ])
    let exact = try TripIndexExecutable.run([
      "query", probes, "-k", "10", "--store", store, "--json", "--exact",
    ])
    #expect(approximate.status == 0 && exact.status == 0)
    let found = try json(approximate.stdout)
    let truth = try json(exact.stdout)
    #expect(found.count == 200 && truth.count == 200)
    #expect(
      found.allSatisfy { $0["candidates"] is Int } && truth.allSatisfy { $0["candidates"] == nil })
    var hits = 0
    for (approximateLine, exactLine) in zip(found, truth) {
      let neighbors = try #require(approximateLine["neighbors"] as? [[String: Any]])
      let reference = try #require(exactLine["neighbors"] as? [[String: Any]])
      let kth = try #require(reference.last?["distance"] as? Double)
      hits +=
        neighbors.filter { ($0["distance"] as? Double ?? .infinity) <= kth * (1 + 1e-5) + 1e-6 }
        .count
    }
    let recall = Double(hits) / 2000
    #expect(recall >= promised - 0.03, "recall \(recall), tune promised \(promised)")
    #expect(recall >= 0.87)
  }
}
