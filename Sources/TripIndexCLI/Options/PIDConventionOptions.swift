import ArgumentParser
import TripIndex

/// `--distractor-pid` and `--junk-pid`, for commands that read re-ID labels.
struct PIDConventionOptions: ParsableArguments {
  @Option(
    help: ArgumentHelp(
      "The pid of distractors: never a match, never a query, not trained on; 'none' for none (default: what the store records, else 0).",
      discussion:
        "Market-1501 marks distractors with pid 0 (the default). torchreid relabels training identities from 0 and MSMT17 numbers them from 0000: give 'none' there, or pid 0 is dropped.",
      valueName: "pid|none"))
  var distractorPid: String?

  @Option(
    help: ArgumentHelp(
      "The pid of junk images: removed from rankings, never a query; 'none' for none (default: what the store records, else -1).",
      valueName: "pid|none"))
  var junkPid: String?

  /// What was given (each `nil` when not given).
  var choice: PIDConventionChoice {
    get throws {
      func parse(_ text: String?, _ flag: String) throws -> Int32?? {
        guard let text else { return nil }
        guard let pid = PIDConventions.parse(text) else {
          throw ValidationError("\(flag) takes a pid or 'none' (got '\(text)')")
        }
        return pid
      }
      let choice = PIDConventionChoice(
        distractor: try parse(distractorPid, "--distractor-pid"),
        junk: try parse(junkPid, "--junk-pid"))
      let (resolved, _) = choice.resolved(recorded: nil)
      if let distractor = resolved.distractor, distractor == resolved.junk {
        throw ValidationError(
          "--distractor-pid and --junk-pid are both \(distractor); give two pids")
      }
      return choice
    }
  }

  /// The conventions given, Market-1501's where nothing was given (for commands without a
  /// store).
  var conventions: PIDConventions {
    get throws { try choice.resolved(recorded: nil).0 }
  }
}
