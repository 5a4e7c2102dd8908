import ArgumentParser
import Dispatch
import Glibc
import Logging
import Plumbing
import Synchronization
import TripIndex
import TripIndexServer

struct ServeCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "serve",
    abstract: "Serve a store and its index over HTTP (query, upsert, delete, info, metrics).",
    discussion: """
      Routes: POST /query ({"vector": [...], "k": 10} or {"vectors": [[...], ...]}, plus every \
      query option as a field; answers {"results": [...]}, each as a line of `query --json`), \
      PUT /items/NAME ({"vector": [...], "pid": 3, "camera": 1, "group": 7}), DELETE \
      /items/NAME, GET /info (as `info --json`), GET /health, GET /metrics (Prometheus). Bad \
      requests get a JSON error naming the field (400, 404, 413, 422) and change nothing. Binds \
      127.0.0.1 unless --host says otherwise; --token-file (or TRIPINDEX_TOKEN) makes every \
      route but /health require `Authorization: Bearer TOKEN`. SIGTERM or SIGINT stops it \
      gracefully: no new connections, requests in flight finish, the store is closed, exit 0.
      """)

  @OptionGroup var storeOption: StoreOption

  @Option(help: "The address to bind.")
  var host = "127.0.0.1"

  @Option(parsing: .unconditional, help: "The port (0: any free port, printed on start).")
  var port = 8080

  @Option(help: "Embed probes and items with this model instead of the store's recorded one.")
  var model: String?

  @Option(
    help:
      "A file holding the bearer token every route but /health requires (default: $TRIPINDEX_TOKEN, else none)."
  )
  var tokenFile: String?

  @Flag(help: "Refuse writes (PUT and DELETE answer 403); the store is opened read-only.")
  var readOnly = false

  @Option(parsing: .unconditional, help: "The largest request body in bytes (default 16 MiB).")
  var maxBodyBytes = 16 << 20

  @Option(parsing: .unconditional, help: "The most vectors in one query request.")
  var maxVectors = 1_000

  @Option(parsing: .unconditional, help: "The largest k.")
  var maxK = 10_000

  @Option(parsing: .unconditional, help: "The most results one request asks for (vectors × k).")
  var maxResults = 1_000_000

  @Option(
    parsing: .unconditional,
    help: ArgumentHelp(
      "Searches expected to take at most this many µs (by the index's recorded speed) run on the thread that read the request; others on a pool of threads (0: all on the pool).",
      valueName: "µs"))
  var inlineSearchUs = 1_000

  @Flag(help: "Log only warnings and errors.")
  var quiet = false

  func run() throws {
    for (name, value) in [
      ("--max-body-bytes", maxBodyBytes), ("--max-vectors", maxVectors), ("--max-k", maxK),
      ("--max-results", maxResults),
    ] where value < 1 {
      throw ValidationError("\(name) must be at least 1, not \(value)")
    }
    guard inlineSearchUs >= 0 else {
      throw ValidationError("--inline-search-us must be 0 or more, not \(inlineSearchUs)")
    }
    guard (0...65535).contains(port) else {
      throw ValidationError("--port must be between 0 and 65535, not \(port)")
    }
    var configuration = ServerConfiguration(storePath: storeOption.store)
    configuration.redis = storeOption.redis
    configuration.host = host
    configuration.port = port
    configuration.modelPath = model
    configuration.readOnly = readOnly
    configuration.maximumBodyBytes = maxBodyBytes
    configuration.maximumVectors = maxVectors
    configuration.maximumK = maxK
    configuration.maximumResults = maxResults
    configuration.inlineSearchSeconds = Double(inlineSearchUs) * 1e-6
    configuration.token = try token()
    var logger = Logger(label: "tripindex")
    logger.logLevel = quiet ? .warning : .info
    if configuration.bindsBeyondLoopback && configuration.token == nil {
      StandardStream.error.write(
        "warning: serving \(host) without a token: anyone who reaches this address can read and write the store (give --token-file, or --read-only)\n"
      )
    }
    // Before any task starts: requests are then read, searched and answered on one thread.
    TripIndexServer.runTasksOnEventLoops()
    let server = try TripIndexServer(configuration: configuration, logger: logger)
    let finished = DispatchSemaphore(value: 0)
    let outcome = Mutex<(any Error)?>(nil)
    let host = self.host
    let store = storeOption.displayedStore
    Task {
      do {
        try await server.application { port in
          // One line on stdout, so scripts started with --port 0 learn the port.
          StandardStream.output.write("listening on http://\(host):\(port) (store \(store))\n")
        }.runService()
      } catch {
        outcome.withLock { $0 = error }
      }
      finished.signal()
    }
    finished.wait()
    if let error = outcome.withLock({ $0 }) { throw error }
  }

  /// The token: the file's first line, else `$TRIPINDEX_TOKEN`, else none.
  private func token() throws -> String? {
    if let tokenFile {
      let text = String(decoding: try TextFile.contents(of: tokenFile), as: UTF8.self)
      let token = text.split(whereSeparator: \.isNewline).first.map { line in
        String(line.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
      }
      guard let token, !token.isEmpty else {
        throw ValidationError("--token-file \(tokenFile) holds no token on its first line")
      }
      return token
    }
    if let token = getenv("TRIPINDEX_TOKEN").map({ String(cString: $0) }), !token.isEmpty {
      return token
    }
    return nil
  }
}
