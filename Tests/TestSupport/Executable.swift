import Foundation

/// Runs the `tripindex` executable built beside the test bundle.
public enum TripIndexExecutable {
  /// The path of the `tripindex` binary built beside the test bundle. It is never looked up on
  /// `PATH`: a test must not pass or fail on some other installed copy.
  public static var path: String {
    get throws {
      let testBinary =
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
        ?? CommandLine.arguments[0]
      var directory = (testBinary as NSString).deletingLastPathComponent
      // On Linux the tests run from …/debug/NAMEPackageTests.xctest; the tool sits in …/debug.
      while !directory.isEmpty && directory != "/" {
        let candidate = directory + "/tripindex"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        directory = (directory as NSString).deletingLastPathComponent
      }
      throw MissingExecutable(testBinary: testBinary)
    }
  }

  /// The built tool was not found beside the test binary.
  public struct MissingExecutable: Error, CustomStringConvertible {
    /// The test binary whose folders were searched.
    public let testBinary: String
    /// What to do about it.
    public var description: String {
      "no tripindex binary in the folders above \(testBinary); build it first (swift build)"
    }
  }

  /// The outcome of one run.
  public struct Outcome: Sendable {
    /// The exit status (or the signal number when `signalled`).
    public let status: Int32
    /// Whether the process ended on a signal (a crash) instead of exiting.
    public let signalled: Bool
    /// Everything written to stdout.
    public let stdout: String
    /// Everything written to stderr.
    public let stderr: String
  }

  /// Runs the tool to completion.
  ///
  /// - Parameters:
  ///   - arguments: the command line after the program name.
  ///   - directory: the working directory.
  ///   - environment: variables to set (or replace) for the run.
  /// - Returns: exit status and output.
  public static func run(
    _ arguments: [String], in directory: String? = nil, environment: [String: String] = [:]
  ) throws -> Outcome {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try path)
    process.arguments = arguments
    if !environment.isEmpty {
      process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    }
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    let output = Pipe()
    let error = Pipe()
    process.standardOutput = output
    process.standardError = error
    try process.run()
    // Drain both pipes concurrently so a large output cannot block the child.
    nonisolated(unsafe) var errorData = Data()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async {
      errorData = drain(error.fileHandleForReading)
      group.leave()
    }
    let outputData = drain(output.fileHandleForReading)
    group.wait()
    process.waitUntilExit()
    return Outcome(
      status: process.terminationStatus,
      signalled: process.terminationReason == .uncaughtSignal,
      stdout: String(decoding: outputData, as: UTF8.self),
      stderr: String(decoding: errorData, as: UTF8.self))
  }

  /// The entries of one of a store's databases as `info --json` reports them (`nil` when the
  /// store has no such database, or `info` did not answer).
  ///
  /// - Parameters:
  ///   - database: the database's name (e.g. `lsh.packed`).
  ///   - store: the store's directory.
  /// - Returns: the entry count.
  public static func entries(of database: String, inStore store: String) throws -> Int? {
    let info = try run(["info", "--store", store, "--json"])
    let object = try JSONSerialization.jsonObject(with: Data(info.stdout.utf8)) as? [String: Any]
    let databases = object?["databases"] as? [[String: Any]] ?? []
    return databases.first { $0["name"] as? String == database }?["entries"] as? Int
  }
}

/// Reads a pipe to its end with plain `read(2)`, retrying on `EINTR` (Foundation's
/// `readDataToEndOfFile` traps when a signal interrupts it, as child exits can when many
/// tests run processes at once).
private func drain(_ handle: FileHandle) -> Data {
  var data = Data()
  var buffer = [UInt8](repeating: 0, count: 1 << 16)
  while true {
    let count = buffer.withUnsafeMutableBytes {
      read(handle.fileDescriptor, $0.baseAddress, $0.count)
    }
    if count > 0 {
      data.append(contentsOf: buffer[0..<count])
    } else if count < 0 && errno == EINTR {
      continue
    } else {
      return data
    }
  }
}
