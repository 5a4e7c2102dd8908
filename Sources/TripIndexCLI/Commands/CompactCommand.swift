import ArgumentParser
import TripIndex

struct CompactCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "compact",
    abstract: "Write a compacted copy of a store (free pages left out).",
    discussion: """
      LMDB reuses free pages but never shrinks its file; a store re-indexed while long reads \
      were open can hold many free pages. The copy is one consistent snapshot, taken while \
      readers and writers go on; the source is not changed. Replace the store with the copy \
      once nothing uses it.
      """)

  @OptionGroup var storeOption: StoreOption

  @Option(help: "The new store's directory (must not exist, or be empty).")
  var out: String

  func run() throws {
    let report = try Compact.run(storePath: storeOption.store, outputPath: out)
    StandardStream.output.write(report.text + "\n")
  }
}
