#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Reading folder contents without Foundation.
enum DirectoryListing {
  /// The names in a folder, without `.` and `..`, in no particular order.
  ///
  /// - Parameter path: the folder.
  /// - Returns: the entry names, or `nil` with `errno` set when the folder cannot be opened.
  static func names(in path: String) -> [String]? {
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
}
