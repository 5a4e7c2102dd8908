import Foundation
import TestSupport
import Testing
import VectorMath

@testable import LSHIndex

/// The searcher reads a bucket page by page outwards from the probe's first-component byte, so
/// a bucket's entries must be sorted by their first code byte; within that, their order must not
/// change the answers when there is no candidate budget: every pruning step uses a lower bound,
/// so the answer is the exact k nearest of the entries in the buckets probed, however those were
/// laid out. (A store keeps each bucket by entry bytes, tuning's tables by first byte then item.)
@Suite struct BucketOrderTests {
  @Test(
    "with no budget, two layouts of the same buckets give the same answers; a budget may not",
    arguments: [1, 2] as [UInt64])
  func answersIgnoreInBucketOrder(seed: UInt64) throws {
    var data = Fixtures.clusteredMatrix(rows: 6000, columns: 24, clusters: 60, seed: seed)
    // Every seventh vector twice: ties at the k-th distance.
    for row in stride(from: 0, to: 5999, by: 7) {
      for column in 0..<24 { data.values[(row + 1) * 24 + column] = data.values[row * 24 + column] }
    }
    let more = Fixtures.clusteredMatrix(rows: 6300, columns: 24, clusters: 60, seed: seed)
    let probes = Matrix(rows: 300, columns: 24, values: Array(more.values[(6000 * 24)...]))
    try data.withVectorSource(metric: .l2, blockRows: 256) { source in
      // (k, probes per table, hashes per table, budget): large buckets (K 2) span many pages.
      for (k, probesPerTable, hashes, budget) in [
        (10, 1, 2, 0), (10, 4, 3, 0), (50, 8, 6, 0), (10, 2, 2, 300),
      ] {
        let configuration = LSHConfiguration(
          family: .pstable, tables: 4, hashesPerTable: hashes, probes: probesPerTable,
          candidateBudget: budget)
        let encoder = try LSHMemoryIndex.build(configuration: configuration, over: source).encoder
        let encoded = BulkEncoding(source, encoder: encoder, codes: true, projections: 0)
        // Store order and tuning's order, each as copies and as positions (gathered pages);
        // tuning's order also sorted one table at a time, in groups of three tables or of one
        // (whose codes are sorted in place).
        let oneTable = encoded.count * 8
        let answers = try [
          (true, Int.max, Int.max, Int.max), (false, Int.max, Int.max, Int.max),
          (true, 0, Int.max, Int.max), (false, 0, Int.max, Int.max),
          (false, Int.max, 0, 3 * oneTable), (false, 0, 0, oneTable),
        ].map { storeOrder, copiedBytesLimit, oneTableAtATimeFrom, codeBytesPerGroup in
          let tables = MemoryTables(
            tables: encoded.tables, entryBytes: encoded.entryBytes, items: encoded.count,
            itemEntries: encoded.entries, storeOrder: storeOrder,
            copiedBytesLimit: copiedBytesLimit, oneTableAtATimeFrom: oneTableAtATimeFrom,
            codeBytesPerGroup: codeBytesPerGroup
          ) { group in
            (0..<encoded.count).flatMap { item in
              group.map { encoded.codes[item * encoded.tables + $0] }
            }
          }
          if case .copies = tables.layout { #expect(copiedBytesLimit > 0) }
          #expect(
            tables.bytes
              == MemoryTables.bytes(
                tables: encoded.tables, items: encoded.count, entryBytes: encoded.entryBytes,
                copiedBytesLimit: copiedBytesLimit))
          let searcher = LSHSearcher(encoder: encoder, source: source, tables: .memory(tables))
          return try searcher.search(probes, k: k).map { $0.neighbors.map(\.id) }
        }
        // The same layout read in place or gathered: the same pages, the same answers, budget
        // or not.
        #expect(answers[0] == answers[2] && answers[1] == answers[3])
        #expect(answers[4] == answers[1] && answers[5] == answers[1])
        let differing = zip(answers[0], answers[1]).filter { $0 != $1 }.count
        if budget == 0 {
          #expect(differing == 0, "K \(hashes) T \(probesPerTable) k \(k)")
        } else {
          // The budget stops a probe after so many entries, which depend on the layout: this
          // shows the comparison above can tell two layouts' answers apart.
          #expect(differing > 0, "K \(hashes) T \(probesPerTable) budget \(budget)")
        }
      }
    }
  }
}
