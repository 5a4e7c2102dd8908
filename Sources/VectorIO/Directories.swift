#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Creating folders.
public enum Directories {
  /// Creates `path` and any missing parent folders (like `mkdir -p`).
  ///
  /// - Parameter path: the folder.
  /// - Throws: ``VectorIOError`` naming the folder that could not be created.
  public static func create(_ path: String) throws(VectorIOError) {
    var prefix = path.hasPrefix("/") ? "" : "."
    for component in path.split(separator: "/") {
      prefix += "/" + component
      if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
        throw VectorIOError(
          path: prefix, "cannot create the folder: \(DescriptorWriting.message(errno))")
      }
    }
  }
}
