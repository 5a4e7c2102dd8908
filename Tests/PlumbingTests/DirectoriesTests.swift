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

  @Test(
    "publishing fills a folder all at once: a failure leaves nothing, a dead process's partial folder is removed, a folder with files is refused"
  )
  func publishing() throws {
    struct Failure: Error {}
    let directory = TemporaryDirectory()
    let target = directory.file("out")
    #expect(throws: Failure.self) {
      try Directories.publishing(into: target) { partial in
        directory.write("half", to: "out-partial-probe")
        _ = partial
        throw Failure()
      }
    }
    #expect(Directories.entries(in: target) == nil)
    #expect(
      Directories.entries(in: directory.path)?.contains { $0.hasPrefix(".out.partial") } == false)
    // What a killed run leaves (a pid that cannot be alive) goes; the folder appears whole.
    directory.write("stale", to: ".out.partial-2147483646/vectors.npy")
    let written = try Directories.publishing(into: target + "/") { partial in
      directory.write("v", to: String(partial.dropFirst(directory.path.count + 1)) + "/a.txt")
      return 1
    }
    #expect(written == 1)
    #expect(Directories.entries(in: target) == ["a.txt"])
    #expect(
      Directories.entries(in: directory.path)?.contains { $0.hasPrefix(".out.partial") } == false)
    #expect(throws: FileSystemError.self) { try Directories.publishing(into: target) { _ in } }
  }
}
