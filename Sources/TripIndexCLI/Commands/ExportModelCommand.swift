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
      and the model keeps its fingerprint. With --pytorch, the file is the state dict of a plain \
      nn.Sequential of the layers instead (keys 0.weight, 0.bias, 1.running_mean, …, the input \
      standardisation folded into the first Linear): load_state_dict takes it as it is (see the \
      README); tripindex does not read it back. A softmax-surrogate or joint model keeps its \
      softmax head: classifier.weight ([classes, embedding]) and classifier.bias are in the \
      tripindex layout always, and in the --pytorch file with --head (with classifier.pids, each \
      class's training pid; take the three keys out before load_state_dict).
      """)

  @Argument(help: "The model file (.tpm, or safetensors).")
  var model: String

  @Option(help: "The safetensors file to write.")
  var out: String

  @Flag(help: "Write a plain nn.Sequential state dict for PyTorch instead.")
  var pytorch = false

  @Flag(
    help:
      "With --pytorch, add the softmax head (classifier.weight, classifier.bias, classifier.pids).")
  var head = false

  func validate() throws {
    if head && !pytorch {
      throw ValidationError(
        "--head goes with --pytorch (the tripindex layout always keeps the softmax head)")
    }
  }

  func run() throws {
    let read = try EmbeddingModel.read(from: model)
    if head && read.classifier == nil {
      throw TripIndexError(
        "\(model) has no softmax head: it was trained with the \(read.training.loss.kind.rawValue) loss\(read.training.loss.usesSoftmaxHead ? " by a tripindex older than model format 2 (train it again to keep the head)" : " alone (only --loss softmax and joint recipes such as --softmax-weight have one)")"
      )
    }
    if pytorch {
      try read.writePyTorchSequential(to: out, includingHead: head)
    } else {
      try read.writeSafetensors(to: out)
    }
    StandardStream.output.write(
      "\(out): \(read.architecture.summary), \(read.network.parameters.count + read.network.state.count) values, fingerprint \(read.fingerprint)\n"
    )
  }
}
