import Foundation
import Plumbing
import VectorIO

/// A fresh directory under the system's temporary folder, removed when the value is released.
/// Each test makes its own, so tests can run in parallel.
public final class TemporaryDirectory: @unchecked Sendable {
  /// The directory's path.
  public let path: String

  /// Creates a new, empty directory.
  ///
  /// - Parameter prefix: a readable prefix for its name.
  public init(prefix: String = "tripindex-test") {
    do {
      path = try Directories.temporary(prefix: prefix)
    } catch {
      preconditionFailure("\(error)")
    }
  }

  deinit {
    try? Directories.removeTree(path)
  }

  /// A path inside the directory.
  ///
  /// - Parameter name: a relative path.
  /// - Returns: the full path.
  public func file(_ name: String) -> String { path + "/" + name }

  /// Writes text to a file inside the directory, creating folders as needed.
  ///
  /// - Parameters:
  ///   - text: the content.
  ///   - name: a relative path.
  /// - Returns: the full path.
  @discardableResult
  public func write(_ text: String, to name: String) -> String {
    write(Array(text.utf8), to: name)
  }

  /// Writes bytes to a file inside the directory, creating folders as needed.
  ///
  /// - Parameters:
  ///   - bytes: the content.
  ///   - name: a relative path.
  /// - Returns: the full path.
  @discardableResult
  public func write(_ bytes: [UInt8], to name: String) -> String {
    let full = file(name)
    try! FileManager.default.createDirectory(
      atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    _ = FileManager.default.createFile(atPath: full, contents: Data(bytes))
    return full
  }
}
