import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Synchronization
import TestSupport
import Testing
import TripIndex
import TripIndexServer
import VectorMath
import VectorStore

/// `serve` over real HTTP on a loopback port (``LiveServer``: HummingbirdTesting's client) and as the built
/// binary: answers equal `query --json`, every bad request is refused with its status and field
/// and changes nothing, access rules, writes, and a graceful stop under load.
@Suite struct ServerTests {
  /// A labelled store with an LSH index, and a probe file.
  private struct Fixture {
    let directory = TemporaryDirectory()
    let store: String
    let probes: Matrix

    init() throws {
      let base = Fixtures.clusteredMatrix(rows: 600, columns: 16, clusters: 12, seed: 5)
      directory.write(Fixtures.fvecsBytes(base), to: "base/items.fvecs")
      var labels = "name,pid,camera\n"
      for row in 0..<base.rows { labels += "item-\(row),\(row % 12),\(row % 3 + 1)\n" }
      directory.write(labels, to: "base/labels.csv")
      probes = Fixtures.clusteredMatrix(rows: 4, columns: 16, clusters: 12, seed: 6)
      directory.write(Fixtures.fvecsBytes(probes), to: "probes.fvecs")
      store = directory.file("store")
      let built = try TripIndexExecutable.run([
        "build", directory.file("base"), "--store", store, "--index", "lsh", "--quiet",
      ])
      guard built.status == 0 else { throw Failure(built.stderr) }
    }

    func configuration() -> ServerConfiguration {
      var configuration = ServerConfiguration(storePath: store)
      configuration.port = 0
      return configuration
    }

    /// `query --json` for the probe file, one parsed object per probe.
    func queryLines(_ extra: [String]) throws -> [NSDictionary] {
      let outcome = try TripIndexExecutable.run(
        ["query", directory.file("probes.fvecs"), "--store", store, "-k", "5", "--json"] + extra)
      guard outcome.status == 0 else { throw Failure(outcome.stderr) }
      return try outcome.stdout.split(separator: "\n").map { line in
        try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? NSDictionary)
      }
    }
  }

  struct Failure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
  }

  private func withServer<T: Sendable>(
    _ configuration: ServerConfiguration,
    _ test: @Sendable (LiveClient) async throws -> T
  ) async throws -> T {
    var logger = Logger(label: "tripindex-test")
    logger.logLevel = .warning
    let server = try TripIndexServer(configuration: configuration, logger: logger)
    return try await LiveServer.with(server, test)
  }

  private static func json(_ text: String) throws -> NSDictionary {
    try #require(JSONSerialization.jsonObject(with: Data(text.utf8)) as? NSDictionary)
  }

  private static func json(_ response: LiveResponse) throws -> NSDictionary {
    try json(String(buffer: response.body))
  }

  /// A response's status and its JSON error's field.
  private static func refusal(_ response: LiveResponse) throws -> (HTTPResponse.Status, String?) {
    let error = try json(response)["error"] as? NSDictionary
    return (response.status, error?["field"] as? String)
  }

  private static func body(_ object: Any) throws -> ByteBuffer {
    ByteBuffer(data: try JSONSerialization.data(withJSONObject: object))
  }

  private static func vectors(_ matrix: Matrix) -> [[Double]] {
    (0..<matrix.rows).map { row in matrix.row(row).map(Double.init) }
  }

  @Test(
    "POST /query answers what query --json prints, for exact and LSH search, whether the body is parsed and the search run in the request's task or on the pool",
    arguments: [0.001, 0])
  func queryEqualsCommand(inlineSearchSeconds: Double) async throws {
    let fixture = try Fixture()
    var configuration = fixture.configuration()
    configuration.inlineSearchSeconds = inlineSearchSeconds
    // On the pool, the body is parsed there too.
    if inlineSearchSeconds == 0 { configuration.inlineBodyBytes = 0 }
    let names = (0..<4).map { "probes#\($0)" }
    for (field, flag) in [("exact", "--exact"), ("lsh", "--lsh")] {
      let expected = try fixture.queryLines([flag])
      let request = try Self.body([
        "vectors": Self.vectors(fixture.probes), "k": 5, field: true, "names": names,
      ])
      let (status, text) = try await withServer(configuration) { client in
        try await client.execute(uri: "/query", method: .post, body: request) { response in
          (response.status, String(buffer: response.body))
        }
      }
      #expect(status == .ok)
      let results = try #require(Self.json(text)["results"] as? [NSDictionary])
      #expect(results == expected, "\(field)")
      #expect(results.first?["method"] as? String == field)
    }
    // One vector, default k = 10, unnamed.
    let request = try Self.body(["vector": Self.vectors(fixture.probes)[0], "exact": true])
    let text = try await withServer(configuration) { client in
      try await client.execute(uri: "/query", method: .post, body: request) {
        String(buffer: $0.body)
      }
    }
    let single = try #require(Self.json(text)["results"] as? [NSDictionary])
    #expect(single.count == 1 && (single[0]["neighbors"] as? [Any])?.count == 10)
    #expect(single[0]["probe"] is NSNull)
  }

  @Test(
    "a store on a Redis Cluster behind serve: /query answers what query --json prints (exact and LSH); PUT and DELETE reach the cluster"
  )
  func redisStore() async throws {
    let fixture = try Fixture()
    let cluster = try LocalRedis.cluster()
    defer { cluster.stop() }
    let store = "redis://\(cluster.seeds)/served"
    let copied = try TripIndexExecutable.run(["copy", "--from", fixture.store, "--to", store])
    try #require(copied.status == 0, "\(copied.stderr)")
    var configuration = fixture.configuration()
    configuration.storePath = store
    let names = (0..<4).map { "probes#\($0)" }
    for (field, flag) in [("exact", "--exact"), ("lsh", "--lsh")] {
      let outcome = try TripIndexExecutable.run(
        [
          "query", fixture.directory.file("probes.fvecs"), "--store", store, "-k", "5", "--json",
          flag,
        ])
      let expected = try outcome.stdout.split(separator: "\n").map { try Self.json(String($0)) }
      #expect(expected == (try fixture.queryLines([flag])), "Redis and LMDB differ: \(field)")
      let request = try Self.body([
        "vectors": Self.vectors(fixture.probes), "k": 5, field: true, "names": names,
      ])
      let text = try await withServer(configuration) { client in
        try await client.execute(uri: "/query", method: .post, body: request) {
          String(buffer: $0.body)
        }
      }
      #expect(try #require(Self.json(text)["results"] as? [NSDictionary]) == expected, "\(field)")
    }
    let vector = Self.vectors(fixture.probes)[1]
    try await withServer(configuration) { client in
      let put = try await client.execute(
        uri: "/items/new-one", method: .put, body: try Self.body(["vector": vector, "pid": 5]))
      #expect(try Self.json(put)["status"] as? String == "added")
      let found = try await client.execute(
        uri: "/query", method: .post, body: try Self.body(["vector": vector, "k": 1]))
      let first = try #require(Self.json(found)["results"] as? [NSDictionary]).first
      #expect((first?["neighbors"] as? [NSDictionary])?.first?["name"] as? String == "new-one")
      let info = try Self.json(try await client.execute(uri: "/info", method: .get))
      #expect(info["count"] as? Int == 601 && info["engine"] as? String == "redis")
      #expect(try await client.execute(uri: "/items/new-one", method: .delete).status == .ok)
    }
    let info = try TripIndexExecutable.run(["info", "--store", store, "--json"])
    #expect(info.stdout.contains("\"count\": 600"), "\(info.stdout)\(info.stderr)")
  }

  @Test("every bad request gets its status and a JSON error naming the field; nothing is written")
  func badRequests() async throws {
    let fixture = try Fixture()
    var configuration = fixture.configuration()
    configuration.maximumVectors = 3
    configuration.maximumBodyBytes = 4_096
    configuration.maximumResults = 50
    let good = Self.vectors(fixture.probes)[0]
    let cases: [(String, HTTPRequest.Method, String, HTTPResponse.Status, String)] = [
      ("/query", .post, "{", .badRequest, "body"),
      ("/query", .post, "[1, 2]", .badRequest, "body"),
      ("/query", .post, #"{"vector": [1, 2]}"#, .unprocessableContent, "vector"),
      ("/query", .post, #"{"vectors": [[1, 2], [1]]}"#, .unprocessableContent, "vectors[1]"),
      ("/query", .post, #"{"vector": [1, "x"]}"#, .unprocessableContent, "vector"),
      ("/query", .post, #"{"vector": [1e39, 1]}"#, .unprocessableContent, "vector"),
      ("/query", .post, #"{"k": 3}"#, .unprocessableContent, "vector"),
      ("/query", .post, "{\"vector\": \(good), \"k\": 0}", .unprocessableContent, "k"),
      ("/query", .post, "{\"vector\": \(good), \"k\": 10001}", .unprocessableContent, "k"),
      ("/query", .post, "{\"vector\": \(good), \"kk\": 3}", .badRequest, "kk"),
      (
        "/query", .post, "{\"vectors\": [\(good), \(good), \(good), \(good)]}", .contentTooLarge,
        "vectors"
      ),
      ("/query", .post, "{\"vectors\": [\(good), \(good)], \"k\": 30}", .contentTooLarge, "k"),
      (
        "/query", .post,
        "{\"vector\": \(good), \"pad\": \"\(String(repeating: "x", count: 5000))\"}",
        .contentTooLarge, "body"
      ),
      (
        "/query", .post, "{\"vector\": \(good), \"where\": \"pid ==\"}", .unprocessableContent,
        "where"
      ),
      (
        "/query", .post, "{\"vector\": \(good), \"exclude_same_camera\": true}",
        .unprocessableContent, "probe_labels"
      ),
      (
        "/query", .post, "{\"vector\": \(good), \"probe_labels\": [{\"pid\": 1, \"camera\": 2}]}",
        .unprocessableContent, "probe_labels"
      ),
      ("/query", .post, "{\"vector\": \(good), \"exact\": 1}", .unprocessableContent, "exact"),
      ("/items/new", .put, "{", .badRequest, "body"),
      ("/items/new", .put, #"{"vector": [1, 2]}"#, .unprocessableContent, "vector"),
      ("/items/new", .put, #"{"pid": 2}"#, .unprocessableContent, "vector"),
      ("/items/new", .put, "{\"vector\": \(good), \"pid\": \"a\"}", .unprocessableContent, "pid"),
      ("/items/new", .put, "{\"vector\": \(good), \"colour\": 1}", .badRequest, "colour"),
      ("/items/%zz", .put, "{\"vector\": \(good)}", .badRequest, "name"),
      (
        "/items/\(String(repeating: "n", count: 600))", .put, "{\"vector\": \(good)}",
        .unprocessableContent, "name"
      ),
      ("/items/nobody", .delete, "", .notFound, "name"),
    ]
    let before = try await withServer(configuration) { client in
      try await client.execute(uri: "/info", method: .get) { String(buffer: $0.body) }
    }
    for (uri, method, text, status, field) in cases {
      let (got, answer) = try await withServer(configuration) { client in
        try await client.execute(
          uri: uri, method: method, body: text.isEmpty ? nil : ByteBuffer(string: text)
        ) { response in (response.status, String(buffer: response.body)) }
      }
      let error = try Self.json(answer)["error"] as? NSDictionary
      #expect(got == status, "\(method) \(uri) \(text.prefix(60))")
      #expect(error?["field"] as? String == field, "\(method) \(uri) \(text.prefix(60))")
      #expect(error?["status"] as? Int == Int(status.code))
      let message = error?["message"] as? String ?? ""
      #expect(!message.isEmpty)
      // The core's parameters read as this API's JSON fields, never as flags or Swift names.
      #expect(
        !message.contains("--") && !message.contains("probeLabels")
          && !message.contains("excludeSame"), "\(message)")
    }
    let after = try await withServer(configuration) { client in
      try await client.execute(uri: "/info", method: .get) { String(buffer: $0.body) }
    }
    #expect(before == after)
  }

  @Test(
    "with a token every route but /health needs it; read-only refuses writes; nothing is written")
  func access() async throws {
    let fixture = try Fixture()
    var configuration = fixture.configuration()
    configuration.token = "s3cret"
    let item = try Self.body(["vector": Self.vectors(fixture.probes)[0]])
    try await withServer(configuration) { client in
      #expect(try await client.execute(uri: "/health", method: .get).status == .ok)
      for headers: HTTPFields in [
        [:], [.authorization: "Bearer wrong"], [.authorization: "s3cret"],
      ] {
        let info = try Self.refusal(
          try await client.execute(uri: "/info", method: .get, headers: headers))
        #expect(info.0 == .unauthorized && info.1 == "Authorization")
        let put = try await client.execute(
          uri: "/items/sneaky", method: .put, headers: headers, body: item)
        #expect(put.status == .unauthorized)
      }
      let authorized: HTTPFields = [.authorization: "Bearer s3cret"]
      let info = try await client.execute(uri: "/info", method: .get, headers: authorized)
      let count = try Self.json(info)["count"] as? Int
      #expect(info.status == .ok && count == 600)
    }
    var readOnly = fixture.configuration()
    readOnly.readOnly = true
    try await withServer(readOnly) { client in
      #expect(
        try await client.execute(uri: "/items/sneaky", method: .put, body: item).status
          == .forbidden)
      #expect(try await client.execute(uri: "/items/item-1", method: .delete).status == .forbidden)
      let query = try await client.execute(uri: "/query", method: .post, body: item)
      #expect(query.status == .ok)
      let count = try Self.json(try await client.execute(uri: "/info", method: .get))["count"]
      #expect(count as? Int == 600)
    }
  }

  @Test(
    "PUT adds, updates or leaves an item by its percent-encoded name; DELETE removes it; the index follows"
  )
  func writes() async throws {
    let fixture = try Fixture()
    let vector = Self.vectors(fixture.probes)[2]
    try await withServer(fixture.configuration()) { client in
      let path = "/items/a%2Fb%20%C3%A9"
      var put = try await client.execute(
        uri: path, method: .put, body: try Self.body(["vector": vector, "pid": 77, "camera": 2]))
      var answer = try Self.json(put)
      #expect(put.status == .ok && answer["status"] as? String == "added")
      #expect(answer["name"] as? String == "a/b é")
      put = try await client.execute(
        uri: path, method: .put, body: try Self.body(["vector": vector, "pid": 77, "camera": 2]))
      answer = try Self.json(put)
      #expect(answer["status"] as? String == "unchanged")
      for search in ["exact", "lsh"] {
        let response = try await client.execute(
          uri: "/query", method: .post,
          body: try Self.body(["vector": vector, "k": 1, search: true]))
        let found = try #require(Self.json(response)["results"] as? [NSDictionary])
        let first = (found.first?["neighbors"] as? [NSDictionary])?.first
        #expect(first?["name"] as? String == "a/b é" && first?["pid"] as? Int == 77, "\(search)")
      }
      let shifted = vector.map { $0 + 1 }
      put = try await client.execute(
        uri: path, method: .put, body: try Self.body(["vector": shifted]))
      answer = try Self.json(put)
      #expect(answer["status"] as? String == "updated")
      #expect(try await client.execute(uri: path, method: .delete).status == .ok)
      #expect(try await client.execute(uri: path, method: .delete).status == .notFound)
      let count = try Self.json(try await client.execute(uri: "/info", method: .get))["count"]
      #expect(count as? Int == 600)
      let metrics = try await client.execute(uri: "/metrics", method: .get)
      let text = String(buffer: metrics.body)
      #expect(
        text.contains(
          #"tripindex_http_requests_total{method="PUT",route="/items/{name}",status="200"} 3"#))
      #expect(text.contains("tripindex_store_items 600"))
      #expect(text.contains("# HELP tripindex_store_items Live items in the store."))
      #expect(text.contains("tripindex_http_request_duration_seconds_bucket"))
    }
    let check = try TripIndexExecutable.run(["check", "--store", fixture.store])
    #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
  }

  /// Entries of the packed copy of the index's tables (`lsh.packed`), as `info --json` reports.
  private static func packedEntries(_ store: String) throws -> Int? {
    try TripIndexExecutable.entries(of: "lsh.packed", inStore: store)
  }

  @Test(
    "index --pack in another process while serve runs: the copy PUT removed is packed again, serve's LSH answers stay query --json's, later writes are found and the store stays sound"
  )
  func packedByAnotherProcess() async throws {
    let fixture = try Fixture()
    let probes = Self.vectors(fixture.probes)
    #expect(try Self.packedEntries(fixture.store) ?? 0 > 0)
    try await withServer(fixture.configuration()) { client in
      func lshAnswers() async throws -> [NSDictionary] {
        let response = try await client.execute(
          uri: "/query", method: .post,
          body: try Self.body([
            "vectors": probes, "k": 5, "lsh": true, "names": (0..<4).map { "probes#\($0)" },
          ]))
        return try #require(Self.json(response)["results"] as? [NSDictionary])
      }
      func nearest(_ answers: [NSDictionary], probe: Int) -> String? {
        ((answers[probe]["neighbors"] as? [NSDictionary])?.first)?["name"] as? String
      }
      let put = try await client.execute(
        uri: "/items/added-0", method: .put, body: try Self.body(["vector": probes[0]]))
      #expect(put.status == .ok)
      #expect(try Self.packedEntries(fixture.store) == 0)
      let unpacked = try await lshAnswers()
      let pack = try TripIndexExecutable.run(["index", "--store", fixture.store, "--pack"])
      #expect(pack.status == 0 && pack.stdout.contains("packed again"), "\(pack.stderr)")
      #expect(try Self.packedEntries(fixture.store) ?? 0 > 0)
      // Read through the copy the other process wrote: the same answers, the added item first.
      let packed = try await lshAnswers()
      #expect(packed == unpacked)
      #expect(packed == (try fixture.queryLines(["--lsh"])))
      #expect(nearest(packed, probe: 0) == "added-0")
      // A write after the pack removes the copy again, and is found.
      let second = try await client.execute(
        uri: "/items/added-1", method: .put, body: try Self.body(["vector": probes[1]]))
      #expect(second.status == .ok)
      #expect(try Self.packedEntries(fixture.store) == 0)
      #expect(nearest(try await lshAnswers(), probe: 1) == "added-1")
    }
    let check = try TripIndexExecutable.run(["check", "--store", fixture.store])
    #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
  }

  @Test(
    "serve refuses a bad limit or port before it opens anything: exit status 64, naming the flag",
    arguments: [
      ["--max-vectors", "0"], ["--max-body-bytes", "-1"], ["--max-k", "0"],
      ["--max-results", "0"], ["--inline-search-us", "-1"], ["--port", "70000"],
    ])
  func badFlags(_ flag: [String]) throws {
    let outcome = try TripIndexExecutable.run(
      ["serve", "--store", "/nonexistent/store", "--quiet"] + flag)
    #expect(outcome.status == 64, "\(outcome.stderr)")
    #expect(outcome.stderr.contains(flag[0]), "\(outcome.stderr)")
  }

  @Test(
    "the built binary under queries and writes: SIGTERM finishes what is in flight and exits 0; check passes and every acknowledged write is there"
  )
  func binaryStopsGracefully() throws {
    let fixture = try Fixture()
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try TripIndexExecutable.path)
    process.arguments = ["serve", "--store", fixture.store, "--port", "0", "--quiet"]
    let output = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    try process.run()
    // The first line says where it listens.
    var line = Data()
    while !line.contains(UInt8(ascii: "\n")) {
      let byte = output.fileHandleForReading.readData(ofLength: 1)
      guard !byte.isEmpty else { break }
      line += byte
    }
    let text = String(decoding: line, as: UTF8.self)
    let port = try #require(
      text.split(separator: ":").last.flatMap { Int($0.prefix { $0.isNumber }) }, "\(text)")
    let vectors = Self.vectors(fixture.probes)
    let query = Array(try JSONSerialization.data(withJSONObject: ["vectors": vectors, "k": 5]))
    // Plain threads with blocking sockets (Parallel.forEachChunk): parallel tests cannot starve
    // them as they can the concurrency pool. Chunk 0 writes, 1 and 2 query, 3 sends SIGTERM once
    // both kinds of request have been answered a few times (or after 60 s).
    let answered = AnsweredCounts()
    let outcomes = Mutex([(written: [String], failures: [String])]())
    let pid = process.processIdentifier
    Parallel.forEachChunk(of: 4, count: 4) { worker, _ in
      if worker == 3 {
        let started = ContinuousClock.now
        while started.duration(to: .now) < .seconds(60) {
          usleep(50_000)
          let counts = answered.counts.withLock { $0 }
          if counts.writes >= 20 && counts.queries >= 20 { break }
        }
        answered.stopping.withLock { $0 = true }
        kill(pid, SIGTERM)
        return
      }
      var written: [String] = []
      var failures: [String] = []
      var client = try? BlockingHTTPClient(port: port)
      var round = 0
      while !answered.stopping.withLock({ $0 }) && failures.count < 20 {
        round += 1
        do {
          let connection = try client ?? BlockingHTTPClient(port: port)
          client = connection
          let (path, method, body): (String, String, [UInt8]) =
            worker == 0
            ? (
              "/items/w-\(round)", "PUT",
              Array(
                try JSONSerialization.data(withJSONObject: [
                  "vector": vectors[round % 4].map { $0 + Double(round) }
                ]))
            ) : ("/query", "POST", query)
          let response = try connection.request(method, path, body: body)
          guard response.status == 200 else {
            failures.append("\(method) \(path): status \(response.status)")
            continue
          }
          if worker == 0 { written.append("w-\(round)") }
          answered.counts.withLock {
            if worker == 0 { $0.writes += 1 } else { $0.queries += 1 }
          }
        } catch {
          if answered.stopping.withLock({ $0 }) { break }
          failures.append("\(error)")
          client = nil
          usleep(50_000)
        }
      }
      outcomes.withLock { $0.append((written, failures)) }
    }
    let acknowledged = outcomes.withLock { $0.flatMap(\.written) }
    let failures = outcomes.withLock { $0.flatMap(\.failures) }
    process.waitUntilExit()
    #expect(process.terminationReason == .exit && process.terminationStatus == 0)
    #expect(
      !acknowledged.isEmpty && failures.isEmpty, "failed before the stop: \(failures.prefix(5))")
    let check = try TripIndexExecutable.run(["check", "--store", fixture.store])
    #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
    let store = try VectorStore.open(path: fixture.store, readOnly: true)
    let missing = try store.read { snapshot in
      try acknowledged.filter { try snapshot.id(named: $0) == nil }
    }
    #expect(missing.isEmpty, "acknowledged but not stored: \(missing.prefix(5))")
  }
}

/// Requests answered so far, by kind, shared by the load tasks.
private final class AnsweredCounts: Sendable {
  let counts = Mutex((writes: 0, queries: 0))
  /// Set just before SIGTERM: failures after it are the stop, not faults.
  let stopping = Mutex(false)
}
