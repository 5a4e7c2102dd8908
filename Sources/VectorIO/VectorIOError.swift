import Plumbing
import VectorMath

/// Where in a file a problem was found.
public enum FileLocation: Sendable, Hashable, CustomStringConvertible {
  /// The whole file (missing, unreadable, empty).
  case file
  /// The format header (`.npy`).
  case header
  /// A 1-based line of a text file.
  case line(Int)
  /// A 0-based record of a TEXMEX file (`.fvecs`, `.ivecs`, `.bvecs`).
  case record(Int)
  /// A 0-based row of a matrix (`.npy`).
  case row(Int)
  /// A 0-based row of a named dataset (HDF5).
  case datasetRow(String, Int)

  /// "line 3", "record 12", "row 0", or empty for the whole file.
  public var description: String {
    switch self {
    case .file, .header: return ""
    case .line(let line): return "line \(line)"
    case .record(let record): return "record \(record)"
    case .row(let row): return "row \(row)"
    case .datasetRow(let dataset, let row): return "dataset '\(dataset)', row \(row)"
    }
  }
}

/// A problem with an input or output file, naming the file, the place and what was expected.
public struct VectorIOError: Error, Sendable, Hashable, CustomStringConvertible {
  /// The file's path.
  public let path: String
  /// Where in the file.
  public let location: FileLocation
  /// What is wrong and what was expected.
  public let message: String

  /// Creates an error.
  ///
  /// - Parameters:
  ///   - path: the file.
  ///   - location: where in the file.
  ///   - message: what is wrong and what was expected.
  public init(path: String, location: FileLocation = .file, _ message: String) {
    self.path = path
    self.location = location
    self.message = message
  }

  /// `path, location: message`, e.g. `base.fvecs, record 12: truncated: …`.
  public var description: String {
    let place = location.description
    return place.isEmpty ? "\(path): \(message)" : "\(path), \(place): \(message)"
  }
}
