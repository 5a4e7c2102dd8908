#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// What an LMDB data file's two meta pages say about it, read with ordinary file reads (never
/// through the memory map), so a damaged or truncated file is an error instead of a `SIGBUS`.
///
/// LMDB keeps two meta pages at the start of `data.mdb` (page 0 and page 1) and uses the one with
/// the larger transaction id. Every page a reader can reach has a number below that meta's
/// `last_pg + 1`, and LMDB refuses page numbers beyond it; so a file at least
/// `(last_pg + 1) × page size` bytes long can be mapped and read without touching a byte past its
/// end. A shorter file (cut by a copy, a full disk, a crash of the file system) would fault.
///
/// The layout read here is LMDB 0.9's on 64-bit machines: a 16-byte page header, then
/// `MDB_meta` (magic `0xBEEFC0DE`, version, address, map size, two 48-byte `MDB_db` records of
/// which the first's `md_pad` holds the page size, `last_pg`, `txnid`).
public struct DataFileHeader: Sendable, Hashable {
  /// The database page size in bytes.
  public let pageSizeBytes: Int
  /// The last page the newest committed transaction uses.
  public let lastPage: UInt64
  /// The newest committed transaction's id.
  public let transactionID: UInt64
  /// The file's size in bytes when it was read.
  public let fileBytes: Int

  /// The bytes the file must hold for every page LMDB may read: `(lastPage + 1) × pageSizeBytes`.
  public var neededBytes: Int {
    let (product, overflow) = Int(clamping: lastPage).addingReportingOverflow(1)
    guard !overflow else { return Int.max }
    let (bytes, overflowed) = product.multipliedReportingOverflow(by: pageSizeBytes)
    return overflowed ? Int.max : bytes
  }

  /// Whether the file is long enough for every page its meta page says is in use.
  public var isComplete: Bool { fileBytes >= neededBytes }

  private static let magic: UInt32 = 0xBEEF_C0DE
  private static let pageHeaderBytes = 16
  private static let metaBytes = 160

  /// Reads the header of the data file at `path`.
  ///
  /// - Parameter path: a `data.mdb` file.
  /// - Returns: the header, or `nil` when the file does not exist or is empty (LMDB creates it).
  /// - Throws: ``LMDBError`` with `errno` when it cannot be read, ``LMDBError/invalid`` when
  ///   neither meta page is valid (a damaged or foreign file).
  public static func read(path: String) throws(LMDBError) -> DataFileHeader? {
    let descriptor = open(path, O_RDONLY)
    if descriptor < 0 {
      if errno == ENOENT { return nil }
      throw LMDBError(rawValue: errno)
    }
    defer { close(descriptor) }
    // The meta of page 0 gives the page size, which locates page 1.
    guard let first = try meta(descriptor, offset: 0) else {
      var status = stat()
      if fstat(descriptor, &status) == 0 && status.st_size == 0 { return nil }
      throw LMDBError.invalid
    }
    let second = try meta(descriptor, offset: first.pageSize)
    let newest = [first, second].compactMap { $0 }.max { $0.transactionID < $1.transactionID }
    guard let newest else { throw LMDBError.invalid }
    // The size is read after the meta: pages are written before the meta that names them, so a
    // writer committing meanwhile can only make the file longer than this meta needs.
    var status = stat()
    guard fstat(descriptor, &status) == 0 else { throw LMDBError(rawValue: errno) }
    return DataFileHeader(
      pageSizeBytes: first.pageSize, lastPage: newest.lastPage,
      transactionID: newest.transactionID, fileBytes: Int(status.st_size))
  }

  private struct Meta {
    var pageSize: Int
    var lastPage: UInt64
    var transactionID: UInt64
  }

  /// The meta page at `offset`, or `nil` when it is missing or not a valid meta page.
  private static func meta(_ descriptor: Int32, offset: Int) throws(LMDBError) -> Meta? {
    var bytes = [UInt8](repeating: 0, count: pageHeaderBytes + metaBytes)
    let count = bytes.withUnsafeMutableBytes {
      pread(descriptor, $0.baseAddress, $0.count, off_t(offset))
    }
    if count < 0 { throw LMDBError(rawValue: errno) }
    guard count == bytes.count else { return nil }
    return bytes.withUnsafeBytes { raw -> Meta? in
      let base = pageHeaderBytes
      guard raw.loadUnaligned(fromByteOffset: base, as: UInt32.self) == magic else { return nil }
      // md_pad of the first MDB_db (after magic, version, address, map size) is the page size.
      let pageSize = Int(raw.loadUnaligned(fromByteOffset: base + 24, as: UInt32.self))
      guard pageSize >= 512, pageSize <= 1 << 16, pageSize & (pageSize - 1) == 0 else {
        return nil
      }
      return Meta(
        pageSize: pageSize,
        lastPage: raw.loadUnaligned(fromByteOffset: base + 120, as: UInt64.self),
        transactionID: raw.loadUnaligned(fromByteOffset: base + 128, as: UInt64.self))
    }
  }
}
