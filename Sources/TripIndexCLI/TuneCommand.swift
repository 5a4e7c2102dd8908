import ArgumentParser
import TripIndex

struct TuneCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "tune",
    abstract:
      "Pick the LSH settings that reach a target recall fastest, and build the index with them.",
    discussion: """
      Samples stored vectors as queries (each excluded from its own results), computes their exact \
      neighbours, then measures recall@k and single-threaded time per query over a grid of \
      family, K, L, width multipliers (p-stable), probes T and candidate budgets. The fastest \
      setting reaching the target is confirmed on a second, held-out sample and built; queries \
      then use its T and budget unless told otherwise.
      """)

  @OptionGroup var storeOption: StoreOption

  @Option(help: "Target recall@k.")
  var recall = 0.9

  @Option(name: .short, help: "Neighbours per query.")
  var k = 10

  @Option(help: "Queries per sample (two samples are drawn).")
  var sample = 400

  @Option(
    parsing: .upToNextOption, help: "Families to try (default: pstable for l2, all for cosine).")
  var families: [HashFamily] = []

  @Flag(help: "Print the measurements as JSON.")
  var json = false

  @Flag(help: "No progress output.")
  var quiet = false

  func run() throws {
    let report = try Tune.run(
      storePath: storeOption.store, target: recall, k: k, sampleSize: sample, families: families,
      progress: Progress(quiet: quiet))
    StandardStream.output.write(
      json ? report.json.serialized() + "\n" : report.table + "\n" + report.summary + "\n")
  }
}
