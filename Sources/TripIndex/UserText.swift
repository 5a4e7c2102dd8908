import Plumbing

/// A parameter of a use case, as its messages name it; each front end words it its own way
/// (``Wording``): the command-line tool as its flag (`--probe-labels`), the HTTP API as its JSON
/// field (`probe_labels`).
public enum Parameter: String, Sendable, CaseIterable {
  case batch, bnneck, budget, cameraDistortion, copyImages, dataset, distractorPid, embedFrom
  case excludeSameCamera, excludeSamePid, excludeSamePidCamera, format, from, gallery, galleryStore
  case head, imageShape, images, index, iterations, junkPid, k, k1, k2, labelSmoothing, lambda
  case layers, loss, lsh, margin, maxRank, metric, model, normalize, pack, probeLabels
  case probeMultipliers, probes, pytorch, queries, query, ranklistK, ranklistQueries, recall
  case repair, repeats, replace, replicas, rerank, seeds, shards, softmaxClasses, softmaxWeight,
    store
  case threads, timeout, to, train, validation
  case `where`

  /// The name in snake case (`probeLabels` → `probe_labels`), as JSON fields are named.
  public var snakeCase: String { TextFormatting.splittingCamelCase(rawValue, separator: "_") }
}

/// How a front end words parameters and commands in ``UserText``.
public struct Wording: Sendable {
  /// A parameter as users of this front end write it.
  public var parameter: @Sendable (Parameter) -> String
  /// A command (with its arguments, already worded) as users of this front end run it.
  public var command: @Sendable (String) -> String

  /// A wording.
  public init(
    parameter: @escaping @Sendable (Parameter) -> String,
    command: @escaping @Sendable (String) -> String
  ) {
    self.parameter = parameter
    self.command = command
  }

  /// Parameters by their names (`probeLabels`), commands as "the index command": how text
  /// reads when no front end words it (a `description`, a log).
  public static let plain = Wording(parameter: \.rawValue, command: { "the \($0) command" })

  /// Parameters as JSON fields (`probe_labels`), commands as "the index command".
  public static let jsonFields = Wording(parameter: \.snakeCase, command: { "the \($0) command" })
}

/// Text for users (an error, a warning, a reason) that names parameters and commands, which
/// each front end words its own way (``worded(_:)``). Written as a string literal:
/// `"\(option: .probes) must be at least 1"`, `"run \(command: "index \(option: .store) \(path)")"`.
public struct UserText: Sendable, Equatable, CustomStringConvertible,
  ExpressibleByStringInterpolation
{
  indirect enum Segment: Sendable, Equatable {
    case text(String)
    case parameter(Parameter)
    case command(UserText)
  }

  var segments: [Segment]

  /// Text as it is, naming nothing.
  public init(verbatim text: String) { segments = [.text(text)] }

  /// A literal.
  public init(stringLiteral value: String) { segments = [.text(value)] }

  /// An interpolated literal.
  public init(stringInterpolation: StringInterpolation) { segments = stringInterpolation.segments }

  /// Builds ``UserText`` from a string literal's parts.
  public struct StringInterpolation: StringInterpolationProtocol {
    var segments: [Segment] = []

    /// Starts the parts.
    public init(literalCapacity: Int, interpolationCount: Int) {}

    /// A literal part.
    public mutating func appendLiteral(_ literal: String) { segments.append(.text(literal)) }

    /// A value, as its description.
    public mutating func appendInterpolation<T>(_ value: T) { segments.append(.text("\(value)")) }

    /// Other text, keeping what it names.
    public mutating func appendInterpolation(_ text: UserText) { segments += text.segments }

    /// A parameter, worded by the front end.
    public mutating func appendInterpolation(option parameter: Parameter) {
      segments.append(.parameter(parameter))
    }

    /// A command with its arguments, worded by the front end.
    public mutating func appendInterpolation(command: UserText) {
      segments.append(.command(command))
    }
  }

  /// The text as a front end words it.
  public func worded(_ wording: Wording) -> String {
    var text = ""
    for segment in segments {
      switch segment {
      case .text(let part): text += part
      case .parameter(let parameter): text += wording.parameter(parameter)
      case .command(let command): text += wording.command(command.worded(wording))
      }
    }
    return text
  }

  /// The text in the ``Wording/plain`` wording.
  public var description: String { worded(.plain) }

  /// The parameters named, in order (the first is what an error is about).
  public var parameters: [Parameter] {
    segments.flatMap { segment -> [Parameter] in
      switch segment {
      case .text: return []
      case .parameter(let parameter): return [parameter]
      case .command(let command): return command.parameters
      }
    }
  }

  /// Texts one after another with `separator` between them.
  public static func joined(_ texts: [UserText], separator: String) -> UserText {
    var joined = UserText(verbatim: "")
    for (position, text) in texts.enumerated() {
      if position > 0 { joined.segments.append(.text(separator)) }
      joined.segments += text.segments
    }
    return joined
  }

  /// Text followed by more text.
  public static func + (left: UserText, right: UserText) -> UserText {
    var joined = left
    joined.segments += right.segments
    return joined
  }
}
