import VectorMath
import VectorStore

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// `tripindex info`: what a store holds.
public struct StoreInfo: Sendable {
  /// The store's directory.
  public var storePath: String
  /// Live items.
  public var count: Int
  /// Ids ever assigned (live plus deleted).
  public var assignedIDs: UInt64
  /// Values per vector.
  public var dimension: Int
  /// The metric.
  public var metric: DistanceMetric
  /// The data file's size.
  public var dataBytes: Int

  /// Reads a store's description.
  ///
  /// - Parameter storePath: the store's directory.
  /// - Returns: the description.
  /// - Throws: ``VectorStoreError``.
  public static func read(storePath: String) throws -> StoreInfo {
    let store = try VectorStore.open(path: storePath, readOnly: true)
    var status = stat()
    let bytes = stat(storePath + "/data.mdb", &status) == 0 ? Int(status.st_size) : 0
    return try store.read { snapshot in
      StoreInfo(
        storePath: storePath, count: snapshot.count, assignedIDs: snapshot.nextID,
        dimension: store.dimension, metric: store.metric, dataBytes: bytes)
    }
  }

  /// A readable description.
  public var text: String {
    TextTable.render(
      header: ["store", "items", "deleted", "dimension", "metric", "data file"],
      rows: [
        [
          storePath, TextFormatting.grouped(count),
          TextFormatting.grouped(Int(assignedIDs) - count), String(dimension),
          metric.rawValue,
          "\(TextFormatting.fixed(Double(dataBytes) / 1_048_576, 2)) MiB",
        ]
      ]
    ).trimmingTrailingNewline()
  }

  /// The description as one JSON object.
  public var json: String {
    var out = OutputBuffer(stream: nil)
    out.write("{\"store\": ")
    out.writeJSONString(storePath)
    out.write(
      ", \"count\": \(count), \"deleted\": \(Int(assignedIDs) - count), \"dimension\": \(dimension), \"metric\": \"\(metric.rawValue)\", \"data_bytes\": \(dataBytes)}"
    )
    return out.text
  }
}

/// `tripindex delete`: remove items in one transaction.
public enum Deletion {
  /// Deletes items by name or id; all or nothing.
  ///
  /// - Parameters:
  ///   - storePath: the store's directory.
  ///   - items: names, or ids as text.
  ///   - byID: whether `items` are ids.
  /// - Returns: the number deleted.
  /// - Throws: ``TripIndexError`` for an unknown name or id (nothing is deleted), or
  ///   ``VectorStoreError``.
  public static func run(storePath: String, items: [String], byID: Bool) throws -> Int {
    let store = try Index.openForWriting(storePath)
    return try store.write { writer in
      for item in items {
        if byID {
          guard let id = UInt64(item) else {
            throw TripIndexError("'\(item)' is not an id (a whole number ≥ 0)")
          }
          guard try writer.delete(id: id) != nil else {
            throw TripIndexError("\(storePath): no item with id \(id); nothing was deleted")
          }
        } else {
          guard try writer.delete(name: item) != nil else {
            throw TripIndexError("\(storePath): no item named '\(item)'; nothing was deleted")
          }
        }
      }
      return items.count
    }
  }
}

extension String {
  func trimmingTrailingNewline() -> String {
    hasSuffix("\n") ? String(dropLast()) : self
  }
}
