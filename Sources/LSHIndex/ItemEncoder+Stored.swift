import CKernels
import Plumbing
import VectorMath

extension ItemEncoder {
  /// The encoder as an index stores it: each parameter's key and bytes (the JSON configuration
  /// with its table format, then little-endian `Float32` arrays), and `checksum`, the CRC32C
  /// over the others. Read back with ``init(storedParameters:dimension:metric:location:)``.
  public var storedParameters: [(key: String, bytes: [UInt8])] {
    let values = LSHIndex.parameterValues(of: self)
    let checksum = LSHIndex.parametersChecksum(of: values)
    return Array(zip(LSHIndex.checksummedKeys, values))
      + [(LSHIndex.checksumKey, withUnsafeBytes(of: checksum.littleEndian) { Array($0) })]
  }

  /// Reads an encoder as an index stores it, every parameter checked against the store's
  /// dimension and the configuration, and against the checksum when one is recorded.
  ///
  /// - Parameters:
  ///   - storedParameters: the bytes of one parameter by key, or `nil` when absent.
  ///   - dimension: the store's dimension.
  ///   - metric: the store's metric.
  ///   - location: the store, for messages ("store PATH").
  /// - Throws: ``LSHError`` of kind `needsRebuild` saying what is damaged or outdated; what
  ///   `storedParameters` throws.
  public init(
    storedParameters value: (String) throws -> [UInt8]?, dimension: Int,
    metric: DistanceMetric, location: String
  ) throws {
    func damaged(_ what: String = "are damaged") -> LSHError {
      LSHError(.needsRebuild, "\(location): its LSH index parameters \(what)")
    }
    guard let configText = try value("config"),
      let json = try? JSONValue.parse(String(decoding: configText, as: UTF8.self)),
      let configuration = try? LSHConfiguration(json: json)?.validated(forDimension: dimension)
    else { throw damaged() }
    guard json["format"]?.intValue == LSHIndex.format else {
      throw LSHError(
        .needsRebuild,
        "\(location): its LSH index was built by an earlier version (table format \(json["format"]?.intValue ?? 1); this one reads \(LSHIndex.format))"
      )
    }
    var values: [[UInt8]] = []
    for key in LSHIndex.checksummedKeys { values.append(try value(key) ?? []) }
    if let recorded = try value(LSHIndex.checksumKey),
      recorded.count != 4
        || UInt32(littleEndian: recorded.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) })
          != LSHIndex.parametersChecksum(of: values)
    {
      throw damaged("fail their checksum (damaged)")
    }
    let floats = values.dropFirst().map { bytes in
      bytes.withUnsafeBytes { LittleEndianFloats.values(in: $0) }
    }
    let (mean, basis, variances, hasherParameters) = (floats[0], floats[1], floats[2], floats[3])
    guard mean.count == dimension,
      basis.count == dimension * configuration.sketchDimensions,
      variances.count == configuration.sketchDimensions,
      hasherParameters.count
        == BucketHasher.parameterCount(
          family: configuration.family, tables: configuration.tables,
          hashesPerTable: configuration.hashesPerTable,
          dimensions: configuration.hashDimensions),
      (mean + basis + variances + hasherParameters).allSatisfy({ $0.isFinite }),
      let coder = CompactCoder(parameters: floats[4]),
      coder.dimensions == configuration.sketchDimensions
    else { throw damaged() }
    let transform = DataTransform(
      inputDimension: dimension, outputDimension: configuration.sketchDimensions,
      mean: mean, basis: basis, variances: variances)
    let hasher = BucketHasher(
      family: configuration.family, tables: configuration.tables,
      hashesPerTable: configuration.hashesPerTable,
      dimensions: configuration.hashDimensions,
      bucketWidth: Float(configuration.bucketWidth ?? 1),
      parameters: hasherParameters)
    self.init(
      model: LSHModel(
        configuration: configuration, transform: transform, hasher: hasher, metric: metric),
      coder: coder)
  }
}
