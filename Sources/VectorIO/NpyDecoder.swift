import Plumbing
import VectorMath

/// Decodes `.npy` files: a header, then rows of little-endian values in C order.
struct NpyDecoder: RowDecoder {
  private let source: FileByteSource
  private let header: NpyHeader
  let dimension: Int
  let rowCount: Int?
  private let rows: Int
  private var row = 0

  init(source: FileByteSource) throws(VectorIOError) {
    self.source = source
    let path = source.path
    header = try NpyHeader.read(from: source)
    let shape = header.shape
    guard shape.allSatisfy({ $0 >= 0 }) else {
      throw VectorIOError(
        path: path, location: .header,
        "has a negative size in shape \(NpyHeader.formatShape(shape))")
    }
    rows = shape.count == 1 ? 1 : shape[0]
    dimension = shape.count == 1 ? shape[0] : shape[1]
    guard rows > 0 && dimension > 0 else {
      throw VectorIOError(
        path: path, location: .header,
        "holds no vectors (shape \(NpyHeader.formatShape(shape))); expected at least one row of at least one value"
      )
    }
    guard dimension <= VectorLimits.maximumDimension else {
      throw VectorIOError(
        path: path, location: .header,
        "has vectors of \(dimension) values (shape \(NpyHeader.formatShape(shape))); at most \(VectorLimits.maximumDimension) values per vector are supported"
      )
    }
    rowCount = rows
    let dataBytes = source.sizeBytes - header.dataOffset
    let rowBytes = dimension * header.elementType.sizeBytes
    let (expectedBytes, overflow) = rows.multipliedReportingOverflow(by: rowBytes)
    if overflow || dataBytes < expectedBytes {
      throw VectorIOError(
        path: path, location: .row(dataBytes / rowBytes),
        "truncated: the header promises \(rows) × \(dimension) values (\(overflow ? "more than \(Int.max)" : String(expectedBytes)) bytes of data) but only \(dataBytes) bytes follow it"
      )
    }
    if dataBytes > expectedBytes {
      throw VectorIOError(
        path: path,
        "has \(dataBytes - expectedBytes) bytes after the \(rows) × \(dimension) values its header promises"
      )
    }
  }

  mutating func decode(maxRows: Int, into values: inout [Float]) throws(VectorIOError) -> Int {
    let path = source.path
    let elementType = header.elementType
    let rowBytes = dimension * elementType.sizeBytes
    let dimension = self.dimension
    var decoded = 0
    while decoded < maxRows && row < rows {
      let location = FileLocation.row(row)
      guard try source.fill(atLeast: rowBytes) else {
        throw VectorIOError(
          path: path, location: location, "truncated: the file ended inside this row")
      }
      let bytes = source.bufferedBytes
      try values.appendUninitialized(dimension) { (output) throws(VectorIOError) in
        switch elementType {
        case .float32:
          #if _endian(little)
            UnsafeMutableRawBufferPointer(output).copyMemory(
              from: UnsafeRawBufferPointer(rebasing: bytes[0..<rowBytes]))
          #else
            for column in 0..<dimension {
              output[column] = LittleEndianFloats.value(in: bytes, at: column * 4)
            }
          #endif
          try requireFinite(UnsafeBufferPointer(output), path: path, location: location)
        case .float16:
          for column in 0..<dimension {
            output[column] = Float(
              Float16(
                bitPattern: UInt16(
                  littleEndian: bytes.loadUnaligned(fromByteOffset: column * 2, as: UInt16.self))))
          }
          try requireFinite(UnsafeBufferPointer(output), path: path, location: location)
        case .float64:
          for column in 0..<dimension {
            let value = Double(
              bitPattern: UInt64(
                littleEndian: bytes.loadUnaligned(fromByteOffset: column * 8, as: UInt64.self)))
            output[column] = try narrowedFloat(
              value, column: column, path: path, location: location)
          }
        case .int32:
          for column in 0..<dimension {
            let value = Int32(
              littleEndian: bytes.loadUnaligned(fromByteOffset: column * 4, as: Int32.self))
            output[column] = try exactFloat(value, column: column, path: path, location: location)
          }
        case .int64:
          for column in 0..<dimension {
            let value = Int64(
              littleEndian: bytes.loadUnaligned(fromByteOffset: column * 8, as: Int64.self))
            output[column] = try exactFloat(value, column: column, path: path, location: location)
          }
        }
      }
      source.consume(rowBytes)
      row += 1
      decoded += 1
    }
    return decoded
  }
}
