import Embedding
import Plumbing
import TripIndex

/// Parsers of option values the command line takes as text: layer widths (`256,64`), integer
/// lists, margins (`0.3` or `soft`). The use cases take the typed values.
enum OptionParsing {
  /// Parses layer widths such as `256,64` (hidden widths, then the embedding's).
  ///
  /// - Parameter text: comma-separated positive integers.
  /// - Returns: the widths.
  /// - Throws: ``TripIndexError`` for anything else.
  static func parseLayers(_ text: String) throws -> [Int] {
    try parsePositiveIntegers(text, option: "\(option: .layers)", example: "256,64")
  }

  /// Parses a comma-separated list of positive integers given to an option.
  ///
  /// - Parameters:
  ///   - text: the option's value.
  ///   - option: the option's name, for the error message.
  ///   - example: a valid value, for the error message.
  /// - Returns: the integers.
  /// - Throws: ``TripIndexError`` naming the option for anything else.
  static func parsePositiveIntegers(_ text: String, option: UserText, example: String)
    throws
    -> [Int]
  {
    let values = text.split(separator: ",", omittingEmptySubsequences: false).map {
      Int(String($0).trimmingSpaces())
    }
    guard !values.isEmpty, values.allSatisfy({ ($0 ?? 0) > 0 }) else {
      throw TripIndexError(
        "\(option) must be positive integers separated by commas, like \(example) (got '\(text)')")
    }
    return values.compactMap { $0 }
  }

  /// Parses a margin: a non-negative number or `soft`; `nil` gives the loss's default (soft for
  /// batch-hard and batch-all, 0.3 otherwise).
  ///
  /// - Parameters:
  ///   - text: the option's value.
  ///   - loss: the loss it is for.
  /// - Returns: the margin.
  /// - Throws: ``TripIndexError`` for anything else.
  static func parseMargin(_ text: String?, for loss: LossKind) throws -> Margin {
    guard let text else { return Train.defaultMargin(for: loss) }
    if text == "soft" { return .soft }
    guard let value = Double(text), value >= 0, value.isFinite else {
      throw TripIndexError(
        "\(option: .margin) must be a non-negative number or 'soft' (got '\(text)')")
    }
    return .hinge(value)
  }
}
