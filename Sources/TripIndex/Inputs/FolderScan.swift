import Plumbing
import VectorIO

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The vector files and labels files under a folder, found by a recursive walk.
///
/// Entries whose names start with `.` are skipped, as are symbolic links to directories (to
/// avoid cycles). Files are listed in byte order of their relative paths, so builds are
/// reproducible.
struct FolderScan {
  /// The folder walked (or the single file given).
  let root: String
  /// Vector files (known extensions), sorted.
  private(set) var vectorFiles: [String] = []
  /// `labels.csv` files by the directory that holds them.
  private(set) var labelsByDirectory: [String: LabelsFile] = [:]
  /// Other files, which hold no vectors.
  private(set) var otherFiles: [String] = []
  /// Entries skipped, each with the reason (dangling links, link loops).
  private(set) var warnings: [String] = []

  /// Walks `root` (a directory, or a single vector file).
  ///
  /// - Throws: `VectorIOError` for an unreadable directory or a bad `labels.csv`;
  ///   ``TripIndexError`` when `root` does not exist.
  init(root: String) throws {
    var status = stat()
    guard stat(root, &status) == 0 else {
      throw TripIndexError(
        "\(root): \(String(cString: strerror(errno))); expected a folder of vector files")
    }
    var trimmed = root
    while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
    self.root = trimmed
    if (status.st_mode & S_IFMT) == S_IFDIR {
      try walk(trimmed)
    } else {
      vectorFiles = [trimmed]
      let directory = FolderScan.directory(of: trimmed)
      let labels = directory + "/labels.csv"
      if access(labels, F_OK) == 0 { labelsByDirectory[directory] = try LabelsFile(path: labels) }
    }
    vectorFiles.sort { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    otherFiles.sort()
  }

  private mutating func walk(_ directory: String) throws {
    guard let entries = Directories.entries(in: directory) else {
      throw VectorIOError(
        path: directory, "cannot list the folder: \(String(cString: strerror(errno)))")
    }
    for name in entries.sorted() where !name.hasPrefix(".") {
      let path = directory + "/" + name
      var status = stat()
      guard stat(path, &status) == 0 else {
        let reason = String(cString: strerror(errno))
        var linkStatus = stat()
        if lstat(path, &linkStatus) == 0 && (linkStatus.st_mode & S_IFMT) == S_IFLNK {
          // A link to nothing (or to itself) holds no input: say so and go on.
          warnings.append("\(path): skipped a symbolic link that cannot be followed (\(reason))")
          continue
        }
        throw VectorIOError(path: path, "cannot read: \(reason)")
      }
      if (status.st_mode & S_IFMT) == S_IFDIR {
        var linkStatus = stat()
        if lstat(path, &linkStatus) == 0 && (linkStatus.st_mode & S_IFMT) == S_IFLNK { continue }
        // A store built inside the folder is not input.
        if access(path + "/data.mdb", F_OK) == 0 { continue }
        try walk(path)
      } else if name == "labels.csv" {
        labelsByDirectory[directory] = try LabelsFile(path: path)
      } else if VectorFileFormat(path: name) != nil {
        vectorFiles.append(path)
      } else {
        otherFiles.append(path)
      }
    }
  }

  /// The directory part of a path (`.` when there is none).
  static func directory(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
  }

  /// The file name without directory and extension.
  static func stem(of path: String) -> String {
    let name = path.lastIndex(of: "/").map { String(path[path.index(after: $0)...]) } ?? path
    guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return name }
    return String(name[..<dot])
  }

  /// The labels files that apply to a file, nearest directory first, up to the root.
  func labelsFiles(for file: String) -> [LabelsFile] {
    var result: [LabelsFile] = []
    var directory = FolderScan.directory(of: file)
    while true {
      if let labels = labelsByDirectory[directory] { result.append(labels) }
      if directory == root || directory.count <= root.count || directory == "/" || directory == "."
      {
        break
      }
      directory = FolderScan.directory(of: directory)
    }
    return result
  }
}
