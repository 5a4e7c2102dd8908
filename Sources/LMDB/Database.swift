import CLMDB

/// A handle to one named database (a B-tree) inside an ``Environment``.
public struct Database: Sendable, Hashable {
  /// Options for a database (`mdb_dbi_open` flags).
  public struct Flags: OptionSet, Sendable, Hashable {
    /// The raw flag bits.
    public let rawValue: UInt32
    /// Creates flags from their raw bits.
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// `MDB_CREATE`: create the database if it does not exist.
    public static let create = Flags(rawValue: UInt32(MDB_CREATE))
    /// `MDB_DUPSORT`: a key may hold several sorted values.
    public static let duplicateSort = Flags(rawValue: UInt32(MDB_DUPSORT))
    /// `MDB_DUPFIXED`: with ``duplicateSort``, all values have one size (enables page-wise reads).
    public static let duplicateFixed = Flags(rawValue: UInt32(MDB_DUPFIXED))
    /// `MDB_INTEGERKEY`: keys are native-endian `UInt32`/`size_t` integers.
    public static let integerKey = Flags(rawValue: UInt32(MDB_INTEGERKEY))
    /// `MDB_INTEGERDUP`: with ``duplicateFixed``, values are native-endian integers.
    public static let integerDuplicate = Flags(rawValue: UInt32(MDB_INTEGERDUP))
  }

  /// The name it was opened with.
  public let name: String
  let handle: MDB_dbi
  /// Its flags, without ``Flags/create``.
  public let flags: Flags
}
