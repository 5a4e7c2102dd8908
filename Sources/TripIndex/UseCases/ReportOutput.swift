import Evaluation
import Plumbing
import RankedLists
import VectorMath

/// Writes a report folder: the report's files (Markdown, JSON, CSV, charts) and, when asked,
/// its ranked-list page with the pictures it needs.
enum ReportOutput {
  /// Writes everything into `folder`. The page is written first, so that the count of items
  /// without a picture reaches `metrics.json` and the returned report (`missing_images`,
  /// only when pictures were looked for).
  ///
  /// - Parameters:
  ///   - report: the report.
  ///   - extraCharts: further charts by file name.
  ///   - page: the ranked-list page, or `nil`.
  ///   - pictures: where its pictures come from.
  ///   - folder: the report folder.
  ///   - progress: status output (a line when pictures are missing).
  /// - Returns: the report as written.
  /// - Throws: `RankedListError` or `FileSystemError`.
  static func write(
    _ report: EvaluationReport, extraCharts: [(String, SVGChart)] = [], page: RankedListPage?,
    pictures: PictureSource, to folder: String, progress: any ProgressReporting
  ) throws -> EvaluationReport {
    var report = report
    if let page {
      progress.update(
        "writing the ranked lists of \(TextFormatting.grouped(page.shownQueryCount)) queries",
        force: true)
      let links = try page.write(to: folder, pictures: pictures)
      if case .folder(let images, _) = pictures {
        report.supplements.append(("missing_images", .integer(links.missing)))
        if links.missing > 0 {
          progress.warn(
            "\(TextFormatting.grouped(links.missing)) shown item(s) have no picture under \(images.root) (NAME.jpg, .jpeg or .png); they are drawn as tiles"
          )
        }
      }
    }
    try report.write(to: folder, extraCharts: extraCharts)
    return report
  }

  /// The methods a page shows: each entry whose metrics carry per-query outcomes.
  ///
  /// - Parameter entries: the report's entries.
  /// - Returns: the page's methods.
  static func methods(of entries: [EvaluationReport.Entry]) -> [RankedListPage.Method] {
    entries.filter { !$0.metrics.queryOutcomes.isEmpty }.map {
      RankedListPage.Method(name: $0.name, outcomes: $0.metrics.queryOutcomes)
    }
  }
}
