import Foundation
import TestSupport
import Testing

/// Scarce resources and failed output end in a message and a status, never a hang or a signal.
@Suite struct ScarceResourceTests {
  /// A 20k × 32 store with an LSH index, its source folder, probes and a small re-ID pair.
  private struct Fixture {
    let directory = TemporaryDirectory()
    var store: String { directory.file("s.lmdb") }
    var probes: String { directory.file("probes.fvecs") }

    init() throws {
      directory.write(
        Fixtures.fvecsBytes(
          Fixtures.clusteredMatrix(rows: 20_000, columns: 32, clusters: 50, seed: 4)),
        to: "in/base.fvecs")
      directory.write(
        Fixtures.fvecsBytes(Fixtures.randomMatrix(rows: 2000, columns: 32, seed: 5)),
        to: "more/more.fvecs")
      directory.write(
        Fixtures.fvecsBytes(Fixtures.randomMatrix(rows: 20, columns: 32, seed: 6)),
        to: "probes.fvecs")
      let built = try TripIndexExecutable.run([
        "build", directory.file("in"), "--store", store, "--index", "lsh", "--quiet",
      ])
      try #require(built.status == 0, "\(built.stderr)")
    }
  }

  /// Runs the tool under a shell limit, stopped after `seconds` (30 by default: the tests run
  /// the debug build, several at once; the release build ends each of these commands within
  /// 0.6 s, or with its message at once).
  private func run(limit: String, _ arguments: [String], seconds: Int = 30) throws -> (
    status: Int32, signalled: Bool, stderr: String
  ) {
    let tool = try TripIndexExecutable.path
    let quoted = ([tool] + arguments).map { "'\($0)'" }.joined(separator: " ")
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/bash")
    process.arguments = ["-c", "ulimit \(limit) && exec timeout -s KILL \(seconds) \(quoted)"]
    let error = Pipe()
    process.standardOutput = FileHandle.nullDevice
    process.standardError = error
    try process.run()
    let data = error.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (
      process.terminationStatus, process.terminationReason == .uncaughtSignal,
      String(decoding: data, as: UTF8.self)
    )
  }

  @Test(
    "under ulimit -v 200000 and -v 400000, and ulimit -n 5 and 6, info, query, build, index and eval succeed or end with one line, never a signal or a hang"
  )
  func limits() throws {
    let fixture = try Fixture()
    let reid = ["--query", "datasets/synth-reid/query", "--gallery", "datasets/synth-reid/gallery"]
    let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
      .deletingLastPathComponent().deletingLastPathComponent().path
    for limit in ["-v 200000", "-v 400000", "-n 5", "-n 6"] {
      let target = fixture.directory.file("limited-\(limit.filter(\.isNumber)).lmdb")
      let commands: [[String]] = [
        ["info", "--store", fixture.store],
        ["query", fixture.probes, "--store", fixture.store, "-k", "5", "--exact"],
        ["query", fixture.probes, "--store", fixture.store, "-k", "5", "--lsh"],
        ["index", "--store", fixture.store],
        ["eval"] + reid.map { $0.hasPrefix("datasets") ? packageRoot + "/" + $0 : $0 },
        ["build", fixture.directory.file("more"), "--store", target, "--index", "lsh"],
      ]
      for command in commands {
        let outcome = try run(limit: limit, command)
        let context = "ulimit \(limit): \(command.prefix(2).joined(separator: " "))"
        #expect(!outcome.signalled, "\(context): signal \(outcome.status)")
        #expect(outcome.status != 137, "\(context): still running after 30 s")
        if outcome.status != 0 {
          let lines = outcome.stderr.split(separator: "\n")
          #expect(
            lines.count == 1 && lines[0].hasPrefix("Error: "), "\(context): \(outcome.stderr)")
        }
        // A build that fails creates no store.
        if command[0] == "build" && outcome.status != 0
          && FileManager.default.fileExists(atPath: target + "/data.mdb")
        {
          let check = try TripIndexExecutable.run(["check", "--store", target])
          #expect(check.status == 0, "\(context): \(check.stdout)")
        }
      }
    }
  }

  @Test(
    "a failed write to stdout exits 1 with a message; a closed pipe ends quietly with status 141"
  )
  func outputFailures() throws {
    let fixture = try Fixture()
    for arguments in [
      ["query", fixture.probes, "--store", fixture.store, "--json"],
      ["info", "--store", fixture.store], ["check", "--store", fixture.store, "--json"],
    ] {
      let tool = try TripIndexExecutable.path
      let process = Process()
      process.executableURL = URL(fileURLWithPath: tool)
      process.arguments = arguments
      process.standardOutput = FileHandle(forWritingAtPath: "/dev/full")
      let error = Pipe()
      process.standardError = error
      try process.run()
      let message = String(
        decoding: error.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
      process.waitUntilExit()
      #expect(process.terminationStatus == 1, "\(arguments[0])")
      #expect(
        message.contains("Error: cannot write the results to standard output: No space left"),
        "\(arguments[0]): \(message)")
    }
    // `query … | head -c 10`: the reader goes away early.
    let tool = try TripIndexExecutable.path
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/bash")
    process.arguments = [
      "-c",
      "'\(tool)' query '\(fixture.probes)' --store '\(fixture.store)' -k 2000 2>err.txt | head -c 10 >/dev/null; echo ${PIPESTATUS[0]}; cat err.txt",
    ]
    process.currentDirectoryURL = URL(fileURLWithPath: fixture.directory.path)
    let output = Pipe()
    process.standardOutput = output
    try process.run()
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    #expect(text == "141\n", "status and stderr: \(text)")
  }

  @Test("eval --max-rank is capped at the gallery's size: a huge value allocates nothing extra")
  func maxRankCapped() throws {
    let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
      .deletingLastPathComponent().deletingLastPathComponent().path
    let outcome = try run(
      limit: "-v 2000000",
      [
        "eval", "--query", packageRoot + "/datasets/synth-reid/query", "--gallery",
        packageRoot + "/datasets/synth-reid/gallery", "--max-rank", "1000000000", "--json",
      ], seconds: 60)
    #expect(outcome.status == 0, "\(outcome.stderr)")
  }
}
