/// A file or folder that could not be created, written, listed or removed.
public struct FileSystemError: Error, Sendable, Hashable, CustomStringConvertible {
  /// The path concerned.
  public let path: String
  /// What went wrong (the system's reason included).
  public let message: String

  /// Creates an error.
  ///
  /// - Parameters:
  ///   - path: the file or folder.
  ///   - message: what went wrong.
  public init(path: String, _ message: String) {
    self.path = path
    self.message = message
  }

  /// `path: message`.
  public var description: String { "\(path): \(message)" }
}
