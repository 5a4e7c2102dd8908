import Plumbing
import VectorMath

/// The trained softmax head a model keeps beside its embedder (softmax-surrogate and joint
/// recipes): one logit per training identity, computed from the model's retrieval embedding as
/// `W · e + b`. A BNNeck that sits between the embedding and the head in training is folded in,
/// so the head always takes what ``EmbeddingModel/embed(_:)`` returns.
public struct ClassifierHead: Sendable, Equatable {
  /// The training pid of each class, in class order.
  public var pids: [Int]
  /// Embedding dimension (the head's inputs).
  public var inputs: Int
  /// Weights, `classes × inputs`, row-major (one contiguous weight vector per class).
  public var weights: [Float]
  /// One bias per class.
  public var biases: [Float]

  /// Number of classes.
  public var classes: Int { pids.count }

  /// Creates a head from its parts.
  ///
  /// - Parameters:
  ///   - pids: the pid of each class.
  ///   - inputs: embedding dimension.
  ///   - weights: `pids.count × inputs` weights, row-major.
  ///   - biases: `pids.count` biases.
  public init(pids: [Int], inputs: Int, weights: [Float], biases: [Float]) {
    precondition(weights.count == pids.count * inputs && biases.count == pids.count)
    self.pids = pids
    self.inputs = inputs
    self.weights = weights
    self.biases = biases
  }

  /// The head as trained, with the BNNeck's inference map `scale ⊙ e + shift` (if the head read
  /// the neck's output while the embedding is taken before it) folded in:
  /// `W' = W · diag(scale)`, `b' = b + W · shift`.
  ///
  /// - Parameters:
  ///   - head: the trained head.
  ///   - pids: the pid of each class.
  ///   - neck: the neck's inference scale and shift, or `nil` when the head reads the embedding.
  public init(
    _ head: SoftmaxHead<Float>, pids: [Int], foldingNeck neck: (scale: [Float], shift: [Float])?
  ) {
    let inputs = head.inputs
    var weights = Array(head.parameters[0..<(head.classes * inputs)])
    var biases = Array(head.parameters[(head.classes * inputs)...])
    if let neck {
      for column in 0..<head.classes {
        var shift = 0.0
        for input in 0..<inputs {
          shift += Double(weights[column * inputs + input]) * Double(neck.shift[input])
          weights[column * inputs + input] *= neck.scale[input]
        }
        biases[column] += Float(shift)
      }
    }
    self.init(pids: pids, inputs: inputs, weights: weights, biases: biases)
  }

  /// Number of stored values (weights, then biases).
  public var valueCount: Int { weights.count + biases.count }

  /// The logits of embeddings.
  ///
  /// - Parameter embeddings: one embedding per row, ``inputs`` columns.
  /// - Returns: one row of ``classes`` logits per embedding.
  public func logits(_ embeddings: Matrix) -> Matrix {
    precondition(embeddings.columns == inputs, "embeddings have \(embeddings.columns) columns")
    var output = BLAS.multiply(
      embeddings, Matrix(rows: classes, columns: inputs, values: weights), transposeB: true)
    for row in 0..<output.rows {
      for column in 0..<classes { output.values[row * classes + column] += biases[column] }
    }
    return output
  }

  /// How a model file's header and `info --model` describe the head: classes, inputs and pids.
  public var json: JSONValue {
    .object([
      ("classes", .integer(classes)), ("inputs", .integer(inputs)),
      ("pids", .array(pids.map { .integer($0) })),
    ])
  }
}
