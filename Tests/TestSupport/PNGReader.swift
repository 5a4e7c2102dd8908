import CZlib

/// Reads 8-bit, non-interlaced PNG files (grey, RGB, RGBA) back into samples: a plain second
/// implementation for tests of the PNG writer and of browser screenshots.
public struct PNGReader: Equatable {
  /// Width in pixels.
  public let width: Int
  /// Height in pixels.
  public let height: Int
  /// Samples per pixel (1, 3 or 4).
  public let channels: Int
  /// Row-major, unfiltered samples.
  public let samples: [UInt8]

  /// What was wrong with a file.
  public struct Malformed: Error, CustomStringConvertible {
    /// The reason.
    public let description: String
  }

  /// Decodes a file's bytes.
  ///
  /// - Parameter bytes: the PNG file.
  /// - Throws: ``Malformed`` for anything but an 8-bit, non-interlaced grey, RGB or RGBA PNG
  ///   with valid chunk checksums.
  public init(_ bytes: [UInt8]) throws {
    guard bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) else {
      throw Malformed(description: "no PNG signature")
    }
    func integer(_ at: Int) -> Int {
      bytes[at..<(at + 4)].reduce(0) { $0 << 8 | Int($1) }
    }
    var offset = 8
    var header: [UInt8] = []
    var compressed: [UInt8] = []
    var ended = false
    while offset + 12 <= bytes.count && !ended {
      let length = integer(offset)
      guard offset + 12 + length <= bytes.count else { throw Malformed(description: "truncated") }
      let typed = Array(bytes[(offset + 4)..<(offset + 8 + length)])
      let checksum = typed.withUnsafeBufferPointer { crc32(0, $0.baseAddress, uInt($0.count)) }
      guard Int(checksum) == integer(offset + 8 + length) else {
        throw Malformed(description: "bad chunk checksum")
      }
      let type = String(decoding: typed.prefix(4), as: UTF8.self)
      let data = Array(typed.dropFirst(4))
      switch type {
      case "IHDR": header = data
      case "IDAT": compressed += data
      case "IEND": ended = true
      default: break
      }
      offset += 12 + length
    }
    guard ended, header.count == 13 else { throw Malformed(description: "no IHDR or IEND") }
    width = header[0..<4].reduce(0) { $0 << 8 | Int($1) }
    height = header[4..<8].reduce(0) { $0 << 8 | Int($1) }
    guard header[8] == 8, header[12] == 0 else {
      throw Malformed(description: "only 8-bit, non-interlaced pictures are read")
    }
    switch header[9] {
    case 0: channels = 1
    case 2: channels = 3
    case 6: channels = 4
    default: throw Malformed(description: "colour type \(header[9]) is not read")
    }
    let stride = width * channels
    var raw = [UInt8](repeating: 0, count: height * (stride + 1))
    var size = uLongf(raw.count)
    let status = raw.withUnsafeMutableBufferPointer { out in
      compressed.withUnsafeBufferPointer { input in
        uncompress(out.baseAddress, &size, input.baseAddress, uLong(input.count))
      }
    }
    guard status == Z_OK, Int(size) == raw.count else {
      throw Malformed(description: "zlib stream does not inflate to the picture's size")
    }
    var pixels = [UInt8](repeating: 0, count: height * stride)
    for row in 0..<height {
      let filter = raw[row * (stride + 1)]
      for column in 0..<stride {
        let value = raw[row * (stride + 1) + 1 + column]
        let left = column >= channels ? Int(pixels[row * stride + column - channels]) : 0
        let up = row > 0 ? Int(pixels[(row - 1) * stride + column]) : 0
        let upLeft =
          row > 0 && column >= channels ? Int(pixels[(row - 1) * stride + column - channels]) : 0
        let predicted: Int
        switch filter {
        case 0: predicted = 0
        case 1: predicted = left
        case 2: predicted = up
        case 3: predicted = (left + up) / 2
        case 4:
          let estimate = left + up - upLeft
          let (a, b, c) = (abs(estimate - left), abs(estimate - up), abs(estimate - upLeft))
          predicted = a <= b && a <= c ? left : b <= c ? up : upLeft
        default: throw Malformed(description: "unknown filter \(filter) in row \(row)")
        }
        pixels[row * stride + column] = UInt8(truncatingIfNeeded: Int(value) + predicted)
      }
    }
    samples = pixels
  }

  /// The number of distinct colours (RGB, alpha ignored).
  public var distinctColours: Int {
    var seen = Set<UInt32>()
    for pixel in 0..<(width * height) {
      let base = pixel * channels
      let colour =
        channels == 1
        ? UInt32(samples[base])
        : UInt32(samples[base]) << 16 | UInt32(samples[base + 1]) << 8 | UInt32(samples[base + 2])
      seen.insert(colour)
    }
    return seen.count
  }
}
