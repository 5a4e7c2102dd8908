import CKernels
import Plumbing
import StorageBackend
import VectorMath
import VectorStore

/// The index's parameters on disk and their checksum.
extension LSHIndex {
  /// The `lsh.params` key of the CRC32C over the other parameters.
  static let checksumKey = "checksum"
  /// The parameter keys the checksum covers, in order.
  static let checksummedKeys = ["config", "mean", "basis", "variances", "hasher", "coder"]

  /// CRC32C of parameter values given in the order of ``checksummedKeys`` (each value's length,
  /// then its bytes).
  static func parametersChecksum(of values: [some Collection<UInt8>]) -> UInt32 {
    var crc: UInt32 = 0
    for value in values {
      withUnsafeBytes(of: UInt32(value.count).littleEndian) {
        crc = tripindex_crc32c(crc, $0.baseAddress, $0.count)
      }
      let bytes = Array(value)
      bytes.withUnsafeBytes { crc = tripindex_crc32c(crc, $0.baseAddress, $0.count) }
    }
    return crc
  }

  /// The bytes stored under each of ``checksummedKeys`` for an encoder, in that order.
  static func parameterValues(of encoder: ItemEncoder) -> [[UInt8]] {
    let model = encoder.model
    var json = model.configuration.json
    if case .object(var fields) = json {
      fields.append(("format", .integer(format)))
      json = .object(fields)
    }
    return [Array(json.serialized().utf8)]
      + [
        model.transform.mean, model.transform.basis, model.transform.variances,
        model.hasher.parameters, encoder.coder.parameters,
      ].map(littleEndianBytes)
  }

  func writeParameters(in writer: StoreWriter) throws {
    let txn = writer.transaction
    for (key, value) in zip(Self.checksummedKeys, Self.parameterValues(of: encoder)) {
      try txn.put(value, forKey: key, in: parametersTable)
    }
    try txn.put(
      withUnsafeBytes(of: (version.checksum ?? 0).littleEndian) { Array($0) },
      forKey: Self.checksumKey,
      in: parametersTable)
    try txn.put(
      withUnsafeBytes(of: (version.generation ?? 0).littleEndian) { Array($0) },
      forKey: Self.generationKey, in: parametersTable)
  }

  static func littleEndianBytes(_ values: [Float]) -> [UInt8] {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(values.count * 4)
    for value in values { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 } }
    return bytes
  }
}
