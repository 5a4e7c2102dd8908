#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Creating, listing and removing folders, without Foundation.
public enum Directories {
  /// The names in a folder, without `.` and `..`, in no particular order.
  ///
  /// - Parameter path: the folder.
  /// - Returns: the entry names, or `nil` with `errno` set when the folder cannot be opened.
  public static func entries(in path: String) -> [String]? {
    guard let handle = opendir(path) else { return nil }
    defer { closedir(handle) }
    var names: [String] = []
    while let entry = readdir(handle) {
      let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
        String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
      }
      if name != "." && name != ".." { names.append(name) }
    }
    return names
  }

  /// Whether `path` is a folder (following symbolic links).
  ///
  /// - Parameter path: a path.
  /// - Returns: `true` for a folder, `false` for anything else or nothing.
  public static func isDirectory(_ path: String) -> Bool {
    var status = stat()
    return stat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFDIR
  }

  /// Creates a new, empty, private folder under `$TMPDIR` (or `/tmp`).
  ///
  /// - Parameter prefix: the start of the folder's name.
  /// - Returns: the folder's path.
  /// - Throws: ``FileSystemError`` when the folder cannot be created.
  public static func temporary(prefix: String) throws(FileSystemError) -> String {
    let base =
      getenv("TMPDIR").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
    var template = Array((base + "/" + prefix + ".XXXXXX").utf8CString)
    let created = template.withUnsafeMutableBufferPointer { buffer in
      buffer.baseAddress.flatMap { mkdtemp($0) } != nil
    }
    let path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    guard created else {
      throw FileSystemError(
        path: path, "cannot create a temporary folder: \(DescriptorWriting.message(errno))")
    }
    return path
  }

  /// Removes a folder and everything in it (like `rm -r`); symbolic links are removed, never
  /// followed. A missing folder is not an error.
  ///
  /// - Parameter path: the folder.
  /// - Throws: ``FileSystemError`` naming the first entry that could not be removed.
  public static func removeTree(_ path: String) throws(FileSystemError) {
    var status = stat()
    guard lstat(path, &status) == 0 else {
      if errno == ENOENT { return }
      throw FileSystemError(path: path, "cannot remove: \(DescriptorWriting.message(errno))")
    }
    if (status.st_mode & S_IFMT) == S_IFDIR {
      for name in entries(in: path) ?? [] { try removeTree(path + "/" + name) }
      guard rmdir(path) == 0 else {
        throw FileSystemError(
          path: path, "cannot remove the folder: \(DescriptorWriting.message(errno))")
      }
    } else if unlink(path) != 0 {
      throw FileSystemError(path: path, "cannot remove: \(DescriptorWriting.message(errno))")
    }
  }

  /// Creates `path` and any missing parent folders (like `mkdir -p`).
  ///
  /// - Parameter path: the folder.
  /// - Throws: ``FileSystemError`` naming the folder that could not be created.
  public static func create(_ path: String) throws(FileSystemError) {
    var prefix = path.hasPrefix("/") ? "" : "."
    for component in path.split(separator: "/") {
      prefix += "/" + component
      if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
        throw FileSystemError(
          path: prefix, "cannot create the folder: \(DescriptorWriting.message(errno))")
      }
    }
  }
}
