import Foundation
import Testing

/// Rules the core's source keeps, checked by reading it: the use cases name no command-line
/// flag (front ends word options their own way: `UserText` names them by `Parameter`), write nothing to a terminal
/// themselves (``ProgressReporting`` does) and import nothing of a front end's; and outside the
/// storage engines, no module reaches LMDB but through the storage protocols.
@Suite struct SourceRulesTests {
  private static let sourcesRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Sources")

  /// Every Swift file of a module (the core, `TripIndex`, by default), with its lines.
  private static func sources(of module: String = "TripIndex") throws -> [(
    path: String, lines: [Substring]
  )] {
    let directory = sourcesRoot.appendingPathComponent(module)
    let enumerator = try #require(FileManager.default.enumerator(atPath: directory.path))
    return try enumerator.compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") }.sorted()
      .map { file in
        let text = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
        return (file, text.split(separator: "\n", omittingEmptySubsequences: false))
      }
  }

  /// The string literals of a line of code (comments dropped), roughly: text between quotes.
  static func literals(_ line: Substring) -> [Substring] {
    let trimmed = line.drop { $0 == " " }
    if trimmed.hasPrefix("//") { return [] }
    var literals: [Substring] = []
    var start: Substring.Index?
    var index = line.startIndex
    while index < line.endIndex {
      let character = line[index]
      if start == nil, character == "/", line[index...].hasPrefix("//") { break }
      if character == "\\" {
        index = line.index(after: index)
      } else if character == "\"" {
        if let open = start {
          literals.append(line[line.index(after: open)..<index])
          start = nil
        } else {
          start = index
        }
      }
      if index < line.endIndex { index = line.index(after: index) }
    }
    return literals
  }

  @Test("the core's string literals spell no command-line flag")
  func noFlagSpellings() throws {
    #expect(Self.literals(#"  throw E("--" + x) // "--y""#) == ["--"])
    var found: [String] = []
    for (path, lines) in try Self.sources() {
      for (number, line) in lines.enumerated() {
        for literal in Self.literals(line) where literal.contains("--") {
          found.append("\(path):\(number + 1): \(literal.prefix(80))")
        }
      }
    }
    #expect(found.isEmpty, "flags spelled in Sources/TripIndex: \(found)")
  }

  @Test(
    "the use cases write to no terminal: progress, warnings and logs go through ProgressReporting")
  func noTerminalWrites() throws {
    var found: [String] = []
    for (path, lines) in try Self.sources() where !path.hasPrefix("Terminal/") {
      for (number, line) in lines.enumerated()
      where line.contains("StandardStream.") || line.contains("print(") {
        let code = line.drop { $0 == " " }
        if !code.hasPrefix("//") { found.append("\(path):\(number + 1)") }
      }
    }
    #expect(found.isEmpty, "direct terminal output in Sources/TripIndex: \(found)")
  }

  @Test("the core imports no front end's packages")
  func noFrontEndImports() throws {
    let frontEnd = [
      "ArgumentParser", "Hummingbird", "NIOCore", "NIOPosix", "TripIndexCLI",
      "TripIndexServer", "Logging", "Metrics", "Prometheus", "ServiceLifecycle",
    ]
    for (path, lines) in try Self.sources() {
      for line in lines where line.hasPrefix("import ") {
        let module = String(line.dropFirst("import ".count))
        #expect(!frontEnd.contains(module), "\(path) imports \(module)")
      }
    }
  }

  @Test(
    "LMDB is reached only through the storage protocols outside the engines' modules (the store, its index and every use case see StorageBackend)"
  )
  func storageOnlyThroughTheBackendProtocol() throws {
    // LMDB itself, the module that opens engines by location, and the fuzz target of LMDB's
    // data-file header parser.
    let allowed: Set<String> = ["CLMDB", "LMDB", "StorageEngines", "TripIndexFuzz"]
    let modules = try FileManager.default.contentsOfDirectory(atPath: Self.sourcesRoot.path)
    #expect(modules.contains("VectorStore") && modules.contains("LSHIndex"))
    var found: [String] = []
    for module in modules.sorted() where !allowed.contains(module) {
      for (path, lines) in try Self.sources(of: module) {
        for (number, line) in lines.enumerated()
        where line == "import LMDB" || line == "import CLMDB" || line.contains("mdb_") {
          found.append("\(module)/\(path):\(number + 1): \(line)")
        }
      }
    }
    #expect(found.isEmpty, "LMDB reached directly: \(found)")
  }
}
