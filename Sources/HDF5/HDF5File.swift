import CHDF5

/// An HDF5 file opened read-only: its top-level datasets and string attributes.
///
/// ```swift
/// let file = try HDF5File(path: "sift-128-euclidean.hdf5")
/// let train = try file.dataset("train")          // shape [1_000_000, 128]
/// let metric = try file.stringAttribute("distance") // "euclidean"
/// ```
/// Data is read a block of rows at a time (``HDF5Dataset/readRows(_:into:)``), never whole.
public final class HDF5File {
  /// The file's path.
  public let path: String
  fileprivate let handle: tripindex_h5_id

  /// Opens a file.
  ///
  /// - Parameter path: the file.
  /// - Throws: ``HDF5Error`` `.unreadable` or `.notHDF5`.
  public init(path: String) throws(HDF5Error) {
    self.path = path
    let opened: tripindex_h5_id = try HDF5Library.withLock { () throws(HDF5Error) in
      let format = tripindex_h5_is_hdf5(path)
      if format < 0 {
        throw HDF5Error(.unreadable, "cannot be opened (missing or unreadable)")
      }
      if format == 0 {
        throw HDF5Error(.notHDF5, "not an HDF5 file (no HDF5 signature)")
      }
      let handle = tripindex_h5_open_file(path)
      guard handle >= 0 else {
        throw HDF5Error(.notHDF5, "the HDF5 library cannot open it (damaged or truncated file)")
      }
      return handle
    }
    handle = opened
  }

  deinit {
    let handle = self.handle
    HDF5Library.withLoadedLock { tripindex_h5_close_file(handle) }
  }

  /// The names of the file's top-level datasets and groups, in name order.
  public func topLevelNames() -> [String] {
    var buffer = [CChar](repeating: 0, count: 1 << 16)
    let length = HDF5Library.withLoadedLock {
      tripindex_h5_top_level_names(handle, &buffer, buffer.count)
    }
    guard length > 0 else { return [] }
    let text = String(
      decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return text.split(separator: "\n").map(String.init)
  }

  /// Opens a dataset.
  ///
  /// - Parameter name: its name (a path inside the file).
  /// - Throws: ``HDF5Error`` `.missingDataset`, `.notADataset` or `.readFailed`.
  public func dataset(_ name: String) throws(HDF5Error) -> HDF5Dataset {
    let kind = HDF5Library.withLoadedLock { tripindex_h5_dataset_kind(handle, name) }
    // H5Lexists fails (rather than answering no) when a group on the path is missing.
    let missing = kind == 0 || (kind < 0 && name.contains("/"))
    if missing {
      let available = topLevelNames()
      throw HDF5Error(
        .missingDataset(available: available), object: name,
        "no such dataset (the file has \(available.isEmpty ? "none" : available.joined(separator: ", ")))"
      )
    }
    switch kind {
    case 1: break
    case 2: throw HDF5Error(.notADataset, object: name, "is a group, not a dataset")
    default: throw HDF5Error(.readFailed, object: name, "cannot be looked up (damaged file)")
    }
    return try HDF5Dataset(file: self, name: name)
  }

  /// A string attribute of the file's root group, e.g. ann-benchmarks' `distance`.
  ///
  /// - Parameter name: the attribute.
  /// - Returns: its value, or `nil` when the file has no such attribute.
  /// - Throws: ``HDF5Error`` `.attributeNotString` or `.readFailed`.
  public func stringAttribute(_ name: String) throws(HDF5Error) -> String? {
    var buffer = [CChar](repeating: 0, count: 4096)
    let length = HDF5Library.withLoadedLock {
      tripindex_h5_string_attribute(handle, name, &buffer, buffer.count)
    }
    switch length {
    case -1: return nil
    case -2: throw HDF5Error(.attributeNotString, object: name, "the attribute is not a string")
    case ..<0: throw HDF5Error(.readFailed, object: name, "the attribute cannot be read")
    default:
      return String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
  }
}

/// The element type of a dataset, as stored.
public enum HDF5Element: Sendable, Hashable, CustomStringConvertible {
  /// A two's-complement or unsigned integer of `bytes` bytes.
  case integer(bytes: Int, signed: Bool)
  /// An IEEE floating-point number of `bytes` bytes.
  case float(bytes: Int)
  /// Strings.
  case string
  /// Compound, enumerated, opaque, reference or other types.
  case other

  /// `int32`, `uint8`, `float32`, `string`, `compound or other`.
  public var description: String {
    switch self {
    case .integer(let bytes, let signed): return "\(signed ? "" : "u")int\(bytes * 8)"
    case .float(let bytes): return "float\(bytes * 8)"
    case .string: return "string"
    case .other: return "a compound or other non-numeric type"
    }
  }
}

/// A dataset of an open ``HDF5File``: its shape and element type, read a block of rows at a time.
public final class HDF5Dataset {
  /// The file it belongs to (kept open while the dataset is).
  public let file: HDF5File
  /// Its name.
  public let name: String
  /// Its extents, outermost first (`[rows, columns]` for a matrix).
  public let shape: [Int]
  /// Its element type.
  public let element: HDF5Element
  private let handle: tripindex_h5_id

  /// The chunk cache each dataset gets: enough that a dataset chunked by columns is not
  /// decompressed again for every block of rows, small enough never to hold a large file.
  static let chunkCacheBytes = 32 << 20

  fileprivate init(file: HDF5File, name: String) throws(HDF5Error) {
    self.file = file
    self.name = name
    let handle = HDF5Library.withLoadedLock {
      tripindex_h5_open_dataset(file.handle, name, HDF5Dataset.chunkCacheBytes)
    }
    guard handle >= 0 else {
      throw HDF5Error(.readFailed, object: name, "the dataset cannot be opened (damaged file)")
    }
    self.handle = handle
    var extents = [UInt64](repeating: 0, count: 32)
    var size = 0
    var signed: Int32 = 0
    let (rank, typeClass) = HDF5Library.withLoadedLock {
      (
        tripindex_h5_dataset_shape(handle, &extents, Int32(extents.count)),
        tripindex_h5_dataset_type(handle, &size, &signed)
      )
    }
    guard rank >= 0, rank <= extents.count, typeClass >= 0 else {
      HDF5Library.withLoadedLock { tripindex_h5_close_dataset(handle) }
      throw HDF5Error(
        .readFailed, object: name, "the dataset's shape or type cannot be read (damaged file)")
    }
    shape = extents.prefix(Int(rank)).map { Int(clamping: $0) }
    switch typeClass {
    case 1: element = .integer(bytes: size, signed: signed != 0)
    case 2: element = .float(bytes: size)
    case 3: element = .string
    default: element = .other
    }
  }

  deinit {
    let handle = self.handle
    HDF5Library.withLoadedLock { tripindex_h5_close_dataset(handle) }
  }

  /// Whether the elements are numbers (integers or floating point).
  public var isNumeric: Bool {
    switch element {
    case .integer, .float: return true
    case .string, .other: return false
    }
  }

  /// Reads rows of a 2-D numeric dataset, converted by the library to `Float`, `Double` or
  /// `Int64` (conversions that overflow saturate; callers that must be exact read as `Double`
  /// or `Int64` and check).
  ///
  /// - Parameters:
  ///   - rows: the rows to read, within `0..<shape[0]`.
  ///   - values: room for `rows.count × shape[1]` values.
  /// - Throws: ``HDF5Error`` `.unexpectedLayout` for a dataset that is not a 2-D matrix of
  ///   numbers, `.readFailed` when the library fails (damaged data, a missing filter).
  public func readRows<Value: HDF5Readable>(
    _ rows: Range<Int>, into values: UnsafeMutableBufferPointer<Value>
  ) throws(HDF5Error) {
    guard shape.count == 2, isNumeric else {
      throw HDF5Error(
        .unexpectedLayout, object: name,
        "expected a 2-D matrix of numbers, found \(shape.count)-D \(element)")
    }
    precondition(rows.lowerBound >= 0 && rows.upperBound <= shape[0], "rows out of range")
    precondition(values.count >= rows.count * shape[1], "buffer too small")
    if rows.isEmpty { return }
    let status = HDF5Library.withLoadedLock {
      tripindex_h5_read_rows(
        handle, UInt64(rows.lowerBound), UInt64(rows.count), UInt64(shape[1]),
        Value.hdf5Memory, values.baseAddress)
    }
    guard status >= 0 else {
      throw HDF5Error(
        .readFailed, object: name,
        "rows \(rows.lowerBound)..<\(rows.upperBound) cannot be read (damaged data or an unsupported compression filter)"
      )
    }
  }
}

/// The element types rows can be read as.
public protocol HDF5Readable {
  /// The library's memory type for it.
  static var hdf5Memory: tripindex_h5_memory { get }
}

extension Float: HDF5Readable {
  /// 32-bit IEEE.
  public static var hdf5Memory: tripindex_h5_memory { tripindex_h5_float32 }
}

extension Double: HDF5Readable {
  /// 64-bit IEEE.
  public static var hdf5Memory: tripindex_h5_memory { tripindex_h5_float64 }
}

extension Int64: HDF5Readable {
  /// 64-bit signed integers.
  public static var hdf5Memory: tripindex_h5_memory { tripindex_h5_int64 }
}
