import ArgumentParser
import TripIndex

/// `--distractor-pid` and `--junk-pid`, for commands that read re-ID labels.
struct PIDConventionOptions: ParsableArguments {
  @Option(
    help: ArgumentHelp(
      "The pid of distractors: never a match, never a query, not trained on; 'none' for none.",
      discussion:
        "Market-1501 marks distractors with pid 0 (the default). torchreid relabels training identities from 0 and MSMT17 numbers them from 0000: give 'none' there, or pid 0 is dropped.",
      valueName: "pid|none"))
  var distractorPid = "0"

  @Option(
    help: ArgumentHelp(
      "The pid of junk images: removed from rankings, never a query; 'none' for none.",
      valueName: "pid|none"))
  var junkPid = "-1"

  /// The conventions given.
  var conventions: PIDConventions {
    get throws {
      guard let distractor = PIDConventions.parse(distractorPid) else {
        throw ValidationError("--distractor-pid takes a pid or 'none' (got '\(distractorPid)')")
      }
      guard let junk = PIDConventions.parse(junkPid) else {
        throw ValidationError("--junk-pid takes a pid or 'none' (got '\(junkPid)')")
      }
      if let distractor, distractor == junk {
        throw ValidationError(
          "--distractor-pid and --junk-pid are both \(distractor); give two pids")
      }
      return PIDConventions(distractor: distractor, junk: junk)
    }
  }
}
