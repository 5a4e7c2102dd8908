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

  /// A path made absolute, and free of `.`, `..` and symbolic links where it exists (a path
  /// that does not exist is joined to the working directory as it is).
  ///
  /// - Parameter path: a path.
  /// - Returns: the absolute path.
  public static func absolutePath(_ path: String) -> String {
    if let resolved = realpath(path, nil) {
      defer { free(resolved) }
      return String(cString: resolved)
    }
    if path.hasPrefix("/") { return path }
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    guard getcwd(&buffer, buffer.count) != nil else { return path }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
      + "/" + path
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

  /// Fills a new folder all at once: `body` writes into a hidden sibling
  /// (`.NAME.partial-PID`), which then takes the folder's place in one rename, so that the
  /// folder is either absent (or empty, as it was) or complete. A process killed meanwhile
  /// leaves only that hidden sibling, which the next run into the same folder removes; one
  /// that fails removes it itself.
  ///
  /// - Parameters:
  ///   - folder: the folder to fill; it must not exist, or be empty.
  ///   - body: writes the folder's content into the path it is given.
  /// - Returns: what `body` returns.
  /// - Throws: ``FileSystemError`` when the folder holds files or cannot be put in place; what
  ///   `body` throws.
  public static func publishing<R>(into folder: String, _ body: (String) throws -> R) throws -> R {
    var trimmed = folder
    while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
    if let existing = entries(in: trimmed), !existing.isEmpty {
      throw FileSystemError(path: folder, "already holds files; write into a new or empty folder")
    }
    let parent = trimmed.lastIndex(of: "/").map { String(trimmed[..<$0]) } ?? "."
    let name = trimmed.split(separator: "/").last.map(String.init) ?? trimmed
    let parentPath = parent.isEmpty ? "/" : parent
    try create(parentPath)
    // Partial folders of processes that died are removed; a live one's is left alone.
    let stalePrefix = "." + name + ".partial-"
    for entry in entries(in: parentPath) ?? [] where entry.hasPrefix(stalePrefix) {
      if let pid = Int32(entry.dropFirst(stalePrefix.count)), kill(pid, 0) != 0, errno == ESRCH {
        try? removeTree(parentPath + "/" + entry)
      }
    }
    let partial = parentPath + "/" + stalePrefix + String(getpid())
    try? removeTree(partial)
    guard mkdir(partial, 0o755) == 0 else {
      throw FileSystemError(
        path: partial, "cannot create the folder: \(DescriptorWriting.message(errno))")
    }
    do {
      let result = try body(partial)
      if isDirectory(trimmed) { rmdir(trimmed) }
      guard rename(partial, trimmed) == 0 else {
        throw FileSystemError(
          path: folder, "cannot put the new folder in place: \(DescriptorWriting.message(errno))")
      }
      return result
    } catch {
      try? removeTree(partial)
      throw error
    }
  }
}
