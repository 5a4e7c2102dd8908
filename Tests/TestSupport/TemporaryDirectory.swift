import Foundation
import Plumbing
import VectorIO

/// A fresh directory under the system's temporary folder, removed when the value is released,
/// or when the test process exits for one that never is (a suite's shared fixture, held by a
/// static). Each test makes its own, so tests can run in parallel.
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
    LeftAtExit.shared.add(path)
  }

  deinit {
    try? Directories.removeTree(path)
    LeftAtExit.shared.remove(path)
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

/// The directories still alive, removed when the process exits (`atexit`): statics are never
/// released, so a shared fixture's directory would otherwise stay behind after every run.
private final class LeftAtExit: @unchecked Sendable {
  static let shared: LeftAtExit = {
    let registry = LeftAtExit()
    atexit { LeftAtExit.shared.removeAll() }
    return registry
  }()

  private let lock = NSLock()
  private var paths: Set<String> = []

  func add(_ path: String) { lock.withLock { _ = paths.insert(path) } }

  func remove(_ path: String) { lock.withLock { _ = paths.remove(path) } }

  func removeAll() {
    for path in lock.withLock({ paths }) { try? Directories.removeTree(path) }
  }
}
