import Plumbing

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The pictures of a folder tree by file stem: `bounding_box_test/0001_c1s1_001051_00.jpg` is
/// the picture of item `0001_c1s1_001051_00`. JPEG and PNG files (`.jpg`, `.jpeg`, `.png`, any
/// case) are found at any depth; hidden entries and symbolic links to folders are skipped.
public struct ImageFolder: Sendable {
  /// The folder searched.
  public let root: String
  private let pathsByStem: [String: [String]]

  /// Scans a folder tree.
  ///
  /// - Parameter root: the folder.
  /// - Throws: ``RankedListError`` when it is not a readable folder.
  public init(root: String) throws(RankedListError) {
    guard Directories.isDirectory(root) else {
      throw RankedListError("images folder \(root) is not a folder")
    }
    self.root = root
    var found: [String: [String]] = [:]
    var pending = [root]
    while let folder = pending.popLast() {
      guard let entries = Directories.entries(in: folder) else {
        throw RankedListError(
          "cannot read folder \(folder): \(DescriptorWriting.message(errno))")
      }
      for entry in entries.sorted() where !entry.hasPrefix(".") {
        let path = folder + "/" + entry
        if Self.isFolder(path) {
          pending.append(path)
        } else if let dot = entry.lastIndex(of: "."),
          Self.extensions.contains(entry[entry.index(after: dot)...].lowercased())
        {
          found[String(entry[..<dot]), default: []].append(path)
        }
      }
    }
    pathsByStem = found
  }

  /// The picture file extensions looked for.
  public static let extensions: Set<String> = ["jpg", "jpeg", "png"]

  /// The picture of an item, or `nil` when the tree has none.
  ///
  /// - Parameter name: the item's name.
  /// - Returns: the file's path.
  /// - Throws: ``RankedListError`` naming both files when two pictures share the stem.
  public func picture(of name: String) throws(RankedListError) -> String? {
    guard let paths = pathsByStem[name] else { return nil }
    guard paths.count == 1 else {
      let sorted = paths.sorted()
      throw RankedListError(
        "item '\(name)' has two pictures under \(root): \(sorted[0]) and \(sorted[1]); keep one, or name a folder that holds one"
      )
    }
    return paths[0]
  }

  /// A real folder: symbolic links to folders are not followed (they could loop).
  private static func isFolder(_ path: String) -> Bool {
    var status = stat()
    return lstat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFDIR
  }
}
