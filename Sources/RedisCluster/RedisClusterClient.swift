import CHiredis
import Plumbing
import Synchronization

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A client of one Redis Cluster: finds which master serves each slot (`CLUSTER SLOTS`, from the
/// first seed that answers), sends each command to the node its key's slot lives on, and follows
/// the cluster when it changes: a `MOVED` reply refreshes the map and sends the command again, an
/// `ASK` reply sends it once more to the node named, after `ASKING`. Commands for one node go as
/// one pipeline; every node's pipeline is written before any reply is read, so the nodes work at
/// once.
///
/// Failures that pass (a broken connection, a failover under way: `CLUSTERDOWN`, `TRYAGAIN`,
/// `MASTERDOWN`, `LOADING`) are retried with a fresh map until ``retryLimit`` seconds have passed,
/// for commands the caller says are idempotent; others fail at once with the node named.
///
/// Thread-safe: connections are pooled per node and lent to one thread at a time.
public final class RedisClusterClient: Sendable {
  /// The nodes given for discovery.
  public let seeds: [RedisEndpoint]
  /// Seconds allowed for connecting and for each read or write.
  public let timeout: Double
  /// Seconds an operation keeps retrying failures that pass.
  public let retryLimit: Double
  private let password: String?
  private let map: Mutex<ClusterMap>
  private let idle = Mutex<[RedisEndpoint: [RedisConnection]]>([:])

  /// Connects to the cluster through the first seed that answers.
  ///
  /// - Parameters:
  ///   - seeds: nodes to ask for the cluster's layout, in order (a dead one is skipped).
  ///   - password: sent with AUTH on every connection when given.
  ///   - timeout: seconds for connecting and for each read or write.
  ///   - retryLimit: seconds to keep retrying failures that pass (longer than a failover).
  /// - Throws: ``RedisError``: `connection` when no seed answers (each named with its reason),
  ///   `notCluster` for a Redis without cluster mode, `authentication`, `clusterDown` when some
  ///   slots have no node.
  public init(
    seeds: [RedisEndpoint], password: String? = nil, timeout: Double = 5, retryLimit: Double = 60
  ) throws(RedisError) {
    guard !seeds.isEmpty else {
      throw RedisError(.connection, endpoint: nil, "no cluster node given")
    }
    self.seeds = seeds
    self.password = password
    self.timeout = timeout
    self.retryLimit = retryLimit
    _ = Self.replyMemory
    map = Mutex(try Self.discover(asking: seeds, password: password, timeout: timeout))
  }

  /// Keeps the memory of replies in the process's heap, once per process: a vector block's
  /// reply (about 128 KiB, read once by hiredis and once more into Swift) reached glibc's
  /// threshold for a mapping of its own, so every block read mapped, faulted in and unmapped
  /// its pages twice, and the heap's top was trimmed after every pipeline; reading a store of a
  /// million 128-d vectors took 0.87 s with that and 0.49 s with the heap kept (measured). The
  /// heap keeps at most 64 MiB free before returning memory; allocations from 4 MiB are still
  /// mapped.
  private static let replyMemory: Void = {
    #if os(Linux)
      _ = mallopt(M_MMAP_THRESHOLD, 4 << 20)
      _ = mallopt(M_TRIM_THRESHOLD, 64 << 20)
      _ = mallopt(M_TOP_PAD, 16 << 20)
    #endif
  }()

  /// The masters, as the client last learnt them.
  public var masters: [RedisEndpoint] { map.withLock { $0.masters } }

  /// The master serving `slot`, as the client last learnt it.
  public func master(ofSlot slot: Int) -> RedisEndpoint? {
    map.withLock { $0.master(ofSlot: slot) }
  }

  /// Sends one command to the node its key's slot lives on.
  ///
  /// - Parameters:
  ///   - command: the command.
  ///   - idempotent: whether running it twice does no harm (then a broken connection is retried).
  /// - Returns: its reply (an error reply of the command itself is a reply, not a throw).
  /// - Throws: ``RedisError`` when no node answers in ``retryLimit``.
  public func send(_ command: RedisCommand, idempotent: Bool = true) throws(RedisError)
    -> RedisReply
  {
    try pipeline([command], idempotent: idempotent)[0]
  }

  /// Sends commands, each to the node its key's slot lives on, one pipeline per node, and
  /// returns their replies in the commands' order.
  ///
  /// - Parameters:
  ///   - commands: the commands (of any slots; keyless ones go to any master).
  ///   - idempotent: whether running one twice does no harm.
  /// - Returns: one reply per command.
  /// - Throws: ``RedisError`` when a node cannot be reached or the cluster cannot serve a slot
  ///   within ``retryLimit`` (at once for a broken connection when not idempotent).
  public func pipeline(_ commands: [RedisCommand], idempotent: Bool = true) throws(RedisError)
    -> [RedisReply]
  {
    var replies = [RedisReply](repeating: .null, count: commands.count)
    var pending = Array(commands.indices)
    var asking: [Int: RedisEndpoint] = [:]
    let deadline = MonotonicClock.now() + retryLimit
    var rounds = 0
    while !pending.isEmpty {
      let current = map.withLock { $0 }
      var retry = Retry()
      // Group by node, in the order nodes are first met.
      var groups: [(node: RedisEndpoint, indices: [Int])] = []
      for index in pending {
        guard
          let node = asking[index]
            ?? (commands[index].slot.map { current.master(ofSlot: $0) } ?? current.masters.first)
        else {
          retry.add(
            index,
            RedisError(
              .clusterDown, endpoint: nil,
              "no node serves slot \(commands[index].slot ?? 0) (is the cluster down?)"),
            refresh: true)
          continue
        }
        if let group = groups.firstIndex(where: { $0.node == node }) {
          groups[group].indices.append(index)
        } else {
          groups.append((node, [index]))
        }
      }
      // Write every node's pipeline, then read them all.
      var inFlight: [(connection: RedisConnection, indices: [Int], count: Int)] = []
      for group in groups {
        var batch: [RedisCommand] = []
        for index in group.indices {
          if asking[index] != nil { batch.append(RedisCommand("ASKING", keyIndex: nil)) }
          batch.append(commands[index])
        }
        do throws(RedisError) {
          let connection = try checkout(group.node)
          try connection.write(batch)
          inFlight.append((connection, group.indices, batch.count))
        } catch {
          guard idempotent else { throw error }
          for index in group.indices { retry.add(index, error, refresh: true) }
        }
      }
      for (connection, indices, count) in inFlight {
        let raw: [RedisReply]
        do throws(RedisError) {
          raw = try connection.readReplies(count)
        } catch {
          guard idempotent else { throw error }
          for index in indices { retry.add(index, error, refresh: true) }
          continue
        }
        checkin(connection)
        var position = 0
        for index in indices {
          if asking[index] != nil { position += 1 }
          let reply = raw[position]
          position += 1
          asking[index] = nil
          replies[index] = reply
          guard let text = reply.errorText else { continue }
          switch Redirection(text, from: connection.endpoint) {
          case .moved:
            retry.add(index, nil, refresh: true)
          case .ask(let node):
            asking[index] = node
            retry.add(index, nil, refresh: false)
          case .transient:
            retry.add(
              index,
              RedisError(
                .clusterDown, endpoint: connection.endpoint,
                "the cluster cannot serve this now (\(RedisConnection.firstLine(text)))"),
              refresh: true, wait: true)
          case nil:
            continue
          }
        }
      }
      pending = retry.indices
      guard !pending.isEmpty else { break }
      rounds += 1
      guard MonotonicClock.now() < deadline, rounds < 10_000 else {
        throw retry.error
          ?? RedisError(
            .redirections, endpoint: nil,
            "the cluster kept redirecting the commands for \(TextFormatting.seconds(retryLimit)) (a slot moving back and forth?)"
          )
      }
      if retry.wait || retry.error != nil { Self.pause(seconds: min(0.25, 0.02 * Double(rounds))) }
      if retry.refresh { refreshMap() }
    }
    return replies
  }

  /// Runs commands as one transaction (`MULTI` … `EXEC`) on the node serving their slot: all
  /// of them or none. Every command's key must be in one slot (give them one hash tag).
  ///
  /// A transaction that did not run (the slot moved or is migrating, the cluster is failing
  /// over, the master cannot be reached before anything is sent) is sent again, with the map
  /// learnt again, until ``retryLimit``. With `replicas`, `WAIT` follows `EXEC` on the same
  /// connection, and the transaction counts as done only when that many replicas have it.
  ///
  /// - Parameters:
  ///   - commands: the commands.
  ///   - replicas: replicas that must acknowledge the transaction (0: the master's word is enough).
  ///   - replicationTimeout: seconds to wait for them.
  /// - Returns: the commands' replies.
  /// - Throws: ``RedisError``: `reply` when a command was refused (then none ran); `replication`
  ///   when fewer replicas acknowledged it in time (it ran on the master); `connection` or
  ///   `timeout` when the connection failed after the transaction was sent (it may or may not
  ///   have run).
  public func transaction(
    _ commands: [RedisCommand], replicas: Int = 0, replicationTimeout: Double = 5
  ) throws(RedisError) -> [RedisReply] {
    let batch =
      [RedisCommand("MULTI", keyIndex: nil)] + commands + [RedisCommand("EXEC", keyIndex: nil)]
    return try runAtomically(
      batch, slot: try Self.oneSlot(commands.compactMap(\.slot)), replicas: replicas,
      replicationTimeout: replicationTimeout
    ) { (replies, node) throws(RedisError) -> Attempt<[RedisReply]> in
      // A command refused while queueing aborts EXEC: nothing ran.
      if let text = replies.dropFirst().prefix(commands.count).lazy.compactMap(\.errorText).first {
        if Redirection(text, from: node) != nil { return .notRun(text) }
        throw RedisError(.reply, endpoint: node, RedisConnection.firstLine(text))
      }
      switch replies[commands.count + 1] {
      case .array(let results): return .done(results)
      case .error(let text) where Redirection(text, from: node) != nil: return .notRun(text)
      case let other:
        throw RedisError(
          .reply, endpoint: node,
          other.errorText.map(RedisConnection.firstLine) ?? "EXEC answered in an unexpected shape")
      }
    }
  }

  /// Runs a Lua script (`EVAL`) on the node serving its keys' slot: Redis runs a script
  /// atomically, nothing else in between. Retried, and acknowledged by replicas, as
  /// ``transaction(_:replicas:replicationTimeout:)`` is. A script that fails part-way keeps the
  /// writes it made before failing (Redis does not roll scripts back): check first, then write.
  ///
  /// - Parameters:
  ///   - source: the script.
  ///   - keys: the keys it touches (`KEYS`), all of one slot.
  ///   - arguments: its other arguments (`ARGV`).
  ///   - replicas: replicas that must acknowledge it.
  ///   - replicationTimeout: seconds to wait for them.
  /// - Returns: the script's reply (an error the script returned is a reply, not a throw).
  /// - Throws: ``RedisError`` as ``transaction(_:replicas:replicationTimeout:)``.
  public func script(
    _ source: String, keys: [any RedisArgument], arguments: [any RedisArgument] = [],
    replicas: Int = 0, replicationTimeout: Double = 5
  ) throws(RedisError) -> RedisReply {
    let command = RedisCommand(
      "EVAL", arguments: [source, keys.count] + keys + arguments, keyIndex: 3)
    return try runAtomically(
      [command],
      slot: try Self.oneSlot(keys.map { HashSlot.of($0.redisBytes) }), replicas: replicas,
      replicationTimeout: replicationTimeout
    ) { (replies, node) throws(RedisError) -> Attempt<RedisReply> in
      if let text = replies[0].errorText, Redirection(text, from: node) != nil {
        return .notRun(text)
      }
      return .done(replies[0])
    }
  }

  /// What one attempt of ``runAtomically(_:slot:replicas:replicationTimeout:_:)`` found.
  private enum Attempt<Result> {
    /// It ran: the result.
    case done(Result)
    /// It did not run (redirected, the cluster failing over): the server's words.
    case notRun(String)
  }

  /// The one slot all of an atomic write's keys are in.
  private static func oneSlot(_ keySlots: [Int]) throws(RedisError) -> Int {
    let slots = Set(keySlots)
    guard slots.count == 1, let slot = slots.first else {
      throw RedisError(
        .reply, endpoint: nil,
        "an atomic write's keys must share one slot (they span \(slots.count)); give them one hash tag"
      )
    }
    return slot
  }

  /// Sends `batch` to the master of `slot` on one connection (then `WAIT`, with `replicas`),
  /// and again, with the map learnt again, whenever `interpret` says it did not run, until
  /// ``retryLimit``.
  private func runAtomically<Result>(
    _ batch: [RedisCommand], slot: Int, replicas: Int, replicationTimeout: Double,
    _ interpret: ([RedisReply], RedisEndpoint) throws(RedisError) -> Attempt<Result>
  ) throws(RedisError) -> Result {
    var batch = batch
    if replicas > 0 {
      batch.append(
        RedisCommand("WAIT", replicas, Int((replicationTimeout * 1000).rounded()), keyIndex: nil))
    }
    let deadline = MonotonicClock.now() + retryLimit
    var rounds = 0
    var lastFailure: RedisError?
    while true {
      if rounds > 0 {
        guard MonotonicClock.now() < deadline else {
          throw lastFailure ?? RedisError(.redirections, endpoint: nil, "slot \(slot) kept moving")
        }
        Self.pause(seconds: min(0.25, 0.02 * Double(rounds)))
        refreshMap()
      }
      rounds += 1
      guard let node = master(ofSlot: slot) else {
        lastFailure = RedisError(.clusterDown, endpoint: nil, "no node serves slot \(slot)")
        continue
      }
      let connection: RedisConnection
      do throws(RedisError) {
        connection = try checkout(node)
      } catch {
        // Nothing was sent: safe to try again.
        guard error.isTransient else { throw error }
        lastFailure = error
        continue
      }
      let replies: [RedisReply]
      do throws(RedisError) {
        // WAIT may block up to its own timeout: reads wait that long too.
        replies = try connection.withTimeout(max(timeout, replicationTimeout + timeout)) {
          () throws(RedisError) in try connection.run(batch)
        }
      } catch {
        throw RedisError(
          error.kind, endpoint: node,
          "\(error.message); the write may or may not have run (run the work again: it must be idempotent)"
        )
      }
      checkin(connection)
      switch try interpret(replies, node) {
      case .notRun(let text):
        lastFailure = RedisError(
          .clusterDown, endpoint: node,
          "slot \(slot) could not be served (\(RedisConnection.firstLine(text)))")
        continue
      case .done(let result):
        if replicas > 0 {
          let acknowledged = replies.last?.integer ?? 0
          guard acknowledged >= replicas else {
            throw RedisError(
              .replication, endpoint: node,
              "the write ran on the master, but \(acknowledged) of the \(replicas) replicas asked for acknowledged it within \(TextFormatting.seconds(replicationTimeout)) (a replica down or lagging?); it could be lost if the master died now"
            )
          }
        }
        return result
      }
    }
  }

  /// The fewest replicas any master has, as the cluster is configured (`CLUSTER NODES`; a
  /// replica still syncing counts): the most a write can ask to be acknowledged by everywhere.
  ///
  /// - Throws: ``RedisError`` when no master answers.
  public func fewestReplicas() throws(RedisError) -> Int {
    let reply = try send(RedisCommand("CLUSTER", "NODES", keyIndex: nil))
    guard let text = reply.text, reply.errorText == nil else {
      throw RedisError(.reply, endpoint: nil, "CLUSTER NODES answered in an unexpected shape")
    }
    // Lines: id host:port@bus flags master-id …; a replica's master-id names its master.
    var replicas: [Substring: Int] = [:]
    for line in text.split(whereSeparator: \.isNewline) {
      let fields = line.split(separator: " ")
      guard fields.count >= 4 else { continue }
      let flags = fields[2].split(separator: ",")
      if flags.contains("master") && !flags.contains("fail") {
        replicas[fields[0], default: 0] += 0
      } else if flags.contains("slave") && !flags.contains("fail") {
        replicas[fields[3], default: 0] += 1
      }
    }
    return replicas.values.min() ?? 0
  }

  /// Calls `body` with every key of every master that matches `pattern` (`SCAN … MATCH`), a
  /// batch at a time. Keys added or removed meanwhile may or may not be seen, as `SCAN` says.
  ///
  /// - Parameters:
  ///   - pattern: a glob (`store:*`); a hash tag in it does not narrow the scan.
  ///   - batch: keys asked for per `SCAN` call.
  ///   - body: receives each batch of keys.
  /// - Throws: ``RedisError`` when a master cannot be reached, or what `body` throws.
  public func forEachKey(
    matching pattern: String, batch: Int = 1000, _ body: ([[UInt8]]) throws -> Void
  ) throws {
    for node in masters {
      var cursor = "0"
      repeat {
        let connection = try checkout(node)
        let reply = try connection.run([
          RedisCommand("SCAN", cursor, "MATCH", pattern, "COUNT", batch, keyIndex: nil)
        ])[0]
        checkin(connection)
        guard let parts = reply.elements, parts.count == 2, let next = parts[0].text,
          let keys = parts[1].elements
        else {
          throw RedisError(
            .reply, endpoint: node,
            reply.errorText.map(RedisConnection.firstLine) ?? "SCAN answered in an unexpected shape"
          )
        }
        try body(keys.compactMap(\.bytes))
        cursor = next
      } while cursor != "0"
    }
  }

  /// Sends one command to every master.
  ///
  /// - Parameter command: a command that concerns each node (its key, if any, is ignored).
  /// - Returns: each master with its reply.
  /// - Throws: ``RedisError`` when a master cannot be reached.
  public func onEveryMaster(_ command: RedisCommand) throws(RedisError) -> [(
    node: RedisEndpoint, reply: RedisReply
  )] {
    var keyless = command
    keyless.keyIndex = nil
    var inFlight: [RedisConnection] = []
    for node in masters {
      let connection = try checkout(node)
      try connection.write([keyless])
      inFlight.append(connection)
    }
    var replies: [(RedisEndpoint, RedisReply)] = []
    for connection in inFlight {
      replies.append((connection.endpoint, try connection.readReplies(1)[0]))
      checkin(connection)
    }
    return replies
  }

  /// Sends one command to one node on a connection of its own, outside any routing (for
  /// administration: `CLUSTER SETSLOT`, `MIGRATE`, a node's own `INFO`).
  ///
  /// - Parameters:
  ///   - node: the node.
  ///   - command: the command.
  ///   - password: sent with AUTH first, when given.
  ///   - timeout: seconds for connecting and for each read or write.
  /// - Returns: its reply.
  /// - Throws: ``RedisError`` when the node cannot be reached.
  public static func direct(
    _ node: RedisEndpoint, _ command: RedisCommand, password: String? = nil, timeout: Double = 5
  ) throws(RedisError) -> RedisReply {
    try RedisConnection(endpoint: node, timeout: timeout, password: password).run([command])[0]
  }

  /// Learns the cluster's layout again from any node that answers (the masters first, then their
  /// replicas, then the seeds); keeps the old map when none does.
  public func refreshMap() {
    let current = map.withLock { $0 }
    let candidates = current.masters + current.replicas.flatMap { $0 } + seeds
    var asked = Set<RedisEndpoint>()
    for node in candidates where asked.insert(node).inserted {
      if let fresh = try? Self.discover(asking: [node], password: password, timeout: timeout) {
        map.withLock { $0 = fresh }
        return
      }
    }
  }

  // MARK: - Connections

  private func checkout(_ node: RedisEndpoint) throws(RedisError) -> RedisConnection {
    if let pooled = idle.withLock({ $0[node]?.popLast() }) { return pooled }
    return try RedisConnection(endpoint: node, timeout: timeout, password: password)
  }

  private func checkin(_ connection: RedisConnection) {
    guard !connection.isBroken else { return }
    idle.withLock { $0[connection.endpoint, default: []].append(connection) }
  }

  /// The layout, from the first of `nodes` that answers.
  private static func discover(asking nodes: [RedisEndpoint], password: String?, timeout: Double)
    throws(RedisError) -> ClusterMap
  {
    var unreachable: [String] = []
    for node in nodes {
      let reply: RedisReply
      do throws(RedisError) {
        let connection = try RedisConnection(endpoint: node, timeout: timeout, password: password)
        reply = try connection.run([RedisCommand("CLUSTER", "SLOTS", keyIndex: nil)])[0]
      } catch  where error.isTransient {
        unreachable.append("\(node): \(error.message)")
        continue
      }
      if let text = reply.errorText {
        if text.contains("cluster support disabled") {
          throw RedisError(
            .notCluster, endpoint: node,
            "is a Redis server without cluster mode (cluster-enabled no); a store needs a Redis Cluster: start the nodes with cluster-enabled yes and join them with redis-cli --cluster create"
          )
        }
        if text.hasPrefix("NOAUTH") {
          throw RedisError(
            .authentication, endpoint: node,
            "needs a password: set TRIPINDEX_REDIS_PASSWORD, or write it in the address (redis://:PASSWORD@host:port/name)"
          )
        }
        throw RedisError(
          .reply, endpoint: node, "CLUSTER SLOTS was refused: \(RedisConnection.firstLine(text))")
      }
      guard let map = ClusterMap(slotsReply: reply, answeredBy: node) else {
        throw RedisError(.reply, endpoint: node, "CLUSTER SLOTS answered in an unexpected shape")
      }
      let missing = map.uncovered
      guard missing.isEmpty else {
        let served = HashSlot.count - missing.reduce(0) { $0 + $1.count }
        let ranges = missing.prefix(4).map { "\($0.lowerBound)-\($0.upperBound)" }
        throw RedisError(
          .clusterDown, endpoint: node,
          "the cluster serves \(served) of \(HashSlot.count) slots (none serves \(ranges.joined(separator: ", "))\(missing.count > 4 ? ", …" : "")): wait until it has formed, or give every slot a master"
        )
      }
      return map
    }
    throw RedisError(
      .connection, endpoint: nil,
      "cannot reach any node of the cluster: \(unreachable.joined(separator: "; "))")
  }

  private static func pause(seconds: Double) {
    usleep(UInt32(seconds * 1_000_000))
  }
}

/// Commands to send again, why, and what to do first.
private struct Retry {
  var indices: [Int] = []
  /// The last failure (thrown if time runs out).
  var error: RedisError?
  /// Whether the slot map must be learnt again first.
  var refresh = false
  /// Whether to wait a little first (the cluster is changing).
  var wait = false

  mutating func add(_ index: Int, _ error: RedisError?, refresh: Bool, wait: Bool = false) {
    indices.append(index)
    if let error { self.error = error }
    self.refresh = self.refresh || refresh
    self.wait = self.wait || wait
  }
}

/// What an error reply asks of the client.
private enum Redirection: Equatable {
  /// The slot lives on another node for good (`MOVED`): learn the map again.
  case moved
  /// The key is being migrated (`ASK`): ask that node once, after `ASKING`.
  case ask(RedisEndpoint)
  /// The cluster cannot serve it now (a failover, a node loading): wait and try again.
  case transient

  /// Reads `MOVED slot host:port`, `ASK slot host:port`, `TRYAGAIN …`, `CLUSTERDOWN …`,
  /// `MASTERDOWN …`, `LOADING …`; `nil` for any other error.
  init?(_ text: String, from node: RedisEndpoint) {
    let words = text.split(separator: " ")
    switch words.first {
    case "MOVED": self = .moved
    case "ASK":
      guard words.count >= 3, var target = RedisEndpoint(words[2]) ?? Self.portOnly(words[2], node)
      else { return nil }
      if target.host.isEmpty { target.host = node.host }
      self = .ask(target)
    case "TRYAGAIN", "CLUSTERDOWN", "MASTERDOWN", "LOADING": self = .transient
    default: return nil
    }
  }

  /// `:port` (Redis names a node so when it does not know its own address): on `node`'s host.
  private static func portOnly(_ text: Substring, _ node: RedisEndpoint) -> RedisEndpoint? {
    guard text.hasPrefix(":"), let port = Int(text.dropFirst()) else { return nil }
    return RedisEndpoint(host: node.host, port: port)
  }
}
