import Plumbing
import TestSupport
import Testing

@Suite struct DirectoriesTests {
  @Test("a temporary folder is new and empty, and removeTree deletes it with nested contents")
  func temporaryAndRemove() throws {
    let first = try Directories.temporary(prefix: "tripindex-dirs")
    let second = try Directories.temporary(prefix: "tripindex-dirs")
    #expect(first != second)
    #expect(Directories.isDirectory(first) && Directories.entries(in: first) == [])
    try Directories.create(first + "/a/b")
    try TextFile.write("x", to: first + "/a/b/file.txt")
    try TextFile.write("y", to: first + "/top.txt")
    #expect(Set(Directories.entries(in: first) ?? []) == ["a", "top.txt"])
    try Directories.removeTree(first)
    #expect(!Directories.isDirectory(first) && Directories.entries(in: first) == nil)
    // Removing what is already gone is not an error; a file is not a folder.
    try Directories.removeTree(first)
    try TextFile.write("z", to: second + "/file")
    #expect(!Directories.isDirectory(second + "/file"))
    try Directories.removeTree(second)
    #expect(!Directories.isDirectory(second))
  }
}
