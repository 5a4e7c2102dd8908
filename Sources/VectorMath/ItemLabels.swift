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
