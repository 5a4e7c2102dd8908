/// A problem with a request as a whole (rather than one file or one store), with a message a user
/// can act on; the parameters it names are typed, so that each front end words them its own way
/// (the command-line tool as flags, the HTTP API as JSON fields).
public struct TripIndexError: Error, Sendable, CustomStringConvertible {
  /// What is wrong and what was expected.
  public let text: UserText

  /// Creates an error.
  ///
  /// - Parameter text: what is wrong and what was expected.
  public init(_ text: UserText) { self.text = text }

  /// The message in the plain wording (parameters by name).
  public var message: String { text.description }

  /// The parameter the error is about (the first it names), if any.
  public var parameter: Parameter? { text.parameters.first }

  /// The message as a front end words it.
  public func worded(_ wording: Wording) -> String { text.worded(wording) }

  /// The message.
  public var description: String { message }
}
