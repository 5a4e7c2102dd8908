import ArgumentParser
import LSHIndex
import TripIndex
import VectorMath
import VectorStore

extension HashFamily: ExpressibleByArgument {}

struct IndexCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "index",
    abstract: "Build (or rebuild, or drop) the LSH index of an existing store.",
    discussion: """
      Vectors are centred and projected onto their principal components; the hashes see the top \
      --hash-dimensions, and each item's table entries carry a one-byte code of each of the top \
      --sketch-dimensions, which bounds the true distance from below. Queries read T probed \
      buckets in each of L tables (multiprobe) in place from the store's memory map and compute \
      an exact distance only where a bound could beat the k-th. Everything lives in the store, \
      and later builds and deletes keep it in step in the same transaction. The index is timed \
      against exact search once built. Use `tripindex tune` to pick the settings for a target \
      recall, or exact search where no setting is faster.
      """)

  @OptionGroup var storeOption: StoreOption
  @OptionGroup var lsh: LSHOptions

  @Flag(help: "Remove the index instead.")
  var drop = false

  @Flag(
    help: ArgumentHelp(
      "Pack the index's tables again for reading, keeping its build, settings and measured speed.",
      discussion:
        "Deletes and serve's changes remove the packed copy (searches then read the tables, a little slower); a build into the store packs them when it ends."
    ))
  var pack = false

  @Flag(help: "No progress on stderr.")
  var quiet = false

  func validate() throws {
    if pack && drop { throw ValidationError("--pack and --drop exclude each other") }
  }

  func run() throws {
    if pack {
      let done = try Index.pack(storePath: storeOption.store, redis: storeOption.redis)
      StandardStream.output.write(done.worded(ErrorAdvice.wording) + "\n")
      return
    }
    let report = try Index.run(
      storePath: storeOption.store, choices: drop ? nil : lsh.choices, redis: storeOption.redis,
      progress: TerminalProgress(quiet: quiet))
    StandardStream.output.write(report.summary.worded(ErrorAdvice.wording) + "\n")
  }
}
