/// Where a store on a Redis Cluster is: `redis://[:PASSWORD@]HOST:PORT[,HOST:PORT…]/NAME`.
///
/// The endpoints are seeds, only for discovery: any one that answers is enough. The password
/// comes from the address or, when the address has none, from `TRIPINDEX_REDIS_PASSWORD`; it is
/// kept out of ``description`` and every message.
public struct RedisStoreAddress: Sendable, Equatable, CustomStringConvertible {
  /// The nodes to ask for the cluster's layout, in order.
  public var seeds: [RedisEndpoint]
  /// The store's name: the prefix of every key it owns.
  public var name: String
  /// The password sent with AUTH, if any.
  public var password: String?

  /// The environment variable a password is read from when the address has none.
  public static let passwordVariable = "TRIPINDEX_REDIS_PASSWORD"

  /// Whether a store location names a Redis store (starts with `redis://`).
  public static func isRedis(_ location: String) -> Bool { location.hasPrefix("redis://") }

  /// Reads an address.
  ///
  /// - Parameters:
  ///   - text: the address as the user wrote it.
  ///   - environment: the process's variables (for ``passwordVariable``).
  /// - Throws: ``RedisError`` of kind `connection`, saying what part is wrong and what is
  ///   expected (the password is never repeated).
  public init(_ text: String, environment: [String: String] = [:]) throws(RedisError) {
    let expected = "expected redis://[:PASSWORD@]HOST:PORT[,HOST:PORT…]/NAME"
    guard Self.isRedis(text) else {
      throw RedisError(.connection, endpoint: nil, "not a Redis store address; \(expected)")
    }
    var rest = Substring(text.dropFirst("redis://".count))
    var password: String?
    if let at = rest.lastIndex(of: "@") {
      let credentials = rest[..<at]
      rest = rest[rest.index(after: at)...]
      guard credentials.hasPrefix(":") else {
        throw RedisError(
          .connection, endpoint: nil,
          "the part before @ must be :PASSWORD (Redis Cluster users are not supported); \(expected)"
        )
      }
      password = String(credentials.dropFirst())
    }
    guard let slash = rest.firstIndex(of: "/") else {
      throw RedisError(.connection, endpoint: nil, "the address has no /NAME; \(expected)")
    }
    let name = String(rest[rest.index(after: slash)...])
    guard !name.isEmpty,
      name.utf8.allSatisfy({ $0 > 32 && $0 < 127 && !"{}/*?[]".utf8.contains($0) })
    else {
      throw RedisError(
        .connection, endpoint: nil,
        "the store name '\(name)' must be printable ASCII without spaces or any of {}/*?[]; \(expected)"
      )
    }
    var seeds: [RedisEndpoint] = []
    for part in rest[..<slash].split(separator: ",", omittingEmptySubsequences: false) {
      guard let endpoint = RedisEndpoint(part) else {
        throw RedisError(
          .connection, endpoint: nil,
          "'\(part)' is not HOST:PORT (a port in 1…65535); \(expected)")
      }
      seeds.append(endpoint)
    }
    self.seeds = seeds
    self.name = name
    self.password =
      (password?.isEmpty == false ? password : nil)
      ?? environment[Self.passwordVariable].flatMap { $0.isEmpty ? nil : $0 }
  }

  /// The address without its password: `redis://HOST:PORT,…/NAME`.
  public var description: String {
    "redis://\(seeds.map(\.description).joined(separator: ","))/\(name)"
  }
}
