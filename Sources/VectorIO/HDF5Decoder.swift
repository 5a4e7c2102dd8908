import HDF5
import Plumbing
import VectorMath

/// Decodes the rows of one 2-D dataset of an HDF5 file (ann-benchmarks' `train`, `test`), a
/// block at a time through the HDF5 library: float32 as stored, float64 narrowed with a range
/// check, integers converted exactly or refused.
struct HDF5Decoder: RowDecoder {
  private let dataset: HDF5Dataset
  private let path: String
  let dimension: Int
  let rowCount: Int?
  private let rows: Int
  private var row = 0

  /// Opens `datasetName` of the file at `path` and checks its shape and type.
  init(path: String, datasetName: String) throws(VectorIOError) {
    self.path = path
    do throws(HDF5Error) {
      let file = try HDF5File(path: path)
      dataset = try file.dataset(datasetName)
    } catch {
      throw VectorIOError(path: path, error.description)
    }
    let shape = dataset.shape
    let described = "\(shape.map(String.init).joined(separator: " × ")) \(dataset.element)"
    guard dataset.isNumeric else {
      throw VectorIOError(
        path: path,
        "dataset '\(datasetName)' holds \(dataset.element) (\(described)); expected a matrix of float32, float64 or integer vectors"
      )
    }
    guard shape.count == 2 else {
      throw VectorIOError(
        path: path,
        "dataset '\(datasetName)' is \(shape.count)-dimensional (\(described)); expected a 2-D matrix, one vector per row"
      )
    }
    rows = shape[0]
    dimension = shape[1]
    guard rows > 0 && dimension > 0 else {
      throw VectorIOError(
        path: path,
        "dataset '\(datasetName)' holds no vectors (\(described)); expected at least one row of at least one value"
      )
    }
    guard dimension <= VectorLimits.maximumDimension else {
      throw VectorIOError(
        path: path,
        "dataset '\(datasetName)' has vectors of \(dimension) values; at most \(VectorLimits.maximumDimension) values per vector are supported"
      )
    }
    rowCount = rows
  }

  mutating func decode(maxRows: Int, into values: inout [Float]) throws(VectorIOError) -> Int {
    let count = min(maxRows, rows - row)
    guard count > 0 else { return 0 }
    let first = row
    let dimension = self.dimension
    let dataset = self.dataset
    let path = self.path
    let name = dataset.name
    /// Reads the block as `Value` into `buffer`.
    func readBlock<Value: HDF5Readable>(
      into buffer: UnsafeMutableBufferPointer<Value>
    ) throws(VectorIOError) {
      do throws(HDF5Error) {
        try dataset.readRows(first..<(first + count), into: buffer)
      } catch {
        throw VectorIOError(path: path, location: .datasetRow(name, first), error.description)
      }
    }
    /// Reads the block as `Value`, then converts row by row with `convert`.
    func readConverted<Value: HDF5Readable & Numeric>(
      _: Value.Type, into output: UnsafeMutableBufferPointer<Float>,
      _ convert: (Value, Int, FileLocation) throws(VectorIOError) -> Float
    ) throws(VectorIOError) {
      var wide = [Value](repeating: 0, count: count * dimension)
      try wide.withUnsafeMutableBufferPointer { (buffer) throws(VectorIOError) in
        try readBlock(into: buffer)
        for index in 0..<buffer.count {
          let (rowOffset, column) = index.quotientAndRemainder(dividingBy: dimension)
          output[index] = try convert(buffer[index], column, .datasetRow(name, first + rowOffset))
        }
      }
    }
    try values.appendUninitialized(count * dimension) { (output) throws(VectorIOError) in
      switch dataset.element {
      case .float(let bytes) where bytes <= 4:
        try readBlock(into: output)
        for offset in 0..<count {
          let start = offset * dimension
          try requireFinite(
            UnsafeBufferPointer(rebasing: output[start..<(start + dimension)]), path: path,
            location: .datasetRow(name, first + offset))
        }
      case .float:
        try readConverted(Double.self, into: output) {
          (value, column, location) throws(VectorIOError) in
          try narrowedFloat(value, column: column, path: path, location: location)
        }
      default:
        try readConverted(Int64.self, into: output) {
          (value, column, location) throws(VectorIOError) in
          try exactFloat(value, column: column, path: path, location: location)
        }
      }
    }
    row += count
    return count
  }
}
