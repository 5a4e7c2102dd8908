import Foundation
import Testing

/// A searcher reads a store's memory map through the transaction it was made in. The compiler,
/// not a convention, keeps it there: `LSHSearcher` is non-copyable and only lent, borrowed, to a
/// closure. This test type-checks two small programs against the modules just built: one that
/// searches inside the closure (must compile) and one that tries to keep the searcher (must not).
@Suite struct SearcherLifetimeTests {
  static let valid = """
    import LSHIndex
    import VectorMath
    import VectorStore

    func search(index: LSHIndex, store: VectorStore, probes: Matrix) throws -> Int {
      try store.read { snapshot in
        try index.withSearcher(in: snapshot) { try $0.search(probes, k: 1).count }
      }
    }
    """

  static let escaping = """
    import LSHIndex
    import VectorStore

    func escape(index: LSHIndex, store: VectorStore) throws -> Bool {
      var kept: LSHSearcher? = nil
      try store.read { snapshot in
        index.withSearcher(in: snapshot) { searcher in kept = searcher }
      }
      return kept != nil
    }
    """

  /// Runs a program and returns its exit status and error output.
  static func run(_ executable: String, _ arguments: [String]) throws -> (Int32, String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [executable] + arguments
    let errors = Pipe()
    process.standardError = errors
    process.standardOutput = errors
    try process.run()
    let data = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
  }

  /// The flags that let `swiftc` import this package's modules from the build folder.
  static func compilerFlags() throws -> [String] {
    let testBinary =
      (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
      ?? CommandLine.arguments[0]
    var build = (testBinary as NSString).deletingLastPathComponent
    while !FileManager.default.fileExists(atPath: build + "/CKernels.build/module.modulemap") {
      let parent = (build as NSString).deletingLastPathComponent
      guard parent != build else {
        throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: "CKernels.build"])
      }
      build = parent
    }
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
      .deletingLastPathComponent().deletingLastPathComponent().path
    let modules = FileManager.default.fileExists(atPath: build + "/Modules") ? "/Modules" : ""
    let (status, openblas) = try run("pkg-config", ["--cflags", "openblas"])
    #expect(status == 0, "pkg-config openblas: \(openblas)")
    let maps = [
      build + "/CKernels.build/module.modulemap", build + "/CHDF5.build/module.modulemap",
      root + "/Sources/CLMDB/module.modulemap", root + "/Sources/COpenBLAS/module.modulemap",
      root + "/.build/checkouts/swift-numerics/Sources/_NumericsShims/include/module.modulemap",
    ]
    return ["-typecheck", "-I", build + modules]
      + maps.flatMap { ["-Xcc", "-fmodule-map-file=" + $0] }
      + openblas.split(whereSeparator: \.isWhitespace).flatMap { ["-Xcc", String($0)] }
  }

  @Test("a searcher cannot be kept past the closure that lends it: the compiler refuses it")
  func escapingDoesNotCompile() throws {
    let flags = try Self.compilerFlags()
    let directory = FileManager.default.temporaryDirectory
      .appendingPathComponent("searcher-lifetime-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let valid = directory.appendingPathComponent("valid.swift")
    let escaping = directory.appendingPathComponent("escaping.swift")
    try Self.valid.write(to: valid, atomically: true, encoding: .utf8)
    try Self.escaping.write(to: escaping, atomically: true, encoding: .utf8)
    let (validStatus, validOutput) = try Self.run("swiftc", flags + [valid.path])
    #expect(validStatus == 0, "searching inside the closure must compile:\n\(validOutput)")
    let (escapingStatus, escapingOutput) = try Self.run("swiftc", flags + [escaping.path])
    #expect(escapingStatus != 0, "keeping the searcher compiled")
    #expect(escapingOutput.contains("consum"), "\(escapingOutput)")
  }
}
