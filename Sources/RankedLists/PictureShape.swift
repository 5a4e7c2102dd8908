import VectorMath

/// How a vector is read as a picture: `HxW` (grey) or `HxWx3` (RGB, channels interleaved, as
/// NumPy's `reshape(H, W, 3)` lays them out).
public struct PictureShape: Sendable, Equatable, CustomStringConvertible {
  /// Rows of pixels.
  public let height: Int
  /// Pixels per row.
  public let width: Int
  /// 1 or 3.
  public let channels: Int

  /// Parses `HxW` or `HxWx3`.
  ///
  /// - Parameter text: the shape.
  /// - Throws: ``RankedListError`` for anything else.
  public init(parsing text: String) throws(RankedListError) {
    let parts = text.split(separator: "x", omittingEmptySubsequences: false).map { Int($0) }
    guard parts.count == 2 || parts.count == 3,
      let height = parts[0], let width = parts[1], height > 0, width > 0, height <= 4096,
      width <= 4096, parts.count == 2 || parts[2] == 3
    else {
      throw RankedListError(
        "picture shape '\(text)' is not HxW or HxWx3 (say 8x8 or 32x32x3; sides 1 to 4096)")
    }
    self.height = height
    self.width = width
    channels = parts.count == 3 ? 3 : 1
  }

  /// Values per picture.
  public var valueCount: Int { height * width * channels }

  /// `HxW` or `HxWx3`.
  public var description: String { "\(height)x\(width)" + (channels == 3 ? "x3" : "") }

  /// Checks that vectors of a dimension are pictures of this shape.
  ///
  /// - Parameter dimension: the vectors' dimension.
  /// - Throws: ``RankedListError`` when it is not ``valueCount``.
  public func check(dimension: Int) throws(RankedListError) {
    guard dimension == valueCount else {
      throw RankedListError(
        "picture shape \(description) holds \(valueCount) values, but the vectors have \(dimension)"
      )
    }
  }
}

/// Renders vectors as pictures, each channel scaled min-max over a whole set (so one set's
/// pictures share one scale).
public struct PictureRenderer: Sendable {
  /// The shape.
  public let shape: PictureShape
  private let minimum: [Float]
  private let scale: [Float]

  /// Fits the per-channel scale to every row of some matrices.
  ///
  /// - Parameters:
  ///   - shape: the picture shape; each matrix's columns must equal its value count.
  ///   - sets: the vectors that share the scale.
  public init(shape: PictureShape, fittedTo sets: [Matrix]) {
    self.shape = shape
    var low = [Float](repeating: .infinity, count: shape.channels)
    var high = [Float](repeating: -.infinity, count: shape.channels)
    for set in sets {
      precondition(set.columns == shape.valueCount, "vectors of the picture's size")
      for (position, value) in set.values.enumerated() where value.isFinite {
        let channel = position % shape.channels
        low[channel] = min(low[channel], value)
        high[channel] = max(high[channel], value)
      }
    }
    minimum = low.map { $0.isFinite ? $0 : 0 }
    scale = zip(low, high).map { low, high in
      high > low && (high - low).isFinite ? 255 / (high - low) : 0
    }
  }

  /// One row as a picture.
  ///
  /// - Parameters:
  ///   - matrix: the vectors.
  ///   - row: which.
  /// - Returns: the picture.
  public func picture(of matrix: Matrix, row: Int) -> PNGImage {
    let count = shape.valueCount
    var samples = [UInt8](repeating: 0, count: count)
    for position in 0..<count {
      let channel = position % shape.channels
      let value = (matrix.values[row * count + position] - minimum[channel]) * scale[channel]
      samples[position] = value.isFinite ? UInt8(max(0, min(255, value.rounded()))) : 0
    }
    return PNGImage(
      width: shape.width, height: shape.height, channels: shape.channels, samples: samples)
  }
}
