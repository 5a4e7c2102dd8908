/// FNV-1a, 64-bit: a fast, stable checksum for model files and training data fingerprints.
public struct Fingerprint: Sendable, Equatable {
  /// The current hash.
  public private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

  /// A fresh fingerprint.
  public init() {}

  /// Mixes bytes in.
  ///
  /// - Parameter bytes: the bytes.
  public mutating func add(_ bytes: UnsafeRawBufferPointer) {
    var hash = value
    for byte in bytes {
      hash ^= UInt64(byte)
      hash = hash &* 0x0000_0100_0000_01b3
    }
    value = hash
  }

  /// Mixes in the bytes of an array of trivial values.
  ///
  /// - Parameter values: the values.
  public mutating func add<T: BitwiseCopyable>(_ values: [T]) {
    values.withUnsafeBytes { add($0) }
  }

  /// Mixes in a string's UTF-8 bytes and a terminator.
  ///
  /// - Parameter text: the string.
  public mutating func add(_ text: String) {
    add(Array(text.utf8) + [0])
  }

  /// The hash as 16 hexadecimal digits.
  public var hex: String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: 16 - digits.count) + digits
  }
}
