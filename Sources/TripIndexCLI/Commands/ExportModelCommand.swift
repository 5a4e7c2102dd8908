import ArgumentParser
import Embedding
import TripIndex

struct ExportModelCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "export-model",
    abstract: "Write a model in the safetensors layout (numpy, PyTorch and safetensors read it).",
    discussion: """
      Tensors are named like a PyTorch nn.Sequential of the model's layers: layers.0.weight \
      ([outputs, inputs]) and layers.0.bias of the first Linear, layers.1.weight, .bias, \
      .running_mean and .running_var of its BatchNorm (eps 1e-5), and so on; input.mean and \
      input.scale standardise inputs first, as (x - mean) * scale. __metadata__ holds the \
      tripindex header and a checksum. Every command that takes --model reads this layout back, \
      and the model keeps its fingerprint.
      """)

  @Argument(help: "The model file (.tpm, or safetensors).")
  var model: String

  @Option(help: "The safetensors file to write.")
  var out: String

  func run() throws {
    let read = try EmbeddingModel.read(from: model)
    try read.writeSafetensors(to: out)
    StandardStream.output.write(
      "\(out): \(read.architecture.summary), \(read.network.parameters.count + read.network.state.count) values, fingerprint \(read.fingerprint)\n"
    )
  }
}
