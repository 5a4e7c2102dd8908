import Plumbing
import VectorMath

/// Reads the vectors of one file, streaming: memory use is one batch, whatever the file's size.
///
/// ```swift
/// var reader = try VectorFileReader(path: "base.fvecs")
/// var batch: [Float] = []
/// while try reader.read(maxRows: 1024, into: &batch) > 0 { …; batch.removeAll(keepingCapacity: true) }
/// ```
/// Every value is checked: non-finite values, vectors over ``VectorLimits/maximumNorm`` or
/// ``VectorLimits/maximumDimension``, inconsistent dimensions, truncated records and bad headers
/// throw a ``VectorIOError`` naming the file and the line, record or row.
public struct VectorFileReader {
  /// The file's path.
  public let path: String
  /// Its format, from the extension.
  public let format: VectorFileFormat
  /// The number of values per vector.
  public var dimension: Int { decoder.dimension }
  /// The number of vectors, when the format tells before reading them (`.npy`, and TEXMEX files
  /// whose size is a whole number of records); `nil` for text.
  public var rowCount: Int? { decoder.rowCount }
  /// The number of vectors read so far.
  public private(set) var rowsRead = 0
  private var batchStart = 0
  private var decoder: any RowDecoder

  /// The dataset read from an HDF5 file; `nil` for other formats.
  public let dataset: String?

  /// Opens a vector file and reads its header (or, for text, its first vector).
  ///
  /// - Parameters:
  ///   - path: a `.vec`, `.fvecs`, `.ivecs`, `.bvecs`, `.npy`, `.hdf5` or `.h5` file.
  ///   - dataset: the dataset to read from an HDF5 file (other formats hold one matrix and
  ///     ignore it).
  /// - Throws: ``VectorIOError`` for an unknown extension, an unreadable or empty file, or a bad
  ///   header (for HDF5: a missing dataset, or one that is not a 2-D matrix of numbers).
  public init(path: String, dataset: String = "train") throws(VectorIOError) {
    guard let format = VectorFileFormat(path: path) else {
      throw VectorIOError(
        path: path,
        "unknown vector file extension; expected .vec, .fvecs, .ivecs, .bvecs, .npy, .hdf5 or .h5"
      )
    }
    self.path = path
    self.format = format
    self.dataset = format == .hdf5 ? dataset : nil
    switch format {
    case .text: decoder = try TextDecoder(source: try FileByteSource(path: path))
    case .fvecs, .ivecs, .bvecs:
      decoder = try TexmexDecoder(source: try FileByteSource(path: path), format: format)
    case .npy: decoder = try NpyDecoder(source: try FileByteSource(path: path))
    case .hdf5: decoder = try HDF5Decoder(path: path, datasetName: dataset)
    }
  }

  /// Appends up to `maxRows` vectors, row after row, to `values`.
  ///
  /// - Parameters:
  ///   - maxRows: the most vectors to read.
  ///   - values: receives `rows × dimension` values; on error it is left as it was.
  /// - Returns: the number of vectors appended; 0 once the file is exhausted.
  /// - Throws: ``VectorIOError`` naming the bad line, record or row.
  @discardableResult
  public mutating func read(maxRows: Int, into values: inout [Float]) throws(VectorIOError) -> Int {
    let start = values.count
    do throws(VectorIOError) {
      let rows = try decoder.decode(maxRows: maxRows, into: &values)
      batchStart = rowsRead
      rowsRead += rows
      let dimension = self.dimension
      try values.withUnsafeBufferPointer { (all) throws(VectorIOError) in
        for row in 0..<rows {
          let rowStart = start + row * dimension
          let vector = UnsafeBufferPointer(rebasing: all[rowStart..<(rowStart + dimension)])
          if let problem = VectorLimits.normProblem(vector) {
            throw VectorIOError(path: path, location: location(ofBatchRow: row), problem)
          }
        }
      }
      return rows
    } catch {
      values.removeSubrange(start...)
      throw error
    }
  }

  /// Where row `index` of the last ``read(maxRows:into:)`` batch came from: its line for text,
  /// its record or row number otherwise. Use it to name the place of a problem found later.
  ///
  /// - Parameter index: a 0-based row of the last batch.
  /// - Returns: the location.
  public func location(ofBatchRow index: Int) -> FileLocation {
    switch format {
    case .text:
      let lines = decoder.lastBatchLines
      return index < lines.count ? .line(lines[index]) : .file
    case .npy: return .row(batchStart + index)
    case .hdf5: return .datasetRow(dataset ?? "", batchStart + index)
    case .fvecs, .ivecs, .bvecs: return .record(batchStart + index)
    }
  }

  /// Reads a whole file.
  ///
  /// - Parameters:
  ///   - path: the file.
  ///   - dataset: the dataset of an HDF5 file.
  /// - Returns: its vectors, row-major, and their dimension.
  /// - Throws: ``VectorIOError``.
  public static func readAll(path: String, dataset: String = "train") throws(VectorIOError) -> (
    values: [Float], dimension: Int
  ) {
    var reader = try VectorFileReader(path: path, dataset: dataset)
    var values: [Float] = []
    if let rows = reader.rowCount { values.reserveCapacity(rows * reader.dimension) }
    while try reader.read(maxRows: 65_536, into: &values) > 0 {}
    return (values, reader.dimension)
  }
}
