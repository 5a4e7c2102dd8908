import ArgumentParser
import TripIndex

struct EmbedCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "embed", abstract: "Embed a vector file (or a folder) with a trained model.")

  @Argument(help: "The input vector file or folder.")
  var input: String

  @Option(help: "The model file.")
  var model: String

  @Option(help: "The output file (.npy, .fvecs or .vec).")
  var out: String

  @Option(help: "Also write the items' names and labels here (labels.csv format).")
  var labels: String?

  @Flag(help: "No progress output.")
  var quiet = false

  func run() throws {
    let report = try Embed.run(
      input: input, modelPath: model, output: out, labelsOutput: labels,
      progress: TerminalProgress(quiet: quiet))
    StandardStream.output.write(report.summary + "\n")
  }
}
