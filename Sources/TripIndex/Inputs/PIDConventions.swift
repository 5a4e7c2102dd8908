import Evaluation
import VectorMath
import VectorStore

/// Which pid marks a distractor (never a match, never a query) and which a junk image (removed
/// from rankings, never a query) in re-ID data: Market-1501's 0 and −1 unless the user says
/// otherwise. torchreid relabels training identities from 0, so there pid 0 is a real identity:
/// `distractor: nil` keeps it one.
public struct PIDConventions: Sendable, Equatable {
  /// The distractor pid, or `nil` for none.
  public var distractor: Int32?
  /// The junk pid, or `nil` for none.
  public var junk: Int32?

  /// Market-1501's convention: distractors 0, junk −1.
  public static let market1501 = PIDConventions(distractor: 0, junk: -1)

  /// Creates conventions.
  ///
  /// - Parameters:
  ///   - distractor: the distractor pid, or `nil`.
  ///   - junk: the junk pid, or `nil`.
  public init(distractor: Int32?, junk: Int32?) {
    self.distractor = distractor
    self.junk = junk
  }

  /// Whether `pid` is an identity (neither the distractor pid nor the junk pid).
  ///
  /// - Parameter pid: a pid.
  public func isIdentity(_ pid: Int32) -> Bool { pid != distractor && pid != junk }

  /// Label sets in the evaluator's convention (distractor → 0, junk → −1, every identity → a
  /// positive number, equal pids to equal numbers), so that any convention scores as the
  /// evaluator scores Market-1501's.
  ///
  /// - Parameter sets: the label sets (queries and gallery), in the user's pids.
  /// - Returns: the same sets, renumbered.
  public func evaluatorLabelSets(_ sets: [LabelSet]) -> [LabelSet] {
    var numbers: [Int32: Int32] = [:]
    for pid in Set(sets.flatMap(\.pids)).sorted() where isIdentity(pid) {
      numbers[pid] = Int32(numbers.count + 1)
    }
    return sets.map { set in
      LabelSet(
        pids: set.pids.map { pid in
          pid == distractor ? 0 : pid == junk ? -1 : numbers[pid] ?? 0
        }, cameras: set.cameras)
    }
  }

  /// Parses a command-line value: an integer, or `none`.
  ///
  /// - Parameter text: the value.
  /// - Returns: the pid (`nil` for `none`), or `nil` as a whole when `text` is neither.
  public static func parse(_ text: String) -> Int32?? {
    if text.lowercased() == "none" { return .some(nil) }
    return Int32(text).map { .some($0) }
  }

  /// Warnings about items these conventions take out of a role (`"queries"`, `"training
  /// items"`): how many are distractors or junk, and what to say when pid 0 is among them or
  /// among the identities.
  ///
  /// - Parameters:
  ///   - pids: the items' pids.
  ///   - role: what they are, plural.
  ///   - outcome: what happens to the items taken out ("are skipped").
  /// - Returns: the warnings, one line each.
  func warnings(pids: [Int32], role: String, outcome: String) -> [UserText] {
    var lines: [UserText] = []
    for (value, kind, name) in [
      (distractor, "distractors", Parameter.distractorPid), (junk, "junk", Parameter.junkPid),
    ] {
      guard let value else { continue }
      let count = pids.reduce(0) { $0 + ($1 == value ? 1 : 0) }
      guard count > 0 else { continue }
      let hint: UserText =
        value == 0
        ? "; if pid 0 is a real identity (torchreid numbers identities from 0, MSMT17 from 0000), give \(option: name) none"
        : ""
      lines.append(
        "\(count) \(role) have pid \(value), which \(option: name) \(value) makes \(kind): they \(outcome)\(hint)"
      )
    }
    if distractor != 0, junk != 0, pids.contains(0) {
      lines.append(
        "\(role) include pid 0, counted as an identity (\(option: .distractorPid) is \(distractor.map(String.init) ?? "none"))"
      )
    }
    return lines
  }
}

/// The pid conventions a command was given, each `nil` when not given (then the store's
/// recorded convention applies, else Market-1501's).
public struct PIDConventionChoice: Sendable, Equatable {
  /// The distractor pid given (`.some(nil)` for none), or `nil`.
  public var distractor: Int32??
  /// The junk pid given (`.some(nil)` for none), or `nil`.
  public var junk: Int32??

  /// Nothing given.
  public init(distractor: Int32?? = nil, junk: Int32?? = nil) {
    self.distractor = distractor
    self.junk = junk
  }

  /// The conventions to use: what was given, else what the store recorded, else
  /// Market-1501's; with a warning for each given value that differs from the recorded one.
  ///
  /// - Parameters:
  ///   - recorded: the store's recorded conventions, if any.
  ///   - storePath: the store, for the warning.
  /// - Returns: the conventions and the warnings.
  public func resolved(recorded: PIDConventions?, storePath: String = "") -> (
    PIDConventions, [UserText]
  ) {
    let fallback = recorded ?? .market1501
    var warnings: [UserText] = []
    func text(_ pid: Int32?) -> String { pid.map(String.init) ?? "none" }
    for (given, stored, name) in [
      (distractor, recorded?.distractor, Parameter.distractorPid),
      (junk, recorded?.junk, Parameter.junkPid),
    ] {
      if let given, recorded != nil, given != stored {
        warnings.append(
          "\(option: name) \(text(given)) differs from the \(text(stored)) store \(storePath) records; \(text(given)) applies"
        )
      }
    }
    return (
      PIDConventions(
        distractor: distractor ?? fallback.distractor, junk: junk ?? fallback.junk), warnings
    )
  }
}

extension PIDConventions {
  /// The metadata keys of a store's recorded conventions.
  static let distractorKey = "distractor_pid"
  static let junkKey = "junk_pid"

  /// The conventions a store's metadata records (`nil` when it records none: an older store),
  /// whatever engine holds it.
  ///
  /// - Parameter metadata: reads one of the store's metadata values.
  static func recorded(_ metadata: (String) throws -> String?) throws -> PIDConventions? {
    guard let distractor = try metadata(distractorKey), let junk = try metadata(junkKey) else {
      return nil
    }
    return PIDConventions(distractor: Int32(distractor), junk: Int32(junk))
  }

  /// The metadata that records these conventions in a store.
  var metadata: [String: String] {
    [
      Self.distractorKey: distractor.map(String.init) ?? "none",
      Self.junkKey: junk.map(String.init) ?? "none",
    ]
  }
}
