/// The identity and camera of one item, as re-identification uses them.
///
/// By the Market-1501 convention, pid 0 marks a distractor (never a match) and pid −1 a junk image
/// that evaluation removes from rankings. `nil` means unknown.
public struct ItemLabels: Hashable, Sendable {
  /// The identity, or `nil` when unknown.
  public var pid: Int32?
  /// The camera, or `nil` when unknown.
  public var camera: Int32?
  /// A coarser class the identity belongs to (a car's make, a product's category), which gives
  /// the ladder loss its middle relevance level; `nil` when unknown. Read from `labels.csv`'s
  /// optional `group` column; stores keep it (schema 3), export writes it, and query filters
  /// can test it.
  public var group: Int32?

  /// Creates labels.
  ///
  /// - Parameters:
  ///   - pid: the identity.
  ///   - camera: the camera.
  ///   - group: the identity's coarser class.
  public init(pid: Int32? = nil, camera: Int32? = nil, group: Int32? = nil) {
    self.pid = pid
    self.camera = camera
    self.group = group
  }

  /// No labels at all.
  public static let none = ItemLabels()

  /// The labels as stores keep them in item records: pid, camera and group, each a
  /// little-endian `Int32`, `Int32.min` for unknown (12 bytes).
  public var storedBytes: [UInt8] {
    [pid, camera, group].flatMap { label in
      withUnsafeBytes(of: (label ?? Int32.min).littleEndian) { Array($0) }
    }
  }

  /// Reads labels from their stored bytes (``storedBytes``); a record of an older layout that
  /// holds fewer (pid and camera only, in 8 bytes) leaves the rest unknown.
  ///
  /// - Parameter bytes: the stored labels.
  public init(storedBytes bytes: UnsafeRawBufferPointer) {
    func label(at offset: Int) -> Int32? {
      guard offset + 4 <= bytes.count else { return nil }
      let value = Int32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: Int32.self))
      return value == Int32.min ? nil : value
    }
    self.init(pid: label(at: 0), camera: label(at: 4), group: label(at: 8))
  }

  /// Parses a Market-1501 style name (`0001_c1s1_001051_00`, `-1_c3s2_000151_01`,
  /// DukeMTMC's `0001_c2_f0046182`): the pid, `_c`, the camera, then `s`, `_` or the end.
  ///
  /// - Parameter name: a file name without its extension.
  /// - Returns: the pid and camera, or `nil` when the name does not follow the pattern.
  public init?(marketName name: String) {
    var bytes = Substring(name).utf8[...]
    var negative = false
    if bytes.first == UInt8(ascii: "-") {
      negative = true
      bytes = bytes.dropFirst()
    }
    let pidDigits = bytes.prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    guard !pidDigits.isEmpty, pidDigits.count <= 9 else { return nil }
    bytes = bytes.dropFirst(pidDigits.count)
    guard bytes.starts(with: "_c".utf8) else { return nil }
    bytes = bytes.dropFirst(2)
    let cameraDigits = bytes.prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    guard !cameraDigits.isEmpty, cameraDigits.count <= 6 else { return nil }
    bytes = bytes.dropFirst(cameraDigits.count)
    guard bytes.isEmpty || bytes.first == UInt8(ascii: "s") || bytes.first == UInt8(ascii: "_")
    else { return nil }
    guard let pid = Int32(String(decoding: pidDigits, as: UTF8.self)),
      let camera = Int32(String(decoding: cameraDigits, as: UTF8.self))
    else { return nil }
    if negative && pid != 1 { return nil }  // only -1 (junk) is a valid negative pid
    self.init(pid: negative ? -pid : pid, camera: camera)
  }
}

extension ItemLabels {
  /// Parses an MSMT17 style name (`0004_000_01_0303morning_0015_0`): the pid, the image's
  /// number, the camera, then the time of day (four digits and `morning`, `noon` or
  /// `afternoon`), and whatever follows.
  ///
  /// - Parameter name: a file name without its extension.
  /// - Returns: the pid (first field) and camera (third field, as written), or `nil` when the
  ///   name does not follow the pattern.
  public init?(msmtName name: String) {
    let fields = name.split(separator: "_", omittingEmptySubsequences: false)
    guard fields.count >= 4,
      fields[0...2].allSatisfy({ !$0.isEmpty && $0.count <= 9 && $0.allSatisfy(\.isASCIIDigit) }),
      fields[3].count > 4, fields[3].prefix(4).allSatisfy(\.isASCIIDigit),
      ["morning", "noon", "afternoon"].contains(String(fields[3].dropFirst(4)).lowercased()),
      let pid = Int32(fields[0]), let camera = Int32(fields[2])
    else { return nil }
    self.init(pid: pid, camera: camera)
  }

  /// The labels a file name gives by a known dataset's pattern (Market-1501 and DukeMTMC, then
  /// MSMT17), or `nil`.
  ///
  /// - Parameter name: a file name without its extension.
  public init?(datasetName name: String) {
    guard let labels = ItemLabels(marketName: name) ?? ItemLabels(msmtName: name) else {
      return nil
    }
    self = labels
  }
}

extension Character {
  fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}

/// An item name as the store compares names: by its UTF-8 bytes. Swift's `String` equality is
/// canonical (`"é"` as U+00E9 equals `"e\u{301}"`), while LMDB keys, and so a store's names,
/// are bytes: use this as the key of any set or dictionary that must agree with the store.
public struct ItemNameKey: Hashable, Sendable {
  /// The name's UTF-8 bytes.
  public let bytes: [UInt8]

  /// The key of a name.
  ///
  /// - Parameter name: the name.
  public init(_ name: String) { bytes = Array(name.utf8) }
}
