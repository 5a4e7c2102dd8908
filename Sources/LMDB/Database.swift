import CLMDB
import StorageBackend

/// A handle to one named database (a B-tree) inside an ``Environment``: LMDB's table.
public typealias Database = StorageTable

extension TableLayout {
  /// The `mdb_dbi_open` flags of this layout.
  var lmdbFlags: UInt32 {
    var flags: Int32 = 0
    if contains(.sortedDuplicates) { flags |= MDB_DUPSORT }
    if contains(.fixedSizeDuplicates) { flags |= MDB_DUPFIXED }
    if contains(.integerKeys) { flags |= MDB_INTEGERKEY }
    if contains(.integerDuplicates) { flags |= MDB_INTEGERDUP }
    return UInt32(flags)
  }

  /// The layout of `mdb_dbi_flags`' answer.
  init(lmdbFlags: UInt32) {
    let flags = Int32(bitPattern: lmdbFlags)
    self = []
    if flags & MDB_DUPSORT != 0 { insert(.sortedDuplicates) }
    if flags & MDB_DUPFIXED != 0 { insert(.fixedSizeDuplicates) }
    if flags & MDB_INTEGERKEY != 0 { insert(.integerKeys) }
    if flags & MDB_INTEGERDUP != 0 { insert(.integerDuplicates) }
  }
}

extension PutOptions {
  /// The `mdb_put` flags of these options.
  var lmdbFlags: UInt32 {
    var flags: Int32 = 0
    if contains(.noOverwrite) { flags |= MDB_NOOVERWRITE }
    if contains(.noDuplicateData) { flags |= MDB_NODUPDATA }
    if contains(.append) { flags |= MDB_APPEND }
    if contains(.appendDuplicate) { flags |= MDB_APPENDDUP }
    return UInt32(flags)
  }
}
