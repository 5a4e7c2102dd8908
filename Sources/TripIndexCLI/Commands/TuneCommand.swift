import ArgumentParser
import LSHIndex
import TripIndex

struct TuneCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "tune",
    abstract:
      "Choose how a store is searched: the fastest LSH setting that reaches a recall, or exact.",
    discussion: """
      Queries come from --queries (your own probes) or are items held out of the index being \
      measured. Every setting of a grid (family, K, width, L, probes T) is measured on a quarter \
      of sample A; the fastest that come near the target are measured on all of A (the 95% lower \
      bound of recall@k must reach it) and then on sample B (the mean must reach it too). Exact \
      search is a contender: an LSH setting is built only when it is at least \(LSHTuner.minimumSpeedup)x faster, and \
      is checked again in place in the store; otherwise any index is dropped and queries search \
      exactly. The verdict is printed in one line.
      """)

  @OptionGroup var storeOption: StoreOption

  @Option(parsing: .unconditional, help: "Target recall@k.")
  var recall = 0.9

  @Option(name: .short, parsing: .unconditional, help: "Neighbours per query.")
  var k = 10

  @Option(parsing: .unconditional, help: "Queries per sample (two samples are drawn).")
  var sample = 400

  @Option(help: "A file of your own probes to tune on (default: hold sampled items out).")
  var queries: String?

  @Option(
    parsing: .upToNextOption,
    help:
      "Families to try (default: pstable, itq and, up to 2M items, crosspolytope for l2; all for cosine)."
  )
  var families: [HashFamily] = []

  @Flag(help: "Print the measurements as JSON.")
  var json = false

  @Flag(help: "No progress output.")
  var quiet = false

  func run() throws {
    let outcome = try Tune.run(
      storePath: storeOption.store, target: recall, k: k, sampleSize: sample, families: families,
      queriesPath: queries, redis: storeOption.redis, progress: TerminalProgress(quiet: quiet))
    StandardStream.output.write(
      json ? outcome.json.serialized() + "\n" : outcome.table + "\n" + outcome.summary + "\n")
  }
}
