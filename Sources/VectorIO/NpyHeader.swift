import Plumbing
import VectorMath

/// The element types read from and written to `.npy` files.
public enum NpyElementType: String, Sendable, CaseIterable {
  /// `<f2` (half precision, as PyTorch and NumPy save `float16` features; read, and written
  /// rounded to the nearest half)
  case float16 = "<f2"
  /// `<f4`
  case float32 = "<f4"
  /// `<f8`
  case float64 = "<f8"
  /// `<i4`
  case int32 = "<i4"
  /// `<i8`
  case int64 = "<i8"

  /// Bytes per element.
  public var sizeBytes: Int {
    switch self {
    case .float16: return 2
    case .float32, .int32: return 4
    case .float64, .int64: return 8
    }
  }
}

/// The parsed header of a `.npy` file: element type, memory order and shape.
struct NpyHeader: Equatable {
  var elementType: NpyElementType
  var fortranOrder: Bool
  var shape: [Int]
  /// The offset of the first data byte.
  var dataOffset: Int

  /// The magic string every `.npy` file starts with.
  static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)

  /// Reads and validates the header at the start of `source`, consuming it.
  static func read(from source: FileByteSource) throws(VectorIOError) -> NpyHeader {
    let path = source.path
    func fail(_ message: String) -> VectorIOError {
      VectorIOError(path: path, location: .header, message)
    }
    guard source.sizeBytes > 0 else {
      throw VectorIOError(path: path, "the file is empty; expected a .npy header and data")
    }
    guard try source.fill(atLeast: 10) else {
      throw fail(
        "too short (\(source.available) bytes) for a .npy file; expected a 10-byte preamble")
    }
    var bytes = source.bufferedBytes
    guard Array(bytes[0..<6]) == magic else {
      throw fail("not a .npy file: it does not start with \\x93NUMPY")
    }
    let major = bytes[6]
    let minor = bytes[7]
    let lengthBytes: Int
    switch major {
    case 1: lengthBytes = 2
    case 2, 3: lengthBytes = 4
    default:
      throw fail("format version \(major).\(minor) is not supported; expected 1.0, 2.0 or 3.0")
    }
    guard try source.fill(atLeast: 8 + lengthBytes) else {
      throw fail("truncated in the header length field")
    }
    bytes = source.bufferedBytes
    let headerLength =
      lengthBytes == 2
      ? Int(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt16.self)))
      : Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt32.self)))
    let dataOffset = 8 + lengthBytes + headerLength
    guard try source.fill(atLeast: dataOffset) else {
      throw fail("truncated: the header announces \(headerLength) bytes but the file ends first")
    }
    bytes = source.bufferedBytes
    let text = String(decoding: bytes[(8 + lengthBytes)..<dataOffset], as: UTF8.self)
    source.consume(dataOffset)
    var header = try parse(dictionary: text, path: path)
    header.dataOffset = dataOffset
    return header
  }

  /// Parses the Python dictionary literal of a `.npy` header.
  static func parse(dictionary text: String, path: String) throws(VectorIOError) -> NpyHeader {
    func fail(_ message: String) -> VectorIOError {
      VectorIOError(path: path, location: .header, message)
    }
    var scanner = PythonLiteralScanner(text: text)
    var descr: String?
    var fortran: Bool?
    var shape: [Int]?
    do {
      try scanner.expect("{")
      while !scanner.consume("}") {
        let key = try scanner.string()
        try scanner.expect(":")
        switch key {
        case "descr": descr = try scanner.string()
        case "fortran_order": fortran = try scanner.boolean()
        case "shape": shape = try scanner.integerTuple()
        default: try scanner.skipValue()
        }
        if !scanner.consume(",") {
          try scanner.expect("}")
          break
        }
      }
    } catch {
      throw fail("malformed header dictionary (\(error.message)): \(text.trimmingSpaces())")
    }
    guard let descr, let fortran, let shape else {
      throw fail("the header lacks 'descr', 'fortran_order' or 'shape': \(text.trimmingSpaces())")
    }
    guard let elementType = NpyElementType(rawValue: descr) else {
      let hint =
        descr.hasPrefix(">")
        ? " (big-endian; convert with arr.astype('<\(descr.dropFirst())'))" : ""
      throw fail(
        "element type '\(descr)' is not supported\(hint); expected little-endian float16, float32, float64, int32 or int64 ('<f2', '<f4', '<f8', '<i4', '<i8')"
      )
    }
    guard !fortran else {
      throw fail("the array is in Fortran order; expected C order (save np.ascontiguousarray(arr))")
    }
    guard shape.count == 1 || shape.count == 2 else {
      throw fail(
        "the array has shape \(formatShape(shape)); expected (rows, dimension) or (dimension,)")
    }
    return NpyHeader(elementType: elementType, fortranOrder: false, shape: shape, dataOffset: 0)
  }

  /// The shape as Python prints it.
  static func formatShape(_ shape: [Int]) -> String {
    shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
  }

  /// Encodes a version 1.0 header of exactly `totalBytes` bytes (a multiple of 64).
  static func encode(elementType: NpyElementType, rows: Int, dimension: Int, totalBytes: Int = 128)
    -> [UInt8]
  {
    let dictionary =
      "{'descr': '\(elementType.rawValue)', 'fortran_order': False, 'shape': (\(rows), \(dimension)), }"
    var bytes = magic + [1, 0]
    let headerLength = totalBytes - 10
    bytes += [UInt8(headerLength & 0xff), UInt8(headerLength >> 8)]
    bytes += Array(dictionary.utf8)
    bytes += Array(repeating: UInt8(ascii: " "), count: totalBytes - bytes.count - 1)
    bytes.append(UInt8(ascii: "\n"))
    return bytes
  }
}

extension String {
  /// The string without leading and trailing whitespace (for this package's parsers; not API).
  package func trimmingSpaces() -> String {
    var view = Substring(self)
    while let first = view.first, first.isWhitespace { view.removeFirst() }
    while let last = view.last, last.isWhitespace { view.removeLast() }
    return String(view)
  }
}

/// Scans the small subset of Python literals that `.npy` headers use.
struct PythonLiteralScanner {
  struct Failure: Error { let message: String }

  private let characters: [Character]
  private var position = 0

  init(text: String) { characters = Array(text) }

  private mutating func skipSpaces() {
    while position < characters.count && characters[position].isWhitespace { position += 1 }
  }

  mutating func consume(_ literal: Character) -> Bool {
    skipSpaces()
    if position < characters.count && characters[position] == literal {
      position += 1
      return true
    }
    return false
  }

  mutating func expect(_ literal: Character) throws(Failure) {
    guard consume(literal) else { throw Failure(message: "expected '\(literal)'") }
  }

  mutating func string() throws(Failure) -> String {
    skipSpaces()
    guard position < characters.count, characters[position] == "'" || characters[position] == "\""
    else { throw Failure(message: "expected a quoted string") }
    let quote = characters[position]
    position += 1
    var value = ""
    while position < characters.count && characters[position] != quote {
      value.append(characters[position])
      position += 1
    }
    guard position < characters.count else { throw Failure(message: "unterminated string") }
    position += 1
    return value
  }

  mutating func boolean() throws(Failure) -> Bool {
    skipSpaces()
    for (word, value) in [("True", true), ("False", false)] {
      let end = position + word.count
      if end <= characters.count && String(characters[position..<end]) == word {
        position = end
        return value
      }
    }
    throw Failure(message: "expected True or False")
  }

  mutating func integer() throws(Failure) -> Int {
    skipSpaces()
    var digits = ""
    while position < characters.count
      && (characters[position].isNumber || (digits.isEmpty && characters[position] == "-"))
    {
      digits.append(characters[position])
      position += 1
    }
    // NumPy 1.x on some platforms wrote shapes like (3L, 4L).
    if position < characters.count && characters[position] == "L" { position += 1 }
    guard let value = Int(digits) else { throw Failure(message: "expected an integer") }
    return value
  }

  mutating func integerTuple() throws(Failure) -> [Int] {
    try expect("(")
    var values: [Int] = []
    while !consume(")") {
      values.append(try integer())
      if !consume(",") {
        try expect(")")
        break
      }
    }
    return values
  }

  mutating func skipValue() throws(Failure) {
    skipSpaces()
    var depth = 0
    while position < characters.count {
      let character = characters[position]
      if character == "'" || character == "\"" {
        _ = try string()
        continue
      }
      if depth == 0 && (character == "," || character == "}") { return }
      if "([{".contains(character) { depth += 1 }
      if ")]}".contains(character) { depth -= 1 }
      position += 1
    }
  }
}
