/// A problem with a request as a whole (rather than one file or one store), with a message a user
/// can act on.
public struct TripIndexError: Error, Sendable, CustomStringConvertible {
  /// What is wrong and what was expected.
  public let message: String

  /// Creates an error.
  ///
  /// - Parameter message: what is wrong and what was expected.
  public init(_ message: String) { self.message = message }

  /// The message.
  public var description: String { message }
}
