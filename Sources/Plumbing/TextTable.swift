/// Renders rows of text as aligned columns.
public enum TextTable {
  /// Renders a table with a header line.
  ///
  /// - Parameters:
  ///   - header: column titles.
  ///   - rows: cells, one array per row, as many as `header`.
  ///   - rightAligned: per column, whether to right-align (numbers); left by default.
  /// - Returns: the lines, each ending in a newline.
  public static func render(header: [String], rows: [[String]], rightAligned: [Bool] = []) -> String
  {
    var widths = header.map(\.count)
    for row in rows {
      for (column, cell) in row.enumerated() where column < widths.count {
        widths[column] = max(widths[column], cell.count)
      }
    }
    func line(_ cells: [String]) -> String {
      var text = ""
      for (column, cell) in cells.enumerated() {
        let padding = String(repeating: " ", count: widths[column] - cell.count)
        let right = column < rightAligned.count && rightAligned[column]
        if column > 0 { text += "  " }
        text += right ? padding + cell : (column == cells.count - 1 ? cell : cell + padding)
      }
      return text + "\n"
    }
    return line(header) + rows.map(line).joined()
  }
}
