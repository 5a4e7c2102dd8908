/// Bad input to a ranked-list page (a picture shape that does not fit the vectors, two pictures
/// for one item, an unreadable images folder), with a message that names what is wrong.
public struct RankedListError: Error, Sendable, Equatable, CustomStringConvertible {
  /// The message.
  public let description: String

  /// Creates an error.
  ///
  /// - Parameter description: the message.
  public init(_ description: String) { self.description = description }
}
