import Foundation
import TestSupport
import Testing
import VectorMath
import VectorStore

@testable import LSHIndex

@Suite struct TunerTests {
  @Test(
    "tuning picks the fastest setting whose 95% lower bound reaches the target; it holds on new queries"
  )
  func tuneReachesTarget() throws {
    let directory = TemporaryDirectory()
    let (store, _) = try clusteredStore(directory, rows: 5000, metric: .l2)
    var grid = LSHTuner.Grid(metric: .l2)
    grid.hashesPerTable = [.pstable: [4, 6]]
    grid.widthMultipliers = [0.8, 1.3]
    grid.tables = [4, 8]
    grid.probes = [1, 4]
    grid.budgets = [500, 0]
    let report = try LSHTuner.tune(store: store, target: 0.9, k: 10, sampleSize: 150, grid: grid)
    let chosen = try #require(report.chosen)
    #expect(chosen.recallLowerBound >= 0.9 && chosen.recall > chosen.recallLowerBound)
    #expect(chosen.recallStandardError > 0 && chosen.recallStandardError < 0.05)
    #expect(try #require(report.heldOutRecall) >= 0.88)
    // Every measured setting whose lower bound reached the target was at least as slow.
    for measurement in report.measurements where measurement.recallLowerBound >= 0.9 {
      #expect(measurement.microsecondsPerQuery >= chosen.microsecondsPerQuery)
    }
    // The built index answers probes of the store with the promised recall.
    let index = try LSHIndex.build(on: store, configuration: chosen.configuration)
    let probes = Matrix(
      rows: 200, columns: 24,
      values: Array(
        Fixtures.clusteredMatrix(rows: 5200, columns: 24, clusters: 60, seed: 5).values[
          (5000 * 24)...]))
    let recall = try indexRecall(
      store, index: index, data: Matrix(rows: 0, columns: 24), probes: probes, k: 10)
    #expect(recall >= 0.88, "fresh-probe recall \(recall)")
  }
}
