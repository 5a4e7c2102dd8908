import Plumbing
import VectorMath

/// Every live item of a source encoded at once, on all cores: its id and table entry (compact
/// code, then id), and on request its bucket code in every table and its projection onto the
/// sketch dimensions (which `tune` hashes again under other settings). The one bulk encoder
/// of a build, of `check` and of `tune`.
struct BulkEncoding {
  /// The live items' ids, in id order.
  let ids: [UInt64]
  /// Item `i`'s entry at bytes `i * entryBytes ..< (i + 1) * entryBytes`.
  let entries: [UInt8]
  /// Bytes per entry.
  let entryBytes: Int
  /// Item `i`'s bucket codes at `codes[i * tables ..< (i + 1) * tables]` (empty unless asked).
  let codes: [UInt64]
  /// Tables (codes per item).
  let tables: Int
  /// Item `i`'s projection at `projections[i * width ..< (i + 1) * width]` (empty unless
  /// asked).
  let projections: [Float]
  /// Sketch dimensions (values per projection).
  let width: Int

  /// The number of items encoded.
  var count: Int { ids.count }

  /// Encodes a source's live items.
  ///
  /// - Parameters:
  ///   - source: the vectors.
  ///   - encoder: the projection, hashes and compact codes.
  ///   - heldOut: ids left out (`tune`'s held-out queries).
  ///   - keepsCodes: keep every table's bucket code.
  ///   - keepsProjections: keep the projections.
  /// - Complexity: O(n · (d · m + L)), on all cores.
  init(
    _ source: some VectorSource, encoder: ItemEncoder, excluding heldOut: Set<UInt64> = [],
    codes keepsCodes: Bool, projections keepsProjections: Bool
  ) {
    let ids = heldOut.isEmpty ? source.liveIDs : source.liveIDs.filter { !heldOut.contains($0) }
    let tables = encoder.model.configuration.tables
    let width = encoder.model.configuration.sketchDimensions
    let entryBytes = encoder.coder.entryBytes
    var codes = [UInt64](repeating: 0, count: keepsCodes ? ids.count * tables : 0)
    var projections = [Float](repeating: 0, count: keepsProjections ? ids.count * width : 0)
    var entries = [UInt8](repeating: 0, count: ids.count * entryBytes)
    codes.withUnsafeMutableBufferPointer { codes in
      projections.withUnsafeMutableBufferPointer { projections in
        entries.withUnsafeMutableBytes { entries in
          let shared = UncheckedSendable((codes, projections, entries))
          Parallel.forEachChunk(of: ids.count, count: Parallel.processorCount) { _, range in
            let (codes, projections, entries) = shared.value
            var scratch = encoder.makeScratch()
            for item in range {
              guard let vector = source.vector(id: ids[item]) else { continue }
              encoder.encode(vector, id: ids[item], into: &scratch)
              if keepsCodes {
                for table in 0..<tables { codes[item * tables + table] = scratch.codes[table] }
              }
              if keepsProjections {
                for column in 0..<width {
                  projections[item * width + column] = scratch.projection[column]
                }
              }
              scratch.entry.withUnsafeBytes {
                UnsafeMutableRawBufferPointer(
                  rebasing: entries[(item * entryBytes)..<((item + 1) * entryBytes)]
                ).copyMemory(from: $0)
              }
            }
          }
        }
      }
    }
    self.ids = ids
    self.entries = entries
    self.entryBytes = entryBytes
    self.codes = codes
    self.tables = tables
    self.projections = projections
    self.width = width
  }
}
