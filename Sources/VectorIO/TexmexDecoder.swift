import Plumbing
import VectorMath

/// Decodes TEXMEX files (`.fvecs`, `.ivecs`, `.bvecs`): per record a little-endian `Int32`
/// dimension, then the values.
struct TexmexDecoder: RowDecoder {
  private let source: FileByteSource
  private let format: VectorFileFormat
  private let valueBytes: Int
  let dimension: Int
  let rowCount: Int?
  private var record = 0

  init(source: FileByteSource, format: VectorFileFormat) throws(VectorIOError) {
    self.source = source
    self.format = format
    valueBytes = format == .bvecs ? 1 : 4
    let path = source.path
    guard source.sizeBytes > 0 else {
      throw VectorIOError(path: path, "the file is empty; expected at least one record")
    }
    guard try source.fill(atLeast: 4) else {
      throw VectorIOError(
        path: path, location: .record(0),
        "truncated: expected a 4-byte dimension, found \(source.available) bytes")
    }
    let declared = Int(Int32(littleEndian: source.bufferedBytes.loadUnaligned(as: Int32.self)))
    guard declared > 0 && declared <= VectorLimits.maximumDimension else {
      throw VectorIOError(
        path: path, location: .record(0),
        "declares dimension \(declared); expected a positive dimension of at most \(VectorLimits.maximumDimension) (is this really a .\(format.rawValue) file?)"
      )
    }
    dimension = declared
    let recordBytes = 4 + declared * valueBytes
    rowCount = source.sizeBytes % recordBytes == 0 ? source.sizeBytes / recordBytes : nil
  }

  mutating func decode(maxRows: Int, into values: inout [Float]) throws(VectorIOError) -> Int {
    var decoded = 0
    let path = source.path
    let payloadBytes = dimension * valueBytes
    while decoded < maxRows {
      if try source.isAtEnd { break }
      let location = FileLocation.record(record)
      guard try source.fill(atLeast: 4) else {
        throw VectorIOError(
          path: path, location: location,
          "truncated: expected a 4-byte dimension, found \(source.available) bytes")
      }
      let declared = Int(Int32(littleEndian: source.bufferedBytes.loadUnaligned(as: Int32.self)))
      guard declared == dimension else {
        throw VectorIOError(
          path: path, location: location,
          "declares dimension \(declared); expected \(dimension) as in record 0")
      }
      source.consume(4)
      guard try source.fill(atLeast: payloadBytes) else {
        throw VectorIOError(
          path: path, location: location,
          "truncated: expected \(payloadBytes) bytes of values, found \(source.available)")
      }
      let bytes = source.bufferedBytes
      let format = self.format
      let dimension = self.dimension
      try values.appendUninitialized(dimension) { (row) throws(VectorIOError) in
        switch format {
        case .fvecs:
          #if _endian(little)
            UnsafeMutableRawBufferPointer(row).copyMemory(
              from: UnsafeRawBufferPointer(rebasing: bytes[0..<(dimension * 4)]))
          #else
            for column in 0..<dimension {
              row[column] = LittleEndianFloats.value(in: bytes, at: column * 4)
            }
          #endif
          try requireFinite(UnsafeBufferPointer(row), path: path, location: location)
        case .ivecs:
          for column in 0..<dimension {
            let value = Int32(
              littleEndian: bytes.loadUnaligned(fromByteOffset: column * 4, as: Int32.self))
            row[column] = try exactFloat(value, column: column, path: path, location: location)
          }
        default:
          for column in 0..<dimension { row[column] = Float(bytes[column]) }
        }
      }
      source.consume(payloadBytes)
      record += 1
      decoded += 1
    }
    return decoded
  }
}
