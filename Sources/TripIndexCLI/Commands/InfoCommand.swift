import ArgumentParser
import TripIndex

struct InfoCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "info", abstract: "Describe a store: items, dimension, metric, size.")

  @OptionGroup var storeOption: StoreOption

  @Flag(help: "Print JSON.")
  var json = false

  func run() throws {
    let info = try StoreInfo.read(storePath: storeOption.store)
    StandardStream.output.write((json ? info.json : info.text) + "\n")
  }
}
