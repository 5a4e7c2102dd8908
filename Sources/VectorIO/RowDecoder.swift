import Plumbing
import VectorMath

/// Decodes the rows of one vector file, a batch at a time.
protocol RowDecoder {
  /// Values per row.
  var dimension: Int { get }
  /// The number of rows, when the format says so before reading them (binary formats).
  var rowCount: Int? { get }
  /// Appends up to `maxRows` rows to `values`.
  ///
  /// - Returns: the number of rows appended; 0 at the end of the file.
  mutating func decode(maxRows: Int, into values: inout [Float]) throws(VectorIOError) -> Int
  /// For text, the 1-based line of each row of the last `decode` call; empty for binary formats.
  var lastBatchLines: [Int] { get }
}

extension RowDecoder {
  var lastBatchLines: [Int] { [] }
}

/// Checks that a decoded row holds only finite values.
///
/// - Throws: ``VectorIOError`` naming the first bad value's column.
@inline(__always)
func requireFinite(
  _ row: UnsafeBufferPointer<Float>, path: String, location: FileLocation
) throws(VectorIOError) {
  var allFinite = true
  for value in row { allFinite = allFinite && value.isFinite }
  if allFinite { return }
  let column = row.firstIndex { !$0.isFinite } ?? 0
  throw VectorIOError(
    path: path, location: location,
    "value \(column) is \(row[column]); vectors must hold finite numbers only")
}

/// The largest integer magnitude a `Float` represents exactly (2^24).
let largestExactFloatInteger = 16_777_216

/// Converts an integer read from a file to `Float`, refusing values that would change.
@inline(__always)
func exactFloat<I: BinaryInteger>(
  _ value: I, column: Int, path: String, location: FileLocation
) throws(VectorIOError) -> Float {
  guard value.magnitude <= largestExactFloatInteger else {
    throw VectorIOError(
      path: path, location: location,
      "value \(column) is \(value), which a 32-bit float cannot hold exactly (limit ±2^24)")
  }
  return Float(value)
}

/// Converts a 64-bit value read from a file to `Float`, refusing non-finite values and values
/// beyond a `Float`'s range.
@inline(__always)
func narrowedFloat(
  _ value: Double, column: Int, path: String, location: FileLocation
) throws(VectorIOError) -> Float {
  guard value.isFinite && abs(value) <= Double(Float.greatestFiniteMagnitude) else {
    throw VectorIOError(
      path: path, location: location,
      value.isFinite
        ? "value \(column) is \(value), outside the range of a 32-bit float"
        : "value \(column) is \(value); vectors must hold finite numbers only")
  }
  return Float(value)
}

extension Array where Element == Float {
  /// Appends `count` values written in place by `fill`.
  @inline(__always)
  mutating func appendUninitialized(
    _ count: Int, _ fill: (UnsafeMutableBufferPointer<Float>) throws(VectorIOError) -> Void
  ) throws(VectorIOError) {
    let start = self.count
    var failure: VectorIOError?
    self.append(contentsOf: repeatElement(0, count: count))
    self.withUnsafeMutableBufferPointer { all in
      do throws(VectorIOError) {
        try fill(UnsafeMutableBufferPointer(rebasing: all[start..<start + count]))
      } catch {
        failure = error
      }
    }
    if let failure {
      self.removeLast(count)
      throw failure
    }
  }
}
