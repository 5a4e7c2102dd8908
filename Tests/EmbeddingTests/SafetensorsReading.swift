import Foundation
import Testing

/// A safetensors file read the plain way (for tests): its JSON header and each tensor's values.
struct SafetensorsReading {
  /// The header: `__metadata__` and one entry per tensor.
  let header: [String: Any]
  /// The data section.
  let data: [UInt8]

  /// Parses a file's bytes.
  init(_ bytes: [UInt8]) throws {
    var length = 0
    for (position, byte) in bytes[0..<8].enumerated() { length |= Int(byte) << (8 * position) }
    header = try #require(
      JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + length)])) as? [String: Any])
    data = Array(bytes[(8 + length)...])
  }

  /// The tensor names, with `__metadata__`.
  var keys: Set<String> { Set(header.keys) }

  /// A tensor's shape.
  func shape(_ name: String) throws -> [Int] {
    let entry = try #require(header[name] as? [String: Any], "no tensor \(name)")
    return try #require(entry["shape"] as? [Int])
  }

  /// A tensor's values as Double: F32 or I64.
  func tensor(_ name: String) throws -> [Double] {
    let entry = try #require(header[name] as? [String: Any], "no tensor \(name)")
    let offsets = try #require(entry["data_offsets"] as? [Int])
    let dtype = try #require(entry["dtype"] as? String)
    let width = dtype == "I64" ? 8 : 4
    #expect(dtype == "F32" || dtype == "I64")
    return stride(from: offsets[0], to: offsets[1], by: width).map { offset in
      var bits: UInt64 = 0
      for byte in 0..<width { bits |= UInt64(data[offset + byte]) << (8 * UInt64(byte)) }
      return width == 8 ? Double(Int64(bitPattern: bits)) : Double(Float(bitPattern: UInt32(bits)))
    }
  }
}
