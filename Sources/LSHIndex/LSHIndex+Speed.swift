import CKernels
import Plumbing
import StorageBackend
import VectorMath
import VectorStore

/// What the index measured against exact search when it was built, recorded in the store.
extension LSHIndex {
  /// The metadata key holding what the index measured against exact search on its store when
  /// it was built (`"LSH_µs EXACT_µs"`, single-threaded); removed whenever the index changes.
  public static let speedKey = "lsh_speed"

  /// Records the index's measured speed against exact search (see ``speedKey``).
  ///
  /// - Parameters:
  ///   - lsh: microseconds per query with the index.
  ///   - exact: microseconds per query of exact search.
  /// - Throws: ``VectorStoreError``.
  public func recordSpeed(lsh: Double, exact: Double) throws {
    try store.setMetadata(Self.speedKey, Self.speedText(lsh: lsh, exact: exact))
  }

  /// The text ``speedKey`` holds for a measurement (a Redis store records it with the switch
  /// to the index it measured).
  ///
  /// - Parameters:
  ///   - lsh: microseconds per query with the index.
  ///   - exact: microseconds per query of exact search.
  public static func speedText(lsh: Double, exact: Double) -> String { "\(lsh) \(exact)" }

  /// What ``recordSpeed(lsh:exact:)`` recorded for the store's index, if anything.
  ///
  /// - Parameter store: the store.
  /// - Returns: microseconds per query with the index and with exact search.
  /// - Throws: ``VectorStoreError``.
  public static func recordedSpeed(of store: VectorStore) throws -> (lsh: Double, exact: Double)? {
    parsedSpeed(try store.metadata(speedKey))
  }

  /// The recorded speeds as a snapshot sees them (no transaction of its own).
  ///
  /// - Parameter snapshot: the snapshot.
  /// - Returns: microseconds per query of LSH and of exact search, or `nil`.
  /// - Throws: `VectorStoreError`.
  public static func recordedSpeed(in snapshot: some ItemSnapshot) throws -> (
    lsh: Double, exact: Double
  )? {
    parsedSpeed(try snapshot.metadata(speedKey))
  }

  /// The speeds a ``speedKey`` text holds, or `nil` for none or a malformed one.
  ///
  /// - Parameter text: the recorded text.
  public static func parsedSpeed(_ text: String?) -> (lsh: Double, exact: Double)? {
    guard let text else { return nil }
    let parts = text.split(separator: " ").compactMap { Double($0) }
    guard parts.count == 2, parts.allSatisfy({ $0.isFinite && $0 > 0 }) else { return nil }
    return (parts[0], parts[1])
  }
}
