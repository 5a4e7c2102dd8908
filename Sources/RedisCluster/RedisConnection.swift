import CHiredis

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// One TCP connection to one Redis node: hiredis's blocking context, with a timeout on every read
/// and write. Commands are written in batches and their replies read in order (pipelining).
///
/// Not thread-safe: a client lends each connection to one thread at a time. After a failed read
/// or write the connection is broken (``isBroken``) and must be dropped.
final class RedisConnection: @unchecked Sendable {
  let endpoint: RedisEndpoint
  /// Seconds allowed for each read or write.
  let timeout: Double
  private let context: UnsafeMutablePointer<redisContext>
  /// Whether a read or write failed: the stream is out of step and the connection unusable.
  private(set) var isBroken = false

  /// Connects, sets the timeout and authenticates.
  ///
  /// - Parameters:
  ///   - endpoint: the node.
  ///   - timeout: seconds allowed for connecting and for each read or write.
  ///   - password: sent with AUTH when given (never shown in a message).
  /// - Throws: ``RedisError`` of kind `connection`, `timeout` or `authentication`.
  init(endpoint: RedisEndpoint, timeout: Double, password: String?) throws(RedisError) {
    self.endpoint = endpoint
    self.timeout = timeout
    let limit = Self.limit(seconds: timeout)
    guard let context = redisConnectWithTimeout(endpoint.host, Int32(endpoint.port), limit) else {
      throw RedisError(.connection, endpoint: endpoint, "cannot allocate a connection")
    }
    if context.pointee.err != 0 {
      let reason = Self.errorText(context)
      redisFree(context)
      throw RedisError(
        reason.contains("timed out") ? .timeout : .connection, endpoint: endpoint,
        "cannot connect: \(reason) (is a Redis node listening there? check the host and port in the store's address)"
      )
    }
    self.context = context
    context.pointee.reader.pointee.fn = guardedReplyFunctions
    redisSetTimeout(context, limit)
    _ = redisEnableKeepAlive(context)
    if let password {
      let reply = try run([RedisCommand("AUTH", password, keyIndex: nil)])[0]
      if let text = reply.errorText {
        throw RedisError(
          .authentication, endpoint: endpoint,
          "the password was refused (\(Self.firstLine(text))); check TRIPINDEX_REDIS_PASSWORD or the password in the store's address"
        )
      }
    }
  }

  deinit { redisFree(context) }

  /// Runs `body` with every read and write allowed `seconds` (for a command that blocks on the
  /// server, such as `WAIT`), then the usual timeout again.
  func withTimeout<R>(_ seconds: Double, _ body: () throws(RedisError) -> R) throws(RedisError)
    -> R
  {
    redisSetTimeout(context, Self.limit(seconds: seconds))
    defer { redisSetTimeout(context, Self.limit(seconds: timeout)) }
    return try body()
  }

  /// Sends commands and reads their replies, in order.
  ///
  /// - Parameter commands: the commands.
  /// - Returns: one reply per command (error replies included).
  /// - Throws: ``RedisError`` of kind `connection` or `timeout`; the connection is then broken.
  func run(_ commands: [RedisCommand]) throws(RedisError) -> [RedisReply] {
    try write(commands)
    return try readReplies(commands.count)
  }

  /// Sends commands without waiting for their replies (so that several nodes work at once).
  func write(_ commands: [RedisCommand]) throws(RedisError) {
    for command in commands { try append(command) }
    var done: Int32 = 0
    while done == 0 {
      if redisBufferWrite(context, &done) != REDIS_OK { throw failure("writing") }
    }
  }

  /// Reads the replies of `count` commands written earlier.
  func readReplies(_ count: Int) throws(RedisError) -> [RedisReply] {
    var replies: [RedisReply] = []
    replies.reserveCapacity(count)
    for _ in 0..<count {
      var raw: UnsafeMutableRawPointer?
      guard redisGetReply(context, &raw) == REDIS_OK, let raw else { throw failure("reading") }
      let reply = raw.assumingMemoryBound(to: redisReply.self)
      replies.append(Self.convert(reply))
      freeReplyObject(raw)
    }
    return replies
  }

  /// Queues one command in hiredis's output buffer.
  private func append(_ command: RedisCommand) throws(RedisError) {
    let arguments = command.arguments
    let code = withPointers(arguments) { pointers, lengths in
      redisAppendCommandArgv(context, Int32(arguments.count), pointers, lengths)
    }
    if code != REDIS_OK { throw failure("queueing \(command.name)") }
  }

  /// Calls `body` with C pointers to every argument's bytes and their lengths.
  private func withPointers<R>(
    _ arguments: [[UInt8]],
    _ body: (UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> R
  ) -> R {
    let total = arguments.reduce(0) { $0 + $1.count }
    let storage = UnsafeMutablePointer<CChar>.allocate(capacity: max(1, total))
    let pointers = UnsafeMutablePointer<UnsafePointer<CChar>?>.allocate(
      capacity: max(1, arguments.count))
    let lengths = UnsafeMutablePointer<Int>.allocate(capacity: max(1, arguments.count))
    defer {
      storage.deallocate()
      pointers.deallocate()
      lengths.deallocate()
    }
    var offset = 0
    for (index, argument) in arguments.enumerated() {
      argument.withUnsafeBytes { bytes in
        if let base = bytes.baseAddress {
          UnsafeMutableRawPointer(storage + offset).copyMemory(from: base, byteCount: bytes.count)
        }
      }
      (pointers + index).initialize(to: UnsafePointer(storage + offset))
      (lengths + index).initialize(to: argument.count)
      offset += argument.count
    }
    return body(pointers, lengths)
  }

  /// The error of a failed read or write; the connection is broken from now on.
  private func failure(_ action: String) -> RedisError {
    isBroken = true
    let reason = Self.errorText(context)
    let timedOut =
      reason.contains("temporarily unavailable") || reason.contains("timed out")
      || reason.contains("would block")
    return RedisError(
      timedOut ? .timeout : .connection, endpoint: endpoint,
      timedOut ? "no answer in time while \(action)" : "connection lost while \(action): \(reason)")
  }

  private static func errorText(_ context: UnsafeMutablePointer<redisContext>) -> String {
    withUnsafeBytes(of: context.pointee.errstr) { bytes in
      String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }
  }

  /// A reply tree copied into Swift values.
  fileprivate static func convert(_ reply: UnsafeMutablePointer<redisReply>) -> RedisReply {
    let value = reply.pointee
    func bytes() -> [UInt8] {
      guard let text = value.str else { return [] }
      return Array(UnsafeRawBufferPointer(start: text, count: Int(value.len)))
    }
    switch value.type {
    case REDIS_REPLY_STRING: return .bytes(bytes())
    case REDIS_REPLY_STATUS: return .status(String(decoding: bytes(), as: UTF8.self))
    case REDIS_REPLY_ERROR: return .error(String(decoding: bytes(), as: UTF8.self))
    case REDIS_REPLY_INTEGER: return .integer(Int64(value.integer))
    case REDIS_REPLY_ARRAY:
      return .array(
        (0..<Int(value.elements)).compactMap { index in value.element[index].map { convert($0) } })
    default: return .null
    }
  }

  /// A number of seconds as a `timeval`.
  private static func limit(seconds: Double) -> timeval {
    let whole = max(0, seconds.rounded(.down))
    return timeval(tv_sec: Int(whole), tv_usec: Int(((seconds - whole) * 1_000_000).rounded()))
  }

  /// The first line of a server's message.
  static func firstLine(_ text: String) -> String {
    String(text.split(separator: "\n").first ?? "")
  }
}

extension RedisReply {
  /// The replies in a stretch of bytes as a server would send them (RESP), read by the same
  /// reader and conversion as a connection's: for the fuzz target, which feeds it hostile bytes.
  ///
  /// - Parameters:
  ///   - bytes: the bytes.
  ///   - limit: the most replies returned.
  /// - Returns: the whole replies read before the first malformed or refused one (or the
  ///   end), and whether the reader stopped on one.
  package static func replies(in bytes: UnsafeRawBufferPointer, limit: Int) -> (
    replies: [RedisReply], refused: Bool
  ) {
    guard let reader = redisReaderCreate() else { return ([], true) }
    defer { redisReaderFree(reader) }
    reader.pointee.fn = guardedReplyFunctions
    guard let base = bytes.baseAddress,
      redisReaderFeed(reader, base.assumingMemoryBound(to: CChar.self), bytes.count) == REDIS_OK
    else { return ([], bytes.count > 0) }
    var replies: [RedisReply] = []
    while replies.count < limit {
      var raw: UnsafeMutableRawPointer?
      guard redisReaderGetReply(reader, &raw) == REDIS_OK else { return (replies, true) }
      guard let raw else { break }
      replies.append(RedisConnection.convert(raw.assumingMemoryBound(to: redisReply.self)))
      freeReplyObject(raw)
    }
    return (replies, false)
  }

}

/// The most elements a reply array may declare. hiredis 0.14 allocates an array's element
/// pointers when it reads the array's header, before any element arrives: a reply declaring
/// 888,888,880 elements made it ask for 7.1 GB at once (found by the `resp` fuzz target). The
/// largest array this tool asks for is a shard's `HGETALL` (two elements per item), so 2^25
/// elements allow 16.7M items per shard; more makes the reply fail as out of memory.
package let maximumReplyElements: Int32 = 1 << 25

/// hiredis's own array constructor, which ``guardedReplyFunctions`` calls within the limit.
nonisolated(unsafe) private let defaultArrayConstructor:
  @convention(c) (UnsafePointer<redisReadTask>?, Int32) -> UnsafeMutableRawPointer? = {
    guard let reader = redisReaderCreate(), let constructor = reader.pointee.fn.pointee.createArray
    else { fatalError("hiredis gave a reader without its reply functions") }
    redisReaderFree(reader)
    return constructor
  }()

/// hiredis's reply functions with arrays limited to ``maximumReplyElements``: every reader this
/// module uses (connections, and the fuzz target's) is given them.
nonisolated(unsafe) private let guardedReplyFunctions:
  UnsafeMutablePointer<redisReplyObjectFunctions> = {
    guard let reader = redisReaderCreate() else {
      fatalError("hiredis cannot create a reader")
    }
    defer { redisReaderFree(reader) }
    let functions = UnsafeMutablePointer<redisReplyObjectFunctions>.allocate(capacity: 1)
    functions.initialize(to: reader.pointee.fn.pointee)
    functions.pointee.createArray = { task, elements in
      elements <= maximumReplyElements ? defaultArrayConstructor(task, elements) : nil
    }
    return functions
  }()
