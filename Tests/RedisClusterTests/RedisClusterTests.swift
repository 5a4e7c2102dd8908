import Foundation
import RedisCluster
import TestSupport
import Testing

/// The slot function against the cluster specification's examples.
@Suite struct HashSlotTests {
  @Test("CRC16 is XMODEM's (the specification's check value) and keys map to 16384 slots")
  func crc16() {
    #expect(HashSlot.crc16(Array("123456789".utf8)) == 0x31C3)
    #expect(HashSlot.of("123456789") == 0x31C3 % 16384)
    #expect(HashSlot.of("") == 0)
  }

  @Test("a hash tag (the first {…} that is not empty) decides the slot")
  func hashTags() {
    #expect(HashSlot.of("{user1000}.following") == HashSlot.of("{user1000}.followers"))
    #expect(HashSlot.of("{user1000}.following") == HashSlot.of("user1000"))
    // Only the first tag counts; an empty one means the whole key is hashed.
    #expect(HashSlot.of("foo{bar}{zap}") == HashSlot.of("bar"))
    #expect(HashSlot.of("foo{}{bar}") == Int(HashSlot.crc16(Array("foo{}{bar}".utf8)) % 16384))
    #expect(HashSlot.of("foo{{bar}}zap") == HashSlot.of("{bar"))
    #expect(HashSlot.of("foo{bar") == Int(HashSlot.crc16(Array("foo{bar".utf8)) % 16384))
  }

  @Test("endpoints read HOST:PORT and refuse anything else")
  func endpoints() {
    #expect(RedisEndpoint("127.0.0.1:7000") == RedisEndpoint(host: "127.0.0.1", port: 7000))
    #expect(RedisEndpoint("[::1]:7000") == RedisEndpoint(host: "::1", port: 7000))
    #expect(RedisEndpoint(host: "::1", port: 7000).description == "[::1]:7000")
    for bad in ["localhost", "host:0", "host:70000", ":7000", "host:port", "a/b:1"] {
      #expect(RedisEndpoint(bad) == nil, "\(bad)")
    }
  }
}

/// The client against a real local cluster (3 masters + 3 replicas), never a mock.
@Suite(.serialized) struct RedisClusterClientTests {
  /// One cluster for the suite's tests (moved slots included), stopped when the run ends.
  private static let shared = Result { try LocalRedis.cluster() }
  let cluster: LocalRedis

  init() throws { cluster = try Self.shared.get() }

  private func seeds(_ text: String) -> [RedisEndpoint] {
    text.split(separator: ",").compactMap { RedisEndpoint($0) }
  }

  private func client(retryLimit: Double = 10) throws -> RedisClusterClient {
    try RedisClusterClient(seeds: seeds(cluster.seeds), timeout: 2, retryLimit: retryLimit)
  }

  @Test("a pipeline of writes and reads across every master: each key on its slot's master")
  func pipelineAcrossMasters() throws {
    let client = try client()
    #expect(client.masters.count == 3)
    let keys = (0..<3000).map { "key:\($0)" }
    let written = try client.pipeline(keys.map { RedisCommand("SET", $0, "value of \($0)") })
    #expect(written.allSatisfy { $0 == .status("OK") })
    let read = try client.pipeline(keys.map { RedisCommand("GET", $0) })
    #expect(read.map(\.text) == keys.map { "value of \($0)" })
    // Every master holds the keys of its own slots, and no others.
    let sizes = try client.onEveryMaster(RedisCommand("DBSIZE", keyIndex: nil))
    #expect(sizes.count == 3 && sizes.allSatisfy { ($0.reply.integer ?? 0) > 0 })
    #expect(sizes.reduce(0) { $0 + ($1.reply.integer ?? 0) } == 3000)
    for (node, size) in sizes {
      let mine = keys.filter { client.master(ofSlot: HashSlot.of($0)) == node }
      #expect(Int64(mine.count) == size.integer)
      let sample = try #require(mine.first)
      #expect(
        try RedisClusterClient.direct(node, RedisCommand("GET", sample)).text
          == "value of \(sample)")
      let elsewhere = try #require(keys.first { !mine.contains($0) })
      #expect(
        try RedisClusterClient.direct(node, RedisCommand("GET", elsewhere)).errorText?.hasPrefix(
          "MOVED") == true)
    }
    // Binary values come back byte for byte.
    let bytes: [UInt8] = (0..<256).map { UInt8($0) } + [0, 0, 13, 10]
    #expect(try client.send(RedisCommand("SET", "binary", bytes)) == .status("OK"))
    #expect(try client.send(RedisCommand("GET", "binary")).bytes == bytes)
    #expect(try client.send(RedisCommand("GET", "absent")) == .null)
    // An error reply of the command itself is a reply, not a failure.
    #expect(try client.send(RedisCommand("INCR", "key:1")).errorText?.hasPrefix("ERR") == true)
  }

  /// Moves `slot` from its master to `target` as redis-cli does: importing/migrating, keys
  /// migrated (`onlyKeys`, or every key of the slot), then (unless `finish` is false) the owner
  /// announced to every master.
  private func migrate(
    slot: Int, to target: RedisEndpoint, with client: RedisClusterClient,
    onlyKeys: [String]? = nil, finish: Bool = true
  ) throws {
    let source = try #require(client.master(ofSlot: slot))
    let sourceID = try #require(try rawCommand(source, ["CLUSTER", "MYID"]).text)
    let targetID = try #require(try rawCommand(target, ["CLUSTER", "MYID"]).text)
    #expect(
      try rawCommand(target, ["CLUSTER", "SETSLOT", String(slot), "IMPORTING", sourceID])
        == .status("OK"))
    #expect(
      try rawCommand(source, ["CLUSTER", "SETSLOT", String(slot), "MIGRATING", targetID])
        == .status("OK"))
    let keys =
      try onlyKeys
      ?? (rawCommand(source, ["CLUSTER", "GETKEYSINSLOT", String(slot), "100000"]).elements ?? [])
      .compactMap(\.text)
    for key in keys {
      let reply = try rawCommand(
        source, ["MIGRATE", target.host, String(target.port), key, "0", "5000"])
      #expect(reply == .status("OK"), "\(reply)")
    }
    guard finish else { return }
    // The new owner first, then the old one, then the rest (as redis-cli does).
    for node in [target, source] + client.masters.filter({ $0 != target && $0 != source }) {
      #expect(
        try rawCommand(node, ["CLUSTER", "SETSLOT", String(slot), "NODE", targetID])
          == .status("OK"))
    }
  }

  /// One command on one node, outside any routing.
  private func rawCommand(_ node: RedisEndpoint, _ words: [String]) throws -> RedisReply {
    try RedisClusterClient.direct(node, RedisCommand(words[0], arguments: Array(words.dropFirst())))
  }

  @Test("MOVED: a slot moved to another master is followed, and the map learnt again")
  func movedSlot() throws {
    let client = try client()
    let key = "{moving}.a"
    let slot = HashSlot.of(key)
    #expect(try client.send(RedisCommand("SET", key, "before")) == .status("OK"))
    let source = try #require(client.master(ofSlot: slot))
    let target = try #require(client.masters.first { $0 != source })
    // Another client moves it; this one still has the old map.
    let mover = try self.client()
    try migrate(slot: slot, to: target, with: mover)
    #expect(client.master(ofSlot: slot) == source)
    #expect(try client.send(RedisCommand("GET", key)).text == "before")
    #expect(client.master(ofSlot: slot) == target)
    #expect(try client.send(RedisCommand("SET", key, "after")) == .status("OK"))
    #expect(try rawCommand(target, ["GET", key]).text == "after")
  }

  @Test("ASK: during a migration a key already moved is read from the importing node")
  func askDuringMigration() throws {
    let client = try client()
    let moved = "{asking}.moved"
    let stays = "{asking}.stays"
    let slot = HashSlot.of(moved)
    _ = try client.pipeline([RedisCommand("SET", moved, "m"), RedisCommand("SET", stays, "s")])
    let source = try #require(client.master(ofSlot: slot))
    let target = try #require(client.masters.first { $0 != source })
    try migrate(slot: slot, to: target, with: client, onlyKeys: [moved], finish: false)
    // The source answers ASK for the moved key only; the map does not change.
    #expect(try rawCommand(source, ["GET", moved]).errorText?.hasPrefix("ASK") == true)
    let replies = try client.pipeline([RedisCommand("GET", moved), RedisCommand("GET", stays)])
    #expect(replies.map(\.text) == ["m", "s"])
    #expect(client.master(ofSlot: slot) == source)
    // Finish the migration: then MOVED takes over.
    try migrate(slot: slot, to: target, with: client)
    #expect(try rawCommand(source, ["GET", stays]).errorText?.hasPrefix("MOVED") == true)
    #expect(try client.send(RedisCommand("GET", stays)).text == "s")
    #expect(client.master(ofSlot: slot) == target)
  }

  @Test("a transaction runs its commands on one slot together, or none of them")
  func transactions() throws {
    let client = try client()
    let results = try client.transaction([
      RedisCommand("SET", "{item:7}.name", "seven"), RedisCommand("INCR", "{item:7}.count"),
      RedisCommand("GET", "{item:7}.name"),
    ])
    #expect(results == [.status("OK"), .integer(1), .bytes(Array("seven".utf8))])
    // Keys of different slots are refused before anything is sent.
    #expect(throws: RedisError.self) {
      _ = try client.transaction([RedisCommand("SET", "a", "1"), RedisCommand("SET", "b", "2")])
    }
    // A refused command inside fails the transaction, with the node named, and writes nothing.
    #expect {
      _ = try client.transaction([
        RedisCommand("SET", "{item:8}.x", "1"), RedisCommand("INCR", "{item:8}.x", "oops"),
      ])
    } throws: { error in
      "\(error)".contains("redis 127.0.0.1:") && "\(error)".contains("wrong number")
    }
    #expect(try client.send(RedisCommand("GET", "{item:8}.x")) == .null)
  }

  @Test("a transaction acknowledged by replicas (WAIT on its connection), or said not to be")
  func replicatedTransactions() throws {
    let client = try client()
    #expect(try client.fewestReplicas() == 1)
    let done = try client.transaction(
      [RedisCommand("SET", "{wait}.a", "1"), RedisCommand("SET", "{wait}.b", "2")], replicas: 1)
    #expect(done == [.status("OK"), .status("OK")])
    // Asking for more replicas than exist: it ran on the master, and the error says so.
    #expect {
      _ = try client.transaction(
        [RedisCommand("SET", "{wait}.a", "3")], replicas: 2, replicationTimeout: 0.2)
    } throws: { error in
      let error = error as? RedisError
      return error?.kind == .replication && error?.description.contains("1 of the 2") == true
        && error?.description.contains("ran on the master") == true
    }
    #expect(try client.send(RedisCommand("GET", "{wait}.a")).text == "3")
  }

  @Test("a script runs on the node of its keys' slot (EVAL routed by its first key)")
  func scripts() throws {
    let client = try client()
    let script =
      "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('INCRBY', KEYS[2], ARGV[2])"
    let run = RedisCommand("EVAL", script, 2, "{lua}.name", "{lua}.count", "x", 5, keyIndex: 3)
    #expect(try client.send(run) == .integer(5))
    #expect(try client.send(run) == .integer(10))
    #expect(try client.send(RedisCommand("GET", "{lua}.name")).text == "x")
  }

  @Test("every key matching a pattern, from every master")
  func scanning() throws {
    let client = try client()
    let keys = (0..<500).map { "scanned:\($0)" }
    _ = try client.pipeline(keys.map { RedisCommand("SET", $0, "1") })
    var found: [String] = []
    try client.forEachKey(matching: "scanned:*", batch: 50) { batch in
      found += batch.map { String(decoding: $0, as: UTF8.self) }
    }
    #expect(found.sorted() == keys.sorted())
  }

  @Test("a dead first seed falls back to the next; every unreachable seed is named")
  func seedsFallBack() throws {
    let dead = RedisEndpoint(host: "127.0.0.1", port: cluster.basePort + 9)
    let live = try #require(seeds(cluster.seeds).first)
    let client = try RedisClusterClient(seeds: [dead, live], timeout: 2)
    #expect(client.masters.count == 3)
    #expect {
      _ = try RedisClusterClient(seeds: [dead], timeout: 2)
    } throws: { error in
      let error = error as? RedisError
      return error?.kind == .connection && error?.description.contains("\(dead)") == true
        && error?.description.contains("refused") == true
    }
  }
}

/// What a client says about servers that are not a usable cluster.
@Suite(.serialized) final class RedisEndpointErrorTests {
  let server: LocalRedis

  init() throws { server = try LocalRedis.standalone(password: "s3cret") }
  deinit { server.stop() }

  private var endpoint: RedisEndpoint { RedisEndpoint(server.seeds)! }

  @Test("a Redis without cluster mode: the message says cluster")
  func notCluster() throws {
    #expect {
      _ = try RedisClusterClient(seeds: [endpoint], password: "s3cret", timeout: 2)
    } throws: { error in
      let error = error as? RedisError
      return error?.kind == .notCluster && error?.description.contains("cluster") == true
        && error?.description.contains("\(endpoint)") == true
    }
  }

  @Test("a missing or wrong password is named as such, never printed")
  func passwords() throws {
    #expect {
      _ = try RedisClusterClient(seeds: [endpoint], timeout: 2)
    } throws: { error in
      let error = error as? RedisError
      return error?.kind == .authentication
        && error?.description.contains("TRIPINDEX_REDIS_PASSWORD") == true
    }
    #expect {
      _ = try RedisClusterClient(seeds: [endpoint], password: "wrong-guess", timeout: 2)
    } throws: { error in
      let error = error as? RedisError
      return error?.kind == .authentication && error?.description.contains("refused") == true
        && error?.description.contains("wrong-guess") == false
    }
  }
}

/// A node in cluster mode that no cluster has joined: no slot is served.
@Suite(.serialized) final class RedisUnformedClusterTests {
  let node: LocalRedis

  init() throws { node = try LocalRedis.unjoinedNode() }
  deinit { node.stop() }

  @Test("slots no node serves: the message counts them, names the ranges and says what to do")
  func uncoveredSlots() throws {
    let endpoint = try #require(RedisEndpoint(node.seeds))
    #expect {
      _ = try RedisClusterClient(seeds: [endpoint], timeout: 2)
    } throws: { error in
      let error = error as? RedisError
      return error?.kind == .clusterDown
        && error?.description.contains("serves 0 of 16384 slots (none serves 0-16383)") == true
        && error?.description.contains("wait until it has formed") == true
        && error?.description.contains("\(endpoint)") == true
    }
  }
}

/// The client across a failover: a master killed, its replica promoted, work goes on.
@Suite(.serialized) final class RedisFailoverTests {
  let cluster: LocalRedis

  init() throws { cluster = try LocalRedis.cluster() }
  deinit { cluster.stop() }

  @Test("kill -9 of a master: reads and idempotent writes of its slots succeed after failover")
  func masterKilled() throws {
    let seeds = cluster.seeds.split(separator: ",").compactMap { RedisEndpoint($0) }
    let client = try RedisClusterClient(seeds: seeds, timeout: 1, retryLimit: 30)
    let keys = (0..<600).map { "failover:\($0)" }
    _ = try client.pipeline(keys.map { RedisCommand("SET", $0, $0) })
    // The writes are on the replicas before the master dies (each replica's acknowledged offset
    // has reached its master's).
    try waitForReplicas(client)
    let victim = try #require(client.master(ofSlot: HashSlot.of(keys[0])))
    try cluster.kill(port: victim.port)
    let started = Date()
    let read = try client.pipeline(keys.map { RedisCommand("GET", $0) })
    #expect(read.map(\.text) == keys)
    #expect(client.master(ofSlot: HashSlot.of(keys[0])) != victim)
    #expect(try client.send(RedisCommand("SET", keys[0], "after")) == .status("OK"))
    #expect(Date().timeIntervalSince(started) < 30)
    // The old master comes back as a replica; nothing changes for the client.
    try cluster.restart(port: victim.port)
    #expect(try client.send(RedisCommand("GET", keys[0])).text == "after")
  }

  private func waitForReplicas(_ client: RedisClusterClient) throws {
    for _ in 0..<100 {
      let infos = try client.onEveryMaster(RedisCommand("INFO", "replication", keyIndex: nil))
      let caughtUp = infos.allSatisfy { info in
        let text = info.reply.text ?? ""
        func value(_ name: String) -> String? {
          text.split(whereSeparator: \.isNewline).first { $0.hasPrefix(name) }.map {
            String($0.dropFirst(name.count))
          }
        }
        guard let offset = value("master_repl_offset:"), let replica = value("slave0:") else {
          return false
        }
        return replica.contains("offset=\(offset),")
      }
      if caughtUp { return }
      usleep(50_000)
    }
    Issue.record("the replicas did not catch up with their masters")
  }
}

/// Store addresses as the commands will take them.
@Suite struct RedisStoreAddressTests {
  @Test("seeds, name and password are read; the password never shows")
  func reading() throws {
    let address = try RedisStoreAddress("redis://:pa55@10.0.0.1:7000,node-b:7001/faces")
    #expect(
      address.seeds == [
        RedisEndpoint(host: "10.0.0.1", port: 7000), RedisEndpoint(host: "node-b", port: 7001),
      ])
    #expect(address.name == "faces")
    #expect(address.password == "pa55")
    #expect(address.description == "redis://10.0.0.1:7000,node-b:7001/faces")
    // From the environment only when the address has none.
    let environment = [RedisStoreAddress.passwordVariable: "from-env"]
    #expect(try RedisStoreAddress("redis://h:1/s", environment: environment).password == "from-env")
    #expect(
      try RedisStoreAddress("redis://:mine@h:1/s", environment: environment).password == "mine")
    #expect(try RedisStoreAddress("redis://h:1/s").password == nil)
    #expect(RedisStoreAddress.isRedis("redis://h:1/s") && !RedisStoreAddress.isRedis("/data/store"))
  }

  @Test(
    "replies are read as sent, and an array declaring more elements than any reply holds is refused before hiredis allocates for it"
  )
  func hostileReplies() {
    func read(_ text: String) -> (replies: [RedisReply], refused: Bool) {
      Array(text.utf8).withUnsafeBytes { RedisReply.replies(in: $0, limit: 10) }
    }
    func replies(_ text: String) -> [RedisReply] { read(text).replies }
    let sent = replies("*2\r\n$3\r\nabc\r\n:42\r\n+OK\r\n-ERR no\r\n$-1\r\n")
    #expect(sent.count == 4)
    #expect(sent.first?.elements?.first?.text == "abc" && sent.first?.elements?.last?.integer == 42)
    #expect(sent[1] == .status("OK") && sent[2].errorText == "ERR no" && sent[3] == .null)
    // 888,888,880 elements: hiredis 0.14 alone asks for 7.1 GB at the header.
    // (Refused, not waited on: without the limit the reader would wait for the elements.)
    #expect(read("*888888880\r\n:1\r\n").refused)
    #expect(read("*\(maximumReplyElements + 1)\r\n").refused)
    let largest = read("*\(maximumReplyElements)\r\n:1\r\n")
    #expect(!largest.refused && largest.replies.isEmpty)
    #expect(replies("*3\r\n:1\r\n:2\r\n:3\r\n").first?.elements?.count == 3)
  }

  @Test("a malformed address says which part is wrong and what is expected, without the password")
  func malformed() {
    let cases = [
      ("redis://h:1", "no /NAME"), ("redis://h:1/", "store name"), ("redis://h/s", "not HOST:PORT"),
      ("redis://h:1,,h:2/s", "not HOST:PORT"), ("redis://user:secret@h:1/s", ":PASSWORD"),
      ("redis://h:1/a b", "store name"), ("redis://h:1/a{b}", "store name"),
      ("http://h:1/s", "not a Redis store address"),
    ]
    for (text, complaint) in cases {
      #expect {
        _ = try RedisStoreAddress(text)
      } throws: { error in
        let message = "\(error)"
        return message.contains(complaint) && message.contains("expected redis://")
          && !message.contains("secret")
      }
    }
  }
}
