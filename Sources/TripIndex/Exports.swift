// The vocabulary types of tripindex's API (metrics, labels, errors, reports) come from these
// modules; users of `TripIndex`, the CLI among them, get them with one import.
@_exported import Embedding
@_exported import Evaluation
@_exported import LSHIndex
@_exported import Plumbing
@_exported import VectorIO
@_exported import VectorMath
@_exported import VectorStore
