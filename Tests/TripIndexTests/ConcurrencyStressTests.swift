import Foundation
import Synchronization
import TestSupport
import Testing
import VectorMath

/// `build`, `delete`, `index`, `tune`, `check --repair` and `compact` started at once, in an
/// order and with delays drawn from a seed, against one store: after every round the store
/// must be sound and its LSH index must find each sampled stored item as its own nearest
/// neighbour (an index hashed with another build's functions misses them).
///
/// `TRIPINDEX_STRESS_SECONDS` (default 40) bounds the rounds' time and `TRIPINDEX_STRESS_SEED`
/// (default 22) picks the schedule; `make stress` runs it for ten minutes.
@Suite struct ConcurrencyStressTests {
  /// One command of a round, with the delay before it starts.
  private struct Launch {
    var name: String
    var arguments: [String]
    var delayMicroseconds: UInt32
  }

  @Test("concurrent build, delete, index, tune, check --repair and compact keep the index in step")
  func concurrentCommands() throws {
    let environment = ProcessInfo.processInfo.environment
    let budget = Double(environment["TRIPINDEX_STRESS_SECONDS"] ?? "") ?? 40
    let seed = UInt64(environment["TRIPINDEX_STRESS_SEED"] ?? "") ?? 22
    var random = SeededRandom(seed: seed)
    let directory = TemporaryDirectory()
    let store = directory.file("s.lmdb")
    let dimension = 16
    var live: [String: [Float]] = [:]
    func addFile(_ name: String, rows: Int) -> String {
      let matrix = Fixtures.clusteredMatrix(
        rows: rows, columns: dimension, clusters: 20, seed: random.next())
      for row in 0..<rows { live["\(name)#\(row)"] = matrix.row(row) }
      return directory.write(Fixtures.fvecsBytes(matrix), to: "in-\(name)/\(name).fvecs")
    }
    _ = addFile("base", rows: 3000)
    let first = try TripIndexExecutable.run([
      "build", directory.file("in-base"), "--store", store, "--index", "lsh", "--quiet",
    ])
    try #require(first.status == 0, "\(first.stderr)")

    let started = Date()
    var round = 0
    var commandsRun = 0
    while Date().timeIntervalSince(started) < budget {
      round += 1
      let context = "seed \(seed), round \(round)"
      var launches: [Launch] = []
      func delay() -> UInt32 { UInt32(random.integer(in: 0...300_000)) }
      let batch = String(random.integer(in: 10...200))
      let stored = Array(live.keys).sorted()
      _ = addFile("r\(round)", rows: random.integer(in: 200...1200))
      launches.append(
        Launch(
          name: "build",
          arguments: [
            "build", directory.file("in-r\(round)"), "--store", store, "--batch", batch, "--quiet",
          ], delayMicroseconds: delay()))
      let family = ["pstable", "crosspolytope"][random.integer(in: 0...1)]
      launches.append(
        Launch(
          name: "index",
          arguments: [
            "index", "--store", store, "--family", family, "--tables",
            String(random.integer(in: 2...8)),
          ], delayMicroseconds: delay()))
      if random.integer(in: 0...1) == 0 {
        // Names deleted now were stored in an earlier round, so the delete cannot miss them.
        var names = stored
        random.shuffle(&names)
        let doomed = Array(names.prefix(25))
        for name in doomed { live[name] = nil }
        launches.append(
          Launch(
            name: "delete", arguments: ["delete"] + doomed + ["--store", store],
            delayMicroseconds: delay()))
      }
      if random.integer(in: 0...2) == 0 {
        launches.append(
          Launch(
            name: "check --repair", arguments: ["check", "--store", store, "--repair"],
            delayMicroseconds: delay()))
      }
      let compacted = directory.file("compact-\(round).lmdb")
      if random.integer(in: 0...2) == 0 {
        launches.append(
          Launch(
            name: "compact", arguments: ["compact", "--store", store, "--out", compacted],
            delayMicroseconds: delay()))
      }
      if random.integer(in: 0...4) == 0 {
        launches.append(
          Launch(
            name: "tune",
            arguments: ["tune", "--store", store, "--sample", "40", "--recall", "0.5", "--quiet"],
            delayMicroseconds: delay()))
      }
      random.shuffle(&launches)

      // Start them in that order, each after its delay, and wait for all.
      let outcomes = Mutex<[(String, TripIndexExecutable.Outcome)]>([])
      let group = DispatchGroup()
      for launch in launches {
        usleep(launch.delayMicroseconds)
        group.enter()
        DispatchQueue.global().async {
          defer { group.leave() }
          let outcome = try? TripIndexExecutable.run(launch.arguments)
          if let outcome { outcomes.withLock { $0.append((launch.name, outcome)) } }
        }
      }
      group.wait()
      let finished = outcomes.withLock { $0 }
      #expect(finished.count == launches.count, "\(context): a command could not be started")
      for (name, outcome) in finished {
        #expect(
          !outcome.signalled && outcome.status == 0,
          "\(context): \(name) ended with \(outcome.signalled ? "signal" : "status") \(outcome.status): \(outcome.stderr)"
        )
      }
      commandsRun += finished.count

      // The store (and any compacted copy) is sound.
      let check = try TripIndexExecutable.run(["check", "--store", store])
      #expect(check.status == 0, "\(context): check: \(check.stdout)\(check.stderr)")
      if launches.contains(where: { $0.name == "compact" }) {
        let copy = try TripIndexExecutable.run(["check", "--store", compacted])
        #expect(copy.status == 0, "\(context): check of the copy: \(copy.stdout)\(copy.stderr)")
      }
      // Every item is there once, and the LSH index (unless tune dropped it) finds stored
      // items as their own nearest neighbours.
      let info = try TripIndexExecutable.run(["info", "--store", store, "--json"])
      #expect(info.stdout.contains("\"count\": \(live.count),"), "\(context): \(info.stdout)")
      if info.stdout.contains("\"kind\": \"lsh\"") {
        let sample = Array(live.keys.sorted().prefix(400)).enumerated().filter {
          $0.offset % 20 == 0
        }
        .map(\.element)
        let probes = Matrix(
          rows: sample.count, columns: dimension, values: sample.flatMap { live[$0] ?? [] })
        let probeFile = directory.write(Fixtures.fvecsBytes(probes), to: "probes-\(round).fvecs")
        let query = try TripIndexExecutable.run([
          "query", probeFile, "--store", store, "--lsh", "-k", "1", "--json",
        ])
        #expect(query.status == 0, "\(context): query: \(query.stderr)")
        let lines = query.stdout.split(separator: "\n")
        #expect(lines.count == sample.count, "\(context)")
        for (line, name) in zip(lines, sample) {
          #expect(
            line.contains("\"name\": \"\(name)\"") && line.contains("\"distance\": 0"),
            "\(context): LSH did not find the stored item \(name) as its own neighbour: \(line)")
        }
      }
    }
    #expect(round >= 2, "only \(round) round(s) ran in \(budget) s")
    print("concurrency stress: \(round) rounds, \(commandsRun) commands, seed \(seed)")
  }
}
