import Embedding
import Evaluation
import LSHIndex
import Plumbing
import VectorIO
import VectorMath

/// The `embed` command: map a vector file (or a folder) through a model into a vector file.
public enum Embed {
  /// What an embedding run did.
  public struct Report: Sendable {
    /// The output file.
    public var output: String
    /// Vectors embedded.
    public var rows: Int
    /// Input and output dimensions.
    public var inputDimension: Int, outputDimension: Int
    /// A one-line summary.
    public var summary: String {
      "\(output): \(TextFormatting.grouped(rows)) embeddings of dimension \(outputDimension) (from \(inputDimension)-dimensional inputs)"
    }
  }

  /// Embeds every vector of `input`, in order, and writes them to `output` (`.npy`, `.fvecs` or
  /// `.vec`). For a folder, rows follow the order `build` reads them in, and `labelsOutput`, when
  /// given, receives their names, pids and cameras as a labels.csv.
  ///
  /// - Parameters:
  ///   - input: a vector file or a folder.
  ///   - modelPath: the model file.
  ///   - output: the destination.
  ///   - labelsOutput: where to write the names and labels, or `nil`.
  ///   - progress: status output.
  /// - Returns: what was written.
  /// - Throws: `VectorIOError` for bad input or output, ``TripIndexError``.
  public static func run(
    input: String, modelPath: String, output: String, labelsOutput: String?,
    progress: any ProgressReporting
  ) throws -> Report {
    let model = try EmbeddingModel.read(from: modelPath)
    let items = try LabelledVectors.load(input, progress: progress)
    let embedded = try StoreModel.embed(items.vectors, with: model, source: input)
    let writer = try VectorFileWriter(path: output, dimension: embedded.columns)
    try writer.write(embedded.values)
    try writer.finish()
    if let labelsOutput {
      try LabelsFile.write(
        zip(items.names, items.labels).map { LabelsFile.Entry(name: $0, labels: $1) },
        to: labelsOutput)
    }
    progress.finish()
    return Report(
      output: output, rows: embedded.rows, inputDimension: items.vectors.columns,
      outputDimension: embedded.columns)
  }
}
