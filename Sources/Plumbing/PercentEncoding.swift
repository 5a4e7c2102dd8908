/// Percent-encoding of one URL path segment (RFC 3986), as bytes: names are data, so every byte
/// but the unreserved characters is encoded, and decoding gives back exactly the bytes encoded.
public enum PercentEncoding {
  /// A segment with every byte but `A–Z a–z 0–9 - . _ ~` written as `%XX`.
  ///
  /// - Parameter segment: any text.
  /// - Returns: the encoded segment.
  public static func encode(_ segment: String) -> String {
    let hex = Array("0123456789ABCDEF".utf8)
    var bytes: [UInt8] = []
    for byte in segment.utf8 {
      switch byte {
      case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
        UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
        UInt8(ascii: "_"), UInt8(ascii: "~"):
        bytes.append(byte)
      default:
        bytes += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 15)]]
      }
    }
    return String(decoding: bytes, as: UTF8.self)
  }

  /// The text a segment encodes: each `%XX` becomes its byte, other bytes stay.
  ///
  /// - Parameter segment: an encoded segment.
  /// - Returns: the decoded text, or `nil` for a `%` not followed by two hex digits or bytes
  ///   that are not UTF-8.
  public static func decode(_ segment: some StringProtocol) -> String? {
    var bytes: [UInt8] = []
    var input = Array(segment.utf8)[...]
    func hexValue(_ byte: UInt8) -> UInt8? {
      switch byte {
      case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
      case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
      case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
      default: return nil
      }
    }
    while let byte = input.popFirst() {
      guard byte == UInt8(ascii: "%") else {
        bytes.append(byte)
        continue
      }
      guard let high = input.popFirst().flatMap(hexValue),
        let low = input.popFirst().flatMap(hexValue)
      else { return nil }
      bytes.append(high << 4 | low)
    }
    return String(validating: bytes, as: UTF8.self)
  }
}
