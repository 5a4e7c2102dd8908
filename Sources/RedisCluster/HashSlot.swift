/// Redis Cluster's key → slot map: CRC16 (XMODEM) of the key, or of its hash tag, modulo 16384.
///
/// A hash tag is the part of the key between the first `{` and the next `}` when that part is not
/// empty: keys with one tag live in one slot, so one MULTI/EXEC can change them together.
public enum HashSlot {
  /// The number of slots.
  public static let count = 16384

  /// The slot of a key.
  ///
  /// - Parameter key: the key's bytes.
  /// - Returns: 0 ..< 16384.
  public static func of(_ key: some Collection<UInt8>) -> Int {
    let bytes = Array(key)
    if let open = bytes.firstIndex(of: UInt8(ascii: "{")),
      let close = bytes[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1
    {
      return Int(crc16(bytes[(open + 1)..<close]) % UInt16(count))
    }
    return Int(crc16(bytes) % UInt16(count))
  }

  /// The slot of a key given as text.
  public static func of(_ key: String) -> Int { of(Array(key.utf8)) }

  /// CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0, as the cluster specification
  /// defines it.
  public static func crc16(_ bytes: some Collection<UInt8>) -> UInt16 {
    var crc: UInt16 = 0
    for byte in bytes {
      crc ^= UInt16(byte) << 8
      for _ in 0..<8 {
        crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1
      }
    }
    return crc
  }
}
