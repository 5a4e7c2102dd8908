import Hummingbird
import Logging
import NIOCore
import NIOPosix
import Plumbing
import ServiceLifecycle
import TripIndex
import VectorMath
import VectorStore

/// `tripindex serve`: a store and its index behind an HTTP API.
///
/// Routes: `POST /query`, `PUT /items/{name}`, `DELETE /items/{name}`, `GET /info`,
/// `GET /health`, `GET /metrics`. A search expected to be short (see
/// ``ServerConfiguration/inlineSearchSeconds``) runs in its request's task, longer ones and
/// writes (which wait for LMDB's writer lock) on a pool of threads. Each search is one read
/// transaction and each write one write transaction that also updates the index, so readers
/// never block the writer and see whole transactions only.
public struct TripIndexServer: Sendable {
  /// The settings.
  public let configuration: ServerConfiguration
  /// The open store.
  let session: SearchSession
  /// Request counts, latencies and the store's gauges.
  let metrics: ServerMetrics
  /// Where requests that fail for real faults are logged.
  let logger: Logger

  /// Opens the store (read-only with ``ServerConfiguration/readOnly``).
  ///
  /// - Parameters:
  ///   - configuration: the settings.
  ///   - logger: the log.
  /// - Throws: `VectorStoreError`, `ModelFileError`, `LSHError`.
  public init(configuration: ServerConfiguration, logger: Logger) throws {
    self.configuration = configuration
    self.logger = logger
    session = try SearchSession(
      storePath: configuration.storePath, modelPath: configuration.modelPath,
      readOnly: configuration.readOnly, redis: configuration.redis)
    metrics = ServerMetrics()
  }

  /// Lets NIO's event loops run Swift's tasks, so that a request is read, handled and answered
  /// on one thread instead of hopping to Swift's thread pool and back (SwiftNIO's opt-in).
  /// Call it once, from the main thread, before any task starts.
  ///
  /// - Returns: whether the loops now run the tasks.
  @discardableResult
  public static func runTasksOnEventLoops() -> Bool {
    NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
  }

  /// The application: router, middleware, address; run it with `runService()` (it stops
  /// gracefully on SIGTERM and SIGINT: no new connections, requests in flight finish).
  ///
  /// - Parameter onRunning: called with the bound port once the server listens.
  /// - Returns: the application.
  public func application(onRunning: @escaping @Sendable (Int) async -> Void = { _ in })
    -> some ApplicationProtocol
  {
    let router = Router()
    router.add(middleware: ServerMetrics.Middleware(metrics: metrics))
    router.add(middleware: AccessMiddleware(configuration: configuration))
    router.get("health") { _, _ in JSONBody.response(.object([("status", .string("ok"))])) }
    router.get("info") { _, _ in
      let info = try await blocking { try session.info() }
      return JSONBody.response(info.json + "\n")
    }
    router.get("metrics") { _, _ in
      let text = try await blocking { try metrics.exposition(of: session) }
      var buffer = ByteBuffer()
      buffer.writeString(text)
      return Response(
        status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
        body: ResponseBody(byteBuffer: buffer))
    }
    router.post("query") { request, _ in try await query(request) }
    router.put("items/:name") { request, _ in try await upsert(request) }
    router.delete("items/:name") { request, _ in try await delete(request) }
    return Application(
      router: router,
      configuration: .init(
        address: .hostname(configuration.host, port: configuration.port),
        serverName: "tripindex"),
      onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) },
      logger: logger)
  }

  /// Runs work that may wait (a write waits for LMDB's writer lock) on the thread pool, never
  /// on an event loop or the concurrency pool; errors as ``computing(_:)``.
  private func blocking<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await computing { try await NIOThreadPool.singleton.runIfActive(work) }
  }

  /// Runs work in the request's task: searches, which compute without waiting on locks (reads
  /// of the memory map, BLAS), off the event loops and without a hop to another thread. Errors
  /// that are not the request's fault are logged and become 500.
  private func computing<T: Sendable>(_ work: () async throws -> T) async throws -> T {
    do {
      return try await work()
    } catch let error as APIError {
      throw error
    } catch let error as TripIndexError {
      // The core names its parameters by type; here they read as the request's JSON fields,
      // and the error's field is the parameter named when a request can carry it.
      let field = error.parameter.map(\.snakeCase).flatMap {
        QueryRequest.fieldNames.contains($0) ? $0 : nil
      }
      throw APIError(.unprocessableContent, field: field, error.worded(.jsonFields))
    } catch let error as VectorStoreError where error.kind == .invalidItem {
      throw APIError(.unprocessableContent, field: "name", error.description)
    } catch {
      logger.error("request failed: \(error)")
      throw APIError(.internalServerError, field: nil, "\(error)")
    }
  }

  /// The body as text, at most the configured size.
  private func body(_ request: Request) async throws -> String {
    var request = request
    do {
      let buffer = try await request.collectBody(upTo: configuration.maximumBodyBytes)
      return String(buffer: buffer)
    } catch is NIOTooManyBytesError {
      throw APIError(
        .contentTooLarge, field: "body",
        "is larger than \(configuration.maximumBodyBytes) bytes, the server's limit")
    }
  }

  private func query(_ request: Request) async throws -> Response {
    let text = try await body(request)
    let configuration = self.configuration
    let parsed =
      text.utf8.count <= configuration.inlineBodyBytes
      ? try QueryRequest(body: text, configuration: configuration)
      : try await blocking { try QueryRequest(body: text, configuration: configuration) }
    let session = self.session
    // A store that cannot be read for the estimate is searched on the pool, where the search
    // itself reports the fault.
    let expected = try? session.expectedSearchSeconds(
      probes: parsed.vectors.rows, options: parsed.options)
    if let expected, expected <= configuration.inlineSearchSeconds {
      return JSONBody.response(try await computing { try Self.answer(parsed, in: session) })
    }
    return JSONBody.response(try await blocking { try Self.answer(parsed, in: session) })
  }

  /// Searches a query's probes and writes the response body: `{"results": [...]}`, one line of
  /// `query --json` per probe.
  private static func answer(_ parsed: QueryRequest, in session: SearchSession) throws -> String {
    let names = parsed.names.isEmpty ? (0..<parsed.vectors.rows).map { "#\($0)" } : parsed.names
    let prepared: Matrix
    do {
      prepared = try session.prepare(parsed.vectors, names: names)
    } catch let error as TripIndexError {
      throw APIError(
        .unprocessableContent, field: parsed.vectorField, error.worded(.jsonFields))
    }
    let result = try session.search(
      prepared, names: parsed.names, labels: parsed.labels, options: parsed.options)
    var output = OutputBuffer(stream: nil)
    output.write("{\"results\": [")
    for row in result.neighbors.indices {
      if row > 0 { output.write(", ") }
      result.writeJSONObject(row: row, to: &output)
    }
    output.write("]}\n")
    return output.text
  }

  /// The item name of an `/items/{name}` path: one percent-encoded segment, decoded to the
  /// bytes it names.
  private func itemName(_ request: Request) throws(APIError) -> String {
    let path = request.uri.path
    let segment = path.dropFirst("/items/".count)
    guard path.hasPrefix("/items/"), !segment.isEmpty, !segment.contains("/") else {
      throw APIError(.badRequest, field: "name", "the path must be /items/NAME, one segment")
    }
    guard let name = PercentEncoding.decode(segment) else {
      throw APIError(
        .badRequest, field: "name",
        "is not a valid percent-encoded UTF-8 name")
    }
    return name
  }

  private func upsert(_ request: Request) async throws -> Response {
    let name = try itemName(request)
    var fields = try RequestFields(body: try await body(request))
    guard let value = fields.value("vector") else {
      throw APIError(.unprocessableContent, field: "vector", "is required")
    }
    let vector = try RequestFields.vector(value, field: "vector")
    let labels = ItemLabels(
      pid: try fields.label("pid"), camera: try fields.label("camera"),
      group: try fields.label("group"))
    try fields.checkAllRead(expected: "vector, pid, camera, group")
    let session = self.session
    let expected = session.probeDimension
    guard vector.count == expected else {
      throw APIError(
        .unprocessableContent, field: "vector",
        "has \(vector.count) values; the store takes \(expected)")
    }
    let done = try await blocking { try session.upsert(name: name, vector: vector, labels: labels) }
    metrics.writes.increment()
    return JSONBody.response(
      .object([
        ("name", .string(name)), ("id", .integer(Int(done.id))),
        ("status", .string(done.outcome.rawValue)),
      ]))
  }

  private func delete(_ request: Request) async throws -> Response {
    let name = try itemName(request)
    let session = self.session
    guard let id = try await blocking({ try session.delete(name: name) }) else {
      throw APIError(.notFound, field: "name", "no item is named '\(name)'; nothing was deleted")
    }
    metrics.writes.increment()
    return JSONBody.response(
      .object([("name", .string(name)), ("id", .integer(Int(id))), ("status", .string("deleted"))]))
  }
}
