import Plumbing
import VectorMath

/// The vector file formats read (and, for some, written).
public enum VectorFileFormat: String, Sendable, CaseIterable {
  /// Text: one vector per line, values separated by whitespace and/or single commas.
  case text = "vec"
  /// TEXMEX float vectors: per record an `Int32` dimension, then that many `Float32`s (little-endian).
  case fvecs
  /// TEXMEX integer vectors: per record an `Int32` dimension, then that many `Int32`s.
  case ivecs
  /// TEXMEX byte vectors: per record an `Int32` dimension, then that many `UInt8`s.
  case bvecs
  /// NumPy `.npy`, versions 1–3: little-endian float32, float64, int32 or int64, C order.
  case npy
  /// HDF5 (`.hdf5`, `.h5`): one 2-D dataset of numbers per read, e.g. ann-benchmarks' `train`
  /// and `test`. Read only.
  case hdf5

  /// The format named by a path's extension (case-insensitive), or `nil` for other files.
  ///
  /// - Parameter path: a file path.
  public init?(path: String) {
    guard let dot = path.lastIndex(of: "."), !path[dot...].contains("/") else { return nil }
    let suffix = path[path.index(after: dot)...].lowercased()
    self.init(rawValue: suffix == "h5" ? "hdf5" : suffix)
  }
}
