#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A minimal HTTP/1.1 client over one keep-alive loopback connection, with blocking sockets: for
/// tests that load a server from plain threads, independent of any event loop or of Swift's
/// concurrency pool (which parallel tests can keep busy).
public final class BlockingHTTPClient {
  private var socket: Int32 = -1
  private let port: UInt16

  /// What went wrong with a request.
  public struct Failure: Error, CustomStringConvertible {
    /// The reason.
    public let description: String
  }

  /// Connects to 127.0.0.1.
  ///
  /// - Parameter port: the server's port.
  /// - Throws: ``Failure`` when the connection is refused.
  public init(port: Int) throws {
    self.port = UInt16(port)
    try connect()
  }

  deinit { if socket >= 0 { close(socket) } }

  private func connect() throws {
    if socket >= 0 { close(socket) }
    #if canImport(Glibc)
      socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    #else
      socket = Darwin.socket(AF_INET, SOCK_STREAM, 0)
    #endif
    guard socket >= 0 else { throw Failure(description: "socket: errno \(errno)") }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
    let connected = withUnsafePointer(to: &address) { pointer in
      pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        #if canImport(Glibc)
          Glibc.connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        #else
          Darwin.connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        #endif
      }
    }
    guard connected == 0 else { throw Failure(description: "connect: errno \(errno)") }
  }

  /// Sends one request and reads its response.
  ///
  /// - Parameters:
  ///   - method: `GET`, `POST`, `PUT`, `DELETE`.
  ///   - path: the path.
  ///   - body: the body.
  /// - Returns: the status code and body.
  /// - Throws: ``Failure`` when the connection fails or closes.
  public func request(_ method: String, _ path: String, body: [UInt8] = []) throws -> (
    status: Int, body: [UInt8]
  ) {
    let head =
      "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\nContent-Length: \(body.count)\r\n"
      + "Content-Type: application/json\r\n\r\n"
    try send(Array(head.utf8) + body)
    var buffer: [UInt8] = []
    var headerEnd: Int?
    while headerEnd == nil {
      try receive(into: &buffer)
      headerEnd = Self.find([13, 10, 13, 10], in: buffer)
    }
    guard let end = headerEnd else { throw Failure(description: "no header") }
    let header = String(decoding: buffer[..<end], as: UTF8.self)
    let lines = header.split(separator: "\r\n")
    guard let statusLine = lines.first, statusLine.split(separator: " ").count >= 2,
      let status = Int(statusLine.split(separator: " ")[1])
    else { throw Failure(description: "bad status line: \(header.prefix(80))") }
    var length = 0
    for line in lines.dropFirst() {
      let parts = line.split(separator: ":", maxSplits: 1)
      if parts.count == 2, parts[0].lowercased() == "content-length" {
        length = Int(parts[1].trimmingPrefix(" ")) ?? 0
      }
    }
    let bodyStart = end + 4
    while buffer.count < bodyStart + length { try receive(into: &buffer) }
    return (status, Array(buffer[bodyStart..<(bodyStart + length)]))
  }

  private func send(_ bytes: [UInt8]) throws {
    var sent = 0
    while sent < bytes.count {
      let count = bytes[sent...].withUnsafeBytes { write(socket, $0.baseAddress, $0.count) }
      if count < 0 && errno == EINTR { continue }
      guard count > 0 else { throw Failure(description: "write: errno \(errno)") }
      sent += count
    }
  }

  private func receive(into buffer: inout [UInt8]) throws {
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
      let count = chunk.withUnsafeMutableBytes { read(socket, $0.baseAddress, $0.count) }
      if count < 0 && errno == EINTR { continue }
      guard count > 0 else { throw Failure(description: "the connection closed") }
      buffer += chunk[0..<count]
      return
    }
  }

  private static func find(_ pattern: [UInt8], in bytes: [UInt8]) -> Int? {
    guard bytes.count >= pattern.count else { return nil }
    for start in 0...(bytes.count - pattern.count)
    where bytes[start..<(start + pattern.count)].elementsEqual(pattern) {
      return start
    }
    return nil
  }
}
