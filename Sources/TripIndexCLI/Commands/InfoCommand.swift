import ArgumentParser
import TripIndex

struct InfoCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "info",
    abstract: "Describe a store (items, dimension, metric, size, index, model), or a model file.")

  @OptionGroup var storeOption: StoreOption

  @Flag(help: "Print JSON.")
  var json = false

  @Option(
    help:
      "Describe this model file instead (.tpm or safetensors): layers, input scaling, loss and neck, training settings and set, fingerprint, validation mAP."
  )
  var model: String?

  func run() throws {
    if let model {
      let description = try ModelDescription(path: model)
      StandardStream.output.write((json ? description.json : description.text) + "\n")
      return
    }
    let info = try StoreInfo.read(storePath: storeOption.store)
    StandardStream.output.write((json ? info.json : info.text) + "\n")
  }
}
