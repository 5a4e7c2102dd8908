/// A problem opening or reading an HDF5 file, with a case tests and callers can match.
public struct HDF5Error: Error, Sendable, Hashable, CustomStringConvertible {
  /// What went wrong.
  public enum Kind: Sendable, Hashable {
    /// The HDF5 library is not installed (or not the version this build expects).
    case libraryMissing
    /// The file does not exist or cannot be read.
    case unreadable
    /// The file is not in the HDF5 format (or its superblock is damaged).
    case notHDF5
    /// No dataset of the name asked for; `available` lists the file's top-level names.
    case missingDataset(available: [String])
    /// The name is a group or another kind of object, not a dataset.
    case notADataset
    /// The dataset's shape or element type is not what was asked for.
    case unexpectedLayout
    /// The library failed while reading (damaged data, an unsupported filter).
    case readFailed
    /// An attribute that should be a string is not.
    case attributeNotString
  }

  /// What went wrong.
  public let kind: Kind
  /// The dataset or attribute concerned, if any.
  public let object: String?
  /// Details in words.
  public let message: String

  /// Creates an error.
  public init(_ kind: Kind, object: String? = nil, _ message: String) {
    self.kind = kind
    self.object = object
    self.message = message
  }

  /// The message, naming the dataset or attribute when there is one.
  public var description: String {
    guard let object else { return message }
    return "\(object): \(message)"
  }
}
