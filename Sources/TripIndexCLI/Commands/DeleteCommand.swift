import ArgumentParser
import TripIndex

struct DeleteCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "delete",
    abstract: "Delete items by name (or by id with --ids), all in one transaction.",
    discussion: "Unknown names are an error and nothing is deleted. Deleted ids are never reused.")

  @Argument(help: "Item names (or ids with --ids).")
  var items: [String]

  @Flag(help: "Treat the arguments as numeric ids.")
  var ids = false

  @OptionGroup var storeOption: StoreOption

  func run() throws {
    let deleted = try Deletion.run(
      storePath: storeOption.store, items: items, byID: ids, redis: storeOption.redis)
    StandardStream.output.write("\(storeOption.displayedStore): deleted \(deleted) item(s)\n")
    if let advice = try Index.packAdvice(storePath: storeOption.store) {
      StandardStream.error.write(advice.worded(ErrorAdvice.wording) + "\n")
    }
  }
}
