/// A Redis node's address: a host (a name or an IP address) and a port.
public struct RedisEndpoint: Hashable, Sendable, CustomStringConvertible {
  /// The host name or IP address, as given.
  public var host: String
  /// The TCP port.
  public var port: Int

  /// An endpoint.
  public init(host: String, port: Int) {
    self.host = host
    self.port = port
  }

  /// Reads `HOST:PORT` (an IPv6 address in brackets: `[::1]:7000`).
  ///
  /// - Parameter text: the endpoint as written.
  /// - Returns: the endpoint, or `nil` when the text is not `HOST:PORT` with a port in 1…65535.
  public init?(_ text: some StringProtocol) {
    guard let colon = text.lastIndex(of: ":") else { return nil }
    var host = String(text[..<colon])
    if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
    guard !host.isEmpty, !host.contains("/"), let port = Int(text[text.index(after: colon)...]),
      (1...65535).contains(port)
    else { return nil }
    self.init(host: host, port: port)
  }

  /// `host:port`.
  public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
