/// A model file that cannot be read or written, with a case callers and tests can match.
public struct ModelFileError: Error, Sendable, Hashable, CustomStringConvertible {
  /// What is wrong.
  public enum Kind: Sendable, Hashable {
    /// The file cannot be opened or read, or is empty.
    case unreadable
    /// It is not a model file (another format).
    case notAModel
    /// Its header is malformed, names an unknown architecture or a newer format version.
    case badHeader
    /// It is cut short, has bytes left over, or its checksum does not match (corrupt).
    case damaged
    /// It cannot be created or written.
    case cannotWrite
  }

  /// The file.
  public let path: String
  /// What is wrong.
  public let kind: Kind
  /// Details in words.
  public let message: String

  /// Creates an error.
  ///
  /// - Parameters:
  ///   - path: the file.
  ///   - kind: what is wrong.
  ///   - message: details.
  public init(path: String, _ kind: Kind, _ message: String) {
    self.path = path
    self.kind = kind
    self.message = message
  }

  /// `path: message`.
  public var description: String { "\(path): \(message)" }
}
