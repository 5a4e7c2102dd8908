import Foundation

/// Real Redis servers on loopback ports for tests, started with
/// `Benchmarks/scripts/redis-cluster.sh`: a cluster of 3 masters + 3 replicas, or one server
/// without cluster mode. Each is stopped by ``stop()``, and in any case when the test process
/// ends (the script watches it), so a crashed run leaves no servers behind.
public final class LocalRedis: Sendable {
  /// The servers' data and logs.
  public let directory: String
  /// The first port (a cluster's nodes are on `basePort` … `basePort + 5`).
  public let basePort: Int
  /// The nodes' addresses, `127.0.0.1:PORT`, comma-separated.
  public let seeds: String

  private init(directory: String, basePort: Int, seeds: String) {
    self.directory = directory
    self.basePort = basePort
    self.seeds = seeds
  }

  /// The script, found from this file's place in the repository.
  static var script: String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().appendingPathComponent("Benchmarks/scripts/redis-cluster.sh")
      .path
  }

  /// Starts a cluster (3 masters + 3 replicas, formed and serving every slot).
  ///
  /// - Parameter password: every node's password, if any.
  /// - Returns: the running cluster.
  public static func cluster(password: String? = nil) throws -> LocalRedis {
    try start { directory, port in
      ["start", directory, String(port)] + (password.map { ["--password", $0] } ?? [])
    }
  }

  /// Starts one Redis server without cluster mode.
  ///
  /// - Parameter password: its password, if any.
  /// - Returns: the running server.
  public static func standalone(password: String? = nil) throws -> LocalRedis {
    try start { directory, port in
      ["standalone", directory, String(port)] + (password.map { ["--password", $0] } ?? [])
    }
  }

  /// Starts one node in cluster mode that has joined no cluster (it serves no slot).
  public static func unjoinedNode() throws -> LocalRedis {
    try start { directory, port in ["unjoined", directory, String(port)] }
  }

  /// Runs the script on free-looking ports (tries a few bases: another run may hold one).
  private static func start(_ arguments: (String, Int) -> [String]) throws -> LocalRedis {
    var failures: [String] = []
    for _ in 0..<4 {
      let base = Int.random(in: 210...290) * 100 + Int.random(in: 0...9) * 10
      let directory = NSTemporaryDirectory() + "tripindex-redis-\(UUID().uuidString.prefix(8))"
      let outcome = try run(
        arguments(directory, base) + ["--owner", String(ProcessInfo.processInfo.processIdentifier)])
      if outcome.status == 0 {
        let seeds = outcome.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        return LocalRedis(directory: directory, basePort: base, seeds: seeds)
      }
      failures.append(outcome.stderr)
      _ = try? run(["stop", directory, "--remove"])
    }
    throw StartFailure(messages: failures)
  }

  /// Kills one node at once (`kill -9`).
  public func kill(port: Int) throws { try script("kill", String(port)) }

  /// Starts a killed node again (it rejoins the cluster as a replica of the new master).
  public func restart(port: Int) throws { try script("restart", String(port)) }

  /// Stops every node and deletes their data.
  public func stop() { try? script("stop", "--remove") }

  private func script(_ command: String, _ arguments: String...) throws {
    let outcome = try Self.run([command, directory] + arguments)
    guard outcome.status == 0 else { throw StartFailure(messages: [outcome.stderr]) }
  }

  /// Runs the script to completion, its output in files (the servers and the watchdog it leaves
  /// running must not hold a pipe of ours open), reaped with `waitpid` directly.
  private static func run(_ arguments: [String]) throws -> (
    status: Int32, stdout: String, stderr: String
  ) {
    let stdoutPath = NSTemporaryDirectory() + "tripindex-redis-\(UUID().uuidString).out"
    let stderrPath = stdoutPath + ".err"
    defer {
      unlink(stdoutPath)
      unlink(stderrPath)
    }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    let argv = (["/bin/bash", script] + arguments).map { strdup($0) } + [nil]
    defer { for argument in argv { free(argument) } }
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, "/bin/bash", &actions, nil, argv, environ)
    guard spawned == 0 else {
      throw StartFailure(messages: ["cannot run bash: \(String(cString: strerror(spawned)))"])
    }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
    let output = (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? ""
    let errors = (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
    // Exited normally: the exit code; otherwise 128 + the signal.
    let exitStatus = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    return (exitStatus, output, errors)
  }

  /// The servers did not start.
  public struct StartFailure: Error, CustomStringConvertible {
    /// What the script said, per attempt.
    public let messages: [String]
    /// One line per attempt.
    public var description: String {
      "could not start Redis (is redis-server installed? `make test-deps` installs it): "
        + messages.joined(separator: " | ")
    }
  }
}
