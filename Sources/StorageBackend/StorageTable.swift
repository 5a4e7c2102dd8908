/// A handle to one named table of an engine, usable in any transaction begun after it was opened.
public struct StorageTable: Sendable, Hashable {
  /// The table's name.
  public let name: String
  /// How its keys and values are organised.
  public let layout: TableLayout
  /// The engine's own number for the table.
  public let handle: UInt32

  /// A handle an engine opened.
  public init(name: String, layout: TableLayout, handle: UInt32) {
    self.name = name
    self.layout = layout
    self.handle = handle
  }
}

/// How a table organises its keys and values.
public struct TableLayout: OptionSet, Sendable, Hashable {
  /// The option bits (the engine maps them to its own).
  public let rawValue: UInt32
  /// Options from their bits.
  public init(rawValue: UInt32) { self.rawValue = rawValue }
  /// A key may hold several values, kept sorted byte by byte.
  public static let sortedDuplicates = TableLayout(rawValue: 1 << 0)
  /// With ``sortedDuplicates``: every value has one size, so a key's values are read a page of
  /// contiguous values at a time.
  public static let fixedSizeDuplicates = TableLayout(rawValue: 1 << 1)
  /// Keys are native-endian 8-byte integers (``IntegerKey``), compared as numbers.
  public static let integerKeys = TableLayout(rawValue: 1 << 2)
  /// With ``fixedSizeDuplicates``: values are native-endian integers, compared as numbers.
  public static let integerDuplicates = TableLayout(rawValue: 1 << 3)
}

/// Options for ``StorageWriting/put(_:forKey:in:options:)``.
public struct PutOptions: OptionSet, Sendable, Hashable {
  /// The option bits (the engine maps them to its own).
  public let rawValue: UInt32
  /// Options from their bits.
  public init(rawValue: UInt32) { self.rawValue = rawValue }
  /// Fail (``StorageFailureKind/keyExists``) when the key already exists.
  public static let noOverwrite = PutOptions(rawValue: 1 << 0)
  /// In a table of sorted values: fail when the pair already exists.
  public static let noDuplicateData = PutOptions(rawValue: 1 << 1)
  /// The key sorts after every existing key (bulk loading in key order).
  public static let append = PutOptions(rawValue: 1 << 2)
  /// Like ``append`` for a key's sorted values.
  public static let appendDuplicate = PutOptions(rawValue: 1 << 3)
}

/// A table's size.
public struct TableStatistics: Sendable, Equatable {
  /// Key/value pairs (several values of one key counted one by one).
  public var entries: Int
  /// Pages in use.
  public var pages: Int
  /// Bytes per page.
  public var pageBytes: Int
  /// Levels of the table's tree.
  public var depth: Int
  /// Bytes in use.
  public var bytes: Int { pages * pageBytes }

  /// Statistics an engine measured.
  public init(entries: Int, pages: Int, pageBytes: Int, depth: Int) {
    self.entries = entries
    self.pages = pages
    self.pageBytes = pageBytes
    self.depth = depth
  }
}
