import ArgumentParser
import TripIndex
import VectorStore

struct InfoCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "info",
    abstract:
      "Describe a store (items, dimension, metric, size, index, model), a model file, or the machine's BLAS."
  )

  @OptionGroup var storeOption: StoreOption

  @Flag(help: "Print JSON.")
  var json = false

  @Option(
    help:
      "Describe this model file instead (.tpm or safetensors): layers, input scaling, loss and neck, training settings and set, fingerprint, validation mAP."
  )
  var model: String?

  @Flag(
    help:
      "Describe the machine's matrix products instead: OpenBLAS's kernels, sgemm GFLOP/s at 1024 x 1024 x d, and each exact-search shape's speed, measured now (about a second); the fastest becomes exact search's cached choice."
  )
  var blas = false

  @Option(help: "With --blas: the dimension to measure (default: the store's, else 128).")
  var dimension: Int?

  func validate() throws {
    if let dimension, !(1...65_536).contains(dimension) {
      throw ValidationError("--dimension must be between 1 and 65,536 (got \(dimension))")
    }
    if dimension != nil && !blas { throw ValidationError("--dimension goes with --blas") }
  }

  func run() throws {
    if blas {
      var measured = dimension ?? 128
      if dimension == nil, VectorStore.exists(at: storeOption.store) {
        measured = try StoreInfo.read(storePath: storeOption.store).dimension
      }
      let report = BLASReport(dimension: measured)
      StandardStream.output.write((json ? report.json : report.text) + "\n")
      return
    }
    if let model {
      let description = try ModelDescription(path: model)
      StandardStream.output.write(
        (json ? description.json : description.text.worded(ErrorAdvice.wording)) + "\n")
      return
    }
    let info = try StoreInfo.read(storePath: storeOption.store, redis: storeOption.redis)
    StandardStream.output.write((json ? info.json : info.text.worded(ErrorAdvice.wording)) + "\n")
  }
}
