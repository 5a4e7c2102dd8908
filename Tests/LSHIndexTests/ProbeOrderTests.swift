import TestSupport
import Testing
import VectorMath

@testable import LSHIndex

/// A batch of probes is searched in an order that keeps probes near each other together (for
/// the cache); the order must group by place and must never change an answer.
@Suite struct ProbeOrderTests {
  /// Eight far-apart clusters of 24-d points, `perCluster` of each, interleaved (cluster = row
  /// mod 8): in the batch's own order every row changes cluster.
  static func clusters(perCluster: Int, seed: UInt64) -> (Matrix, cluster: [Int]) {
    var random = SeededRandom(seed: seed)
    let centres = (0..<(8 * 24)).map { _ in Float(random.normal() * 20) }
    var values: [Float] = []
    var cluster: [Int] = []
    for row in 0..<(8 * perCluster) {
      cluster.append(row % 8)
      for column in 0..<24 {
        values.append(centres[(row % 8) * 24 + column] + Float(random.normal()))
      }
    }
    return (Matrix(rows: 8 * perCluster, columns: 24, values: values), cluster)
  }

  @Test("probes of one place are searched one after another; small batches keep their order")
  func groupsByPlace() throws {
    let (data, _) = Self.clusters(perCluster: 500, seed: 3)
    let (probes, cluster) = Self.clusters(perCluster: 64, seed: 3)
    try data.withVectorSource(metric: .l2, blockRows: 256) { source in
      let encoder = try LSHMemoryIndex.build(
        configuration: LSHConfiguration(family: .pstable, tables: 2, hashesPerTable: 4),
        over: source
      ).encoder
      let order = ProbeOrder.byLocality(probes, encoder: encoder, threads: 2)
      #expect(order.sorted() == Array(0..<probes.rows))
      // 512 probes form 16 groups: at most 15 changes of cluster along the order, where the
      // batch's own order changes cluster at every row.
      let changes = zip(order, order.dropFirst()).filter { cluster[$0] != cluster[$1] }.count
      #expect(changes <= 15, "\(changes) changes of cluster")
      let few = Matrix(rows: 63, columns: 24, values: Array(probes.values.prefix(63 * 24)))
      #expect(ProbeOrder.byLocality(few, encoder: encoder, threads: 2) == Array(0..<63))
    }
  }

  @Test(
    "a batch's answers are each probe's answer searched alone, whatever the threads",
    arguments: [(4, 0), (2, 300)] as [(Int, Int)])
  func answersUnchanged(probesPerTable: Int, budget: Int) throws {
    let data = Fixtures.clusteredMatrix(rows: 6000, columns: 24, clusters: 60, seed: 5)
    let more = Fixtures.clusteredMatrix(rows: 6400, columns: 24, clusters: 60, seed: 5)
    let probes = Matrix(rows: 400, columns: 24, values: Array(more.values[(6000 * 24)...]))
    try data.withVectorSource(metric: .l2, blockRows: 256) { source in
      let index = try LSHMemoryIndex.build(
        configuration: LSHConfiguration(
          family: .pstable, tables: 4, hashesPerTable: 3, probes: probesPerTable,
          candidateBudget: budget),
        over: source)
      #expect(ProbeOrder.byLocality(probes, encoder: index.encoder, threads: 1) != Array(0..<400))
      try index.withSearcher(over: source) { searcher in
        let alone = try (0..<probes.rows).map { row in
          try searcher.search(Matrix(rows: 1, columns: 24, values: probes.row(row)), k: 10)[0]
        }
        for threads in [1, 2] {
          let batch = try searcher.search(probes, k: 10, threads: threads)
          #expect(batch.map { $0.neighbors.map(\.id) } == alone.map { $0.neighbors.map(\.id) })
          #expect(
            batch.map { $0.neighbors.map(\.distance) } == alone.map { $0.neighbors.map(\.distance) }
          )
          #expect(batch.map(\.candidates) == alone.map(\.candidates))
        }
      }
    }
  }
}
