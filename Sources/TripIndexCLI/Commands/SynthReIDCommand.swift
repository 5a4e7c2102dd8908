import ArgumentParser
import TripIndex
import TripIndexTools

struct SynthReIDCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "synth-reid",
    abstract:
      "Write a deterministic synthetic re-ID set: train/, query/ and gallery/ folders of Market-1501-named .fvecs files.",
    discussion:
      "Train and test identities are disjoint. The same seed and options give identical files.")

  @Option(help: "Output folder (created; must be empty).")
  var out: String

  @Option(help: "Random seed.")
  var seed: UInt64 = 1

  @Option(parsing: .unconditional, help: "Feature dimension.")
  var dimension = 96

  @Option(parsing: .unconditional, help: "Training identities.")
  var trainIdentities = 200

  @Option(parsing: .unconditional, help: "Test identities.")
  var testIdentities = 100

  @Option(parsing: .unconditional, help: "Cameras.")
  var cameras = 6

  @Option(parsing: .unconditional, help: "Distractor images (pid 0) in the gallery.")
  var distractors = 150

  @Option(parsing: .unconditional, help: "Junk images (pid -1) in the gallery.")
  var junk = 40

  @Option(
    parsing: .unconditional,
    help: "Scale of each camera's distortion and offset (1: the shipped set; larger is harder).")
  var cameraDistortion = 1.0

  func run() throws {
    var options = SyntheticReID.Options(output: out, seed: seed)
    options.dimension = dimension
    options.trainIdentities = trainIdentities
    options.testIdentities = testIdentities
    options.cameras = cameras
    options.distractors = distractors
    options.junk = junk
    options.cameraDistortion = cameraDistortion
    let report = try SyntheticReID.generate(options)
    StandardStream.output.write("\(out): \(report.summary)\n")
  }
}
