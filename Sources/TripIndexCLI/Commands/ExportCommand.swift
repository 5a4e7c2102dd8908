import ArgumentParser
import TripIndex
import VectorIO

extension VectorFileFormat: ExpressibleByArgument {}

struct ExportCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "export",
    abstract: "Write a store's live items as a vector file and a labels.csv that build reads back.",
    discussion: """
      OUT/vectors.npy (float32; or vectors.fvecs with --format fvecs) holds the vectors in id \
      order and OUT/labels.csv their names, pids, cameras and groups, one row per vector: \
      `tripindex build OUT` makes a store with the same items and the same vectors, bit for bit. \
      A store built with --model holds embeddings, and exports them. OUT is created; an existing \
      folder must be empty. On any failure nothing is left behind.
      """)

  @OptionGroup var storeOption: StoreOption

  @Option(help: "The folder to write.")
  var out: String

  @Option(help: "npy or fvecs.")
  var format: VectorFileFormat = .npy

  @Flag(help: "No progress output.")
  var quiet = false

  func run() throws {
    var options = Export.Options(storePath: storeOption.store, outputDirectory: out)
    options.redis = storeOption.redis
    options.format = format
    let report = try Export.run(options, progress: TerminalProgress(quiet: quiet))
    StandardStream.output.write(report.summary + "\n")
  }
}
