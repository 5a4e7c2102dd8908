import Plumbing
import TripIndex
import VectorMath

/// `query`'s table output: the terminal rendering of a search result, which only this tool
/// shows (the JSON lines, shared with the server, are written by the core).
extension Query.Result {
  /// A readable table per probe (what `query` prints without `--json`).
  ///
  /// - Parameter output: where to write.
  func writeTables(to output: inout OutputBuffer) {
    let metricName = metric == .l2 ? "squared L2" : "1 − cos"
    for (probe, matches) in neighbors.enumerated() {
      if probe > 0 { output.write("\n") }
      let title = probeName(probe).map { "probe \($0) (row \(probe))" } ?? "probe \(probe)"
      output.write(
        "\(title): \(matches.count) nearest of \(TextFormatting.grouped(storeCount)) items (\(method.worded(ErrorAdvice.wording)), \(metricName)"
          + (passing.map { ", \(TextFormatting.grouped($0[probe])) items pass" } ?? "")
          + (candidates.map { ", \(TextFormatting.grouped($0[probe])) candidates" } ?? "") + ")\n"
      )
      let rows = matches.enumerated().map { rank, match in
        [
          String(rank + 1), String(match.distance), String(match.item.id),
          match.item.labels.pid.map(String.init) ?? "-",
          match.item.labels.camera.map(String.init) ?? "-",
          match.item.name,
        ]
      }
      output.write(
        TextTable.render(
          header: ["rank", "distance", "id", "pid", "camera", "name"], rows: rows,
          rightAligned: [true, true, true, true, true, false]))
    }
  }
}
