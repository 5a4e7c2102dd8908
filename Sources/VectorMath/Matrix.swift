/// A dense, row-major matrix of `Float`s in one contiguous array.
public struct Matrix: Equatable, Sendable {
  /// The number of rows.
  public private(set) var rows: Int
  /// The number of columns.
  public let columns: Int
  /// The values, row after row: element (r, c) is `values[r * columns + c]`.
  public var values: [Float]

  /// Creates a matrix filled with one value.
  ///
  /// - Parameters:
  ///   - rows: the number of rows.
  ///   - columns: the number of columns.
  ///   - value: the fill value.
  public init(rows: Int, columns: Int, repeating value: Float = 0) {
    precondition(rows >= 0 && columns >= 0, "negative matrix size")
    self.rows = rows
    self.columns = columns
    values = Array(repeating: value, count: rows * columns)
  }

  /// Wraps row-major values.
  ///
  /// - Parameters:
  ///   - rows: the number of rows.
  ///   - columns: the number of columns.
  ///   - values: exactly `rows × columns` values.
  public init(rows: Int, columns: Int, values: [Float]) {
    precondition(
      values.count == rows * columns, "\(values.count) values for a \(rows)×\(columns) matrix")
    self.rows = rows
    self.columns = columns
    self.values = values
  }

  /// Builds a matrix from equally long rows.
  ///
  /// - Parameter rowArrays: the rows; all must have the same length.
  public init(rowArrays: [[Float]]) {
    let columns = rowArrays.first?.count ?? 0
    precondition(rowArrays.allSatisfy { $0.count == columns }, "rows of different lengths")
    self.init(rows: rowArrays.count, columns: columns, values: rowArrays.flatMap { $0 })
  }

  /// Element (row, column).
  public subscript(row: Int, column: Int) -> Float {
    get { values[row * columns + column] }
    set { values[row * columns + column] = newValue }
  }

  /// A copy of one row.
  ///
  /// - Parameter index: the row.
  /// - Returns: its values.
  public func row(_ index: Int) -> [Float] {
    Array(values[(index * columns)..<((index + 1) * columns)])
  }

  /// Appends rows.
  ///
  /// - Parameter rowValues: a whole number of rows, row-major.
  public mutating func append(rows rowValues: [Float]) {
    precondition(columns > 0 && rowValues.count % columns == 0, "not a whole number of rows")
    values.append(contentsOf: rowValues)
    rows += rowValues.count / columns
  }

  /// Scales every row to unit Euclidean length.
  ///
  /// - Returns: the index of the first all-zero row (left as it is), or `nil` when every row could
  ///   be normalised.
  @discardableResult
  public mutating func normalizeRows() -> Int? {
    let columns = self.columns
    var firstZero: Int?
    values.withUnsafeMutableBufferPointer { all in
      for row in 0..<rows {
        let slice = UnsafeMutableBufferPointer(
          rebasing: all[(row * columns)..<((row + 1) * columns)])
        if !Vectors.normalize(slice) && firstZero == nil { firstZero = row }
      }
    }
    return firstZero
  }
}
