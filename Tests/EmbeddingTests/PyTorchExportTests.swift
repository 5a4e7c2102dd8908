import Embedding
import Foundation
import Testing
import VectorMath

/// `export-model --pytorch`: the state dict of a plain `nn.Sequential`, checked by a plain
/// second implementation of that Sequential's forward pass (Linear, BatchNorm1d in eval mode,
/// ReLU) against the model's own embedding.
@Suite struct PyTorchExportTests {
  @Test(
    "the nn.Sequential state dict (standardisation folded into the first Linear) embeds as the model does",
    arguments: [[8], [], [6, 5]])
  func sequentialForward(hiddenSizes: [Int]) throws {
    var options = TrainingOptions()
    options.hiddenSizes = hiddenSizes
    options.outputDimension = 4
    options.iterations = 30
    options.identitiesPerBatch = 4
    options.samplesPerIdentity = 2
    var random = SeededRandom(seed: 9)
    let rows = 48
    let vectors = Matrix(
      rows: rows, columns: 7,
      values: (0..<(rows * 7)).map { index in Float(random.normal() * 3 + Double(index % 7)) })
    let model = try Trainer.train(
      TrainingData(vectors: vectors, identities: (0..<rows).map { $0 % 12 }),
      options: options
    ).model
    let file = try SafetensorsReading(model.pytorchSequentialBytes())
    func tensor(_ name: String) throws -> [Double] { try file.tensor(name) }
    // The keys nn.Sequential(Linear, BatchNorm1d, ReLU, …, Linear) has, and nothing else.
    var expectedKeys: Set<String> = ["__metadata__"]
    var index = 0
    for _ in hiddenSizes {
      expectedKeys.formUnion(["\(index).weight", "\(index).bias"])
      expectedKeys.formUnion(
        ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"].map {
          "\(index + 1).\($0)"
        })
      index += 3
    }
    expectedKeys.formUnion(["\(index).weight", "\(index).bias"])
    #expect(file.keys == expectedKeys)
    // The forward pass, as PyTorch computes it in eval mode, in Double.
    let embedded = model.embed(vectors)
    let widths = [7] + hiddenSizes + [4]
    for row in 0..<rows {
      var x = vectors.row(row).map(Double.init)
      var layer = 0
      for step in 0..<(widths.count - 1) {
        let weight = try tensor("\(layer).weight")
        let bias = try tensor("\(layer).bias")
        let (inputs, outputs) = (widths[step], widths[step + 1])
        x = (0..<outputs).map { o in
          (0..<inputs).reduce(bias[o]) { $0 + weight[o * inputs + $1] * x[$1] }
        }
        if step < widths.count - 2 {
          let (gamma, beta) = (try tensor("\(layer + 1).weight"), try tensor("\(layer + 1).bias"))
          let (mean, variance) = (
            try tensor("\(layer + 1).running_mean"), try tensor("\(layer + 1).running_var")
          )
          x = x.indices.map { i in
            max(0, (x[i] - mean[i]) / (variance[i] + 1e-5).squareRoot() * gamma[i] + beta[i])
          }
          layer += 3
        }
      }
      let expected = embedded.row(row)
      for (value, wanted) in zip(x, expected) {
        #expect(abs(value - Double(wanted)) <= 1e-4 * max(1, abs(Double(wanted))), "row \(row)")
      }
    }
  }
}
