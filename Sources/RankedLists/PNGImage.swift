import CZlib

/// An 8-bit grey or RGB picture, written as a PNG file (zlib from the system compresses it;
/// each row is stored with filter type 0).
public struct PNGImage: Sendable, Equatable {
  /// Width in pixels.
  public let width: Int
  /// Height in pixels.
  public let height: Int
  /// 1 (grey) or 3 (RGB).
  public let channels: Int
  /// Row-major samples, `channels` per pixel.
  public let samples: [UInt8]

  /// Creates a picture.
  ///
  /// - Parameters:
  ///   - width: width in pixels (at least 1).
  ///   - height: height in pixels (at least 1).
  ///   - channels: 1 or 3.
  ///   - samples: `width · height · channels` values, row by row.
  public init(width: Int, height: Int, channels: Int, samples: [UInt8]) {
    precondition(width > 0 && height > 0, "a picture has at least one pixel")
    precondition(channels == 1 || channels == 3, "grey or RGB")
    precondition(samples.count == width * height * channels, "one sample per pixel and channel")
    self.width = width
    self.height = height
    self.channels = channels
    self.samples = samples
  }

  /// The PNG file's bytes: signature, `IHDR`, one `IDAT`, `IEND`.
  public var pngData: [UInt8] {
    var file: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    var header: [UInt8] = []
    Self.appendBigEndian(UInt32(width), to: &header)
    Self.appendBigEndian(UInt32(height), to: &header)
    header += [8, channels == 1 ? 0 : 2, 0, 0, 0]
    Self.appendChunk("IHDR", header, to: &file)
    let rowBytes = width * channels
    var raw: [UInt8] = []
    raw.reserveCapacity(height * (rowBytes + 1))
    for row in 0..<height {
      raw.append(0)
      raw += samples[(row * rowBytes)..<((row + 1) * rowBytes)]
    }
    Self.appendChunk("IDAT", Self.deflate(raw), to: &file)
    Self.appendChunk("IEND", [], to: &file)
    return file
  }

  /// zlib's `compress2` at its default level.
  private static func deflate(_ bytes: [UInt8]) -> [UInt8] {
    var size = compressBound(uLong(bytes.count))
    var output = [UInt8](repeating: 0, count: Int(size))
    let status = output.withUnsafeMutableBufferPointer { out in
      bytes.withUnsafeBufferPointer { input in
        compress2(
          out.baseAddress, &size, input.baseAddress, uLong(input.count), Z_DEFAULT_COMPRESSION)
      }
    }
    // compressBound is a bound: compress2 cannot run out of room, and memory failure traps.
    precondition(status == Z_OK, "zlib compress2 failed with status \(status)")
    output.removeSubrange(Int(size)...)
    return output
  }

  private static func appendChunk(_ type: String, _ data: [UInt8], to file: inout [UInt8]) {
    appendBigEndian(UInt32(data.count), to: &file)
    let typed = Array(type.utf8) + data
    file += typed
    let checksum = typed.withUnsafeBufferPointer { crc32(0, $0.baseAddress, uInt($0.count)) }
    appendBigEndian(UInt32(checksum), to: &file)
  }

  private static func appendBigEndian(_ value: UInt32, to bytes: inout [UInt8]) {
    bytes += [
      UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF),
      UInt8(value & 0xFF),
    ]
  }
}
