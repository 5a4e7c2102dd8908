import ArgumentParser
import LSHIndex
import TripIndex

struct CheckCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "check",
    abstract: "Verify every record of a store; with --repair, rebuild what is derived.",
    discussion: """
      Reads every database: block checksums (CRC32C), block sizes against the dimension, the \
      deleted bitmaps, every item record, the names ↔ items maps, the live count, and each LSH \
      table against the vectors. Prints each problem with its database and key. Exits with \
      status 1 when problems remain.
      --repair rebuilds, in one transaction, what the store derives: the names map, the count, \
      missing checksum records and the LSH index (dropped when its parameters are damaged). \
      Damage to vectors or item records cannot be derived: restore a copy, or run \
      `tripindex build` again on the source files.
      """)

  @OptionGroup var storeOption: StoreOption

  @Flag(help: "Rebuild what is derived (names, count, checksum records, the LSH index).")
  var repair = false

  @Flag(help: "Print JSON.")
  var json = false

  @Flag(help: "No progress on stderr.")
  var quiet = false

  func run() throws {
    let report = try StoreCheck.run(
      storePath: storeOption.store, repair: repair, redis: storeOption.redis,
      progress: TerminalProgress(quiet: quiet))
    StandardStream.output.write(
      (json ? report.json : report.text.worded(ErrorAdvice.wording)) + "\n")
    if !report.isSound { throw ExitCode(1) }
  }
}
