import Embedding
import Evaluation
import LSHIndex
import Plumbing
import VectorIO
import VectorMath
import VectorStore

/// Where `eval`'s LSH search comes from.
enum IndexSource {
  /// An index in memory over the gallery's vectors, with these settings.
  case temporary(LSHConfiguration)
  /// A gallery kept in a store, searched with the store's own index; `rowOfID` maps each stored
  /// id to its gallery row.
  case stored(VectorStore, LSHIndex, rowOfID: [UInt64: Int])
}
