import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import TripIndexServer

/// A server on a loopback port and HummingbirdTesting's HTTP client to it, as its `.live` setup
/// provides, but with a read timeout a loaded machine cannot reach: `.live` gives up after 20 s
/// without a byte, and while the other suites' synchronous tests hold the cooperative threads
/// (two on this machine) a request can wait longer than that for its turn — a CI run failed so,
/// with `readTimeout`, on a request that takes milliseconds.
enum LiveServer {
  /// How long the client waits for a response before it gives up.
  static let readTimeout: Duration = .seconds(600)

  /// Runs `server` on the port its configuration names (0: any free one), lends `test` a client
  /// connected to it, then stops it.
  static func with<T: Sendable>(
    _ server: TripIndexServer, _ test: @Sendable (LiveClient) async throws -> T
  ) async throws -> T {
    let (ports, bound) = AsyncStream.makeStream(of: Int.self)
    let application = server.application { port in bound.yield(port) }
    return try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask { try await application.runService() }
      var waiting = ports.makeAsyncIterator()
      guard let port = await waiting.next() else { throw CancellationError() }
      let client = TestClient(
        host: "localhost", port: port, configuration: .init(timeout: readTimeout))
      client.connect()
      defer { group.cancelAll() }
      do {
        let value = try await test(LiveClient(client: client))
        try await client.shutdown()
        return value
      } catch {
        try? await client.shutdown()
        throw error
      }
    }
  }
}

/// A response: status, headers and body.
struct LiveResponse: Sendable {
  let status: HTTPResponse.Status
  let headers: HTTPFields
  let body: ByteBuffer
}

/// Requests to a ``LiveServer``.
struct LiveClient: Sendable {
  let client: TestClient

  /// Sends one request (on the client's keep-alive connection) and returns the response.
  func execute(
    uri: String, method: HTTPRequest.Method, headers: HTTPFields = [:], body: ByteBuffer? = nil
  ) async throws -> LiveResponse {
    var headers = headers
    headers[.connection] = "keep-alive"
    let response = try await client.execute(
      TestClient.Request(uri, method: method, authority: "localhost", headers: headers, body: body))
    return LiveResponse(
      status: response.head.status, headers: response.head.headerFields,
      body: response.body ?? ByteBuffer())
  }

  /// Sends one request and returns what `check` makes of the response.
  func execute<R>(
    uri: String, method: HTTPRequest.Method, headers: HTTPFields = [:], body: ByteBuffer? = nil,
    _ check: (LiveResponse) throws -> R
  ) async throws -> R {
    try check(try await execute(uri: uri, method: method, headers: headers, body: body))
  }
}
