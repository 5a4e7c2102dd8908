import Plumbing
import VectorMath

/// Where a search over postings reads them: a store whose index keeps each bucket's entries
/// where a probe can ask for them (the shards of a store on a Redis Cluster), so that a few
/// probes read their buckets and the vectors they score, not the whole store.
public protocol PostingsReader {
  /// Live items in the store.
  var count: Int { get }
  /// Every id is below it.
  var idLimit: UInt64 { get }
  /// The entries of buckets, each bucket whole (entries in any order), and for each entry a
  /// locator of its item's vector (the reader's own, handed back to ``vectors(at:)``).
  ///
  /// - Parameter buckets: each bucket's table and code.
  /// - Returns: per bucket, its entries concatenated and one locator per entry.
  mutating func buckets(_ buckets: [(table: Int, code: UInt64)]) throws -> [(
    entries: [UInt8], locators: [UInt64]
  )]
  /// The vectors at locators (as stored: prepared for the metric).
  mutating func vectors(at locators: [UInt64]) throws -> [[Float]]
}

/// Approximate search that reads the index's postings where they are kept, fetching only what
/// each probe's search reads: the buckets of its probe sequence, then the vectors of the
/// candidates whose bound could still enter its top k — in rounds, every probe of a batch at
/// once. A probe's search runs over what has been fetched (``MemoryTables`` holding only those
/// buckets, each whole and in a store's order; a source holding only those vectors); where it
/// needs a bucket or a vector not fetched it stops, notes what it needs (the page's other
/// candidates, or the next in bound order, too), and runs again once they are fetched. The run
/// that needs nothing more is the search over the whole tables: it reads the same pages in the
/// same order, so its answer is the answer the whole index gives (the tests compare).
public enum LSHPostingsSearch {
  /// Rounds of fetching before a probe is given up (and searched over the whole store).
  public static let maximumRounds = 200

  /// Searches probes (prepared for the store's metric).
  ///
  /// - Parameters:
  ///   - probes: one probe per row.
  ///   - k: neighbours per probe.
  ///   - encoder: the index's parameters.
  ///   - probesPerTable: T; `nil` uses the index's setting.
  ///   - candidateBudget: the most table entries per probe; `nil` uses the index's setting.
  ///   - reader: where the postings and vectors are.
  /// - Returns: per probe its result and the locator of every neighbour's vector, or `nil`
  ///   for a probe whose buckets hold fewer than k items (a search of the whole store answers
  ///   it) or that kept needing more.
  /// - Throws: what `reader` throws.
  public static func search(
    _ probes: Matrix, k: Int, encoder: ItemEncoder, probesPerTable: Int? = nil,
    candidateBudget: Int? = nil, reader: inout some PostingsReader
  ) throws -> [(result: LSHSearchResult, locators: [UInt64])?] {
    let configuration = encoder.model.configuration
    let probeCount = max(1, probesPerTable ?? configuration.probes)
    var fetched = FetchedPostings(tables: configuration.tables, encoder: encoder)
    var results = [(result: LSHSearchResult, locators: [UInt64])?](
      repeating: nil, count: probes.rows)
    // Without the address space to lay the fetched vectors out by id (a process limit), the
    // caller's search of the whole store answers (or says what it lacks).
    guard
      let vectors = FetchedVectors(
        dimension: probes.columns, metric: encoder.model.metric, count: reader.count,
        idLimit: reader.idLimit)
    else { return results }
    // Each probe's first T buckets of every table, and how far its sequences were fetched.
    var sequences = (0..<probes.rows).map {
      ProbeSequences(probe: probes.row($0), encoder: encoder)
    }
    var wantedBuckets: [(table: Int, code: UInt64)] = []
    for row in sequences.indices {
      wantedBuckets += sequences[row].advance(by: probeCount, encoder: encoder)
    }
    var wantedVectors: [UInt64] = []
    var pending = Array(0..<probes.rows)
    let misses = PostingsMisses()
    var tables: MemoryTables?
    for round in 0..<maximumRounds where !pending.isEmpty {
      // Tables are laid out again only when buckets were added.
      let newBuckets = try fetched.fetch(wantedBuckets, from: &reader)
      if newBuckets || tables == nil {
        tables = MemoryTables(
          buckets: fetched.buckets, entryBytes: encoder.coder.entryBytes, misses: misses)
      }
      guard let tables else { break }
      let newVectors = try vectors.fetch(wantedVectors, locators: fetched.locators, from: &reader)
      // Nothing more to fetch for what the searches still lack (an item written after the
      // search began): the caller searches the whole store.
      if round > 0 && !newBuckets && !newVectors { break }
      wantedBuckets.removeAll()
      wantedVectors.removeAll()
      let searcher = LSHSearcher(
        encoder: encoder, source: vectors, tables: .memory(tables), misses: misses)
      var stillPending: [Int] = []
      for row in pending {
        misses.reset()
        let one = Matrix(rows: 1, columns: probes.columns, values: probes.row(row))
        let result = try searcher.search(
          one, k: k, probesPerTable: probeCount, candidateBudget: candidateBudget, threads: 1)[0]
        if misses.stopped {
          stillPending.append(row)
          wantedVectors += misses.vectors
          wantedBuckets += misses.buckets
          // A bucket beyond those fetched: the sequences go on further (the search probes on
          // when it found too few).
          if !misses.buckets.isEmpty {
            wantedBuckets += sequences[row].advance(by: probeCount, encoder: encoder)
          }
        } else if !misses.needsScan {
          results[row] = (result, result.neighbors.map { fetched.locators[$0.id] ?? 0 })
        }
      }
      pending = stillPending
    }
    return results
  }
}

/// One probe's multiprobe sequence in every table, walked as far as its buckets were fetched.
private struct ProbeSequences {
  var probers: [BucketHasher.Prober]

  init(probe: [Float], encoder: ItemEncoder) {
    var scratch = encoder.makeScratch()
    probe.withUnsafeBufferPointer { _ = encoder.project($0, into: &scratch) }
    let configuration = encoder.model.configuration
    probers = Array(repeating: BucketHasher.Prober(), count: configuration.tables)
    scratch.projection.withUnsafeBufferPointer { projection in
      let z = UnsafeBufferPointer(rebasing: projection[0..<configuration.hashDimensions])
      for table in 0..<configuration.tables {
        probers[table].start(encoder.model.hasher, z: z, table: table)
      }
    }
  }

  /// The next `count` buckets of every table's sequence.
  mutating func advance(by count: Int, encoder: ItemEncoder) -> [(table: Int, code: UInt64)] {
    var buckets: [(table: Int, code: UInt64)] = []
    for table in probers.indices {
      for _ in 0..<count {
        guard let next = probers[table].next(encoder.model.hasher) else { break }
        buckets.append((table, next.code))
      }
    }
    return buckets
  }
}

/// The buckets fetched so far, and where each item's vector is.
private struct FetchedPostings {
  /// Per table: code → entries.
  var buckets: [[UInt64: [UInt8]]]
  /// Each item's locator, learnt from its entries.
  var locators: [UInt64: UInt64] = [:]
  let coder: CompactCoder

  init(tables: Int, encoder: ItemEncoder) {
    buckets = Array(repeating: [:], count: tables)
    coder = encoder.coder
  }

  /// Fetches the buckets not held yet; whether there were any.
  mutating func fetch(
    _ wanted: [(table: Int, code: UInt64)], from reader: inout some PostingsReader
  )
    throws -> Bool
  {
    var asked = Set<Pair>()
    let missing = wanted.filter { bucket in
      buckets[bucket.table][bucket.code] == nil
        && asked.insert(Pair(table: bucket.table, code: bucket.code)).inserted
    }
    guard !missing.isEmpty else { return false }
    for (bucket, found) in zip(missing, try reader.buckets(missing)) {
      buckets[bucket.table][bucket.code] = found.entries
      found.entries.withUnsafeBytes { entries in
        for (index, locator) in found.locators.enumerated() {
          locators[coder.id(in: entries, at: index)] = locator
        }
      }
    }
    return true
  }

  private struct Pair: Hashable {
    var table: Int
    var code: UInt64
  }
}

/// A source holding only the vectors fetched so far, laid out by id in blocks as a store's, in
/// one mapping of the whole id range that only the rows written take memory of: what a search
/// over fetched postings reads, where every row not held reads as absent.
private final class FetchedVectors: VectorSource {
  let dimension: Int
  let metric: DistanceMetric
  let blockRows: Int
  let blocks: [VectorBlock]
  /// Live items in the store (not the rows held).
  let count: Int
  let idLimit: UInt64
  private let values: UnsafeMutablePointer<Float>
  private let valueBytes: Int
  private let deleted: UnsafeMutableBufferPointer<UInt8>
  private let bitmapBytes: Int

  /// An empty source for ids below `idLimit`, or `nil` without the address space for it.
  init?(dimension: Int, metric: DistanceMetric, count: Int, idLimit: UInt64) {
    self.dimension = dimension
    self.metric = metric
    self.count = count
    self.idLimit = idLimit
    let rows = VectorBlock.rows(forDimension: dimension)
    blockRows = rows
    let total = Int(idLimit)
    valueBytes = max(1, total * dimension) * MemoryLayout<Float>.size
    // Untouched pages of an anonymous mapping take no memory: a row written takes a page.
    guard
      let mapped = mmap(
        nil, valueBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
        0), mapped != MAP_FAILED
    else { return nil }
    values = mapped.bindMemory(to: Float.self, capacity: valueBytes / 4)
    let bitmap = (rows + 7) / 8
    bitmapBytes = bitmap
    let bits = UnsafeMutablePointer<UInt8>.allocate(
      capacity: max(1, (total + rows - 1) / rows * bitmap))
    deleted = UnsafeMutableBufferPointer(
      start: bits, count: max(1, (total + rows - 1) / rows * bitmap))
    deleted.initialize(repeating: 0xff)
    let base = values
    blocks = stride(from: 0, to: total, by: rows).map { first in
      VectorBlock(
        firstID: UInt64(first), rowCount: min(rows, total - first),
        values: base + first * dimension, deleted: bits + first / rows * bitmap)
    }
  }

  deinit {
    munmap(values, valueBytes)
    deleted.deallocate()
  }

  /// Fetches the vectors of ids not held yet (ids without a locator are skipped: they were
  /// never in a fetched bucket); whether there were any.
  func fetch(_ ids: [UInt64], locators: [UInt64: UInt64], from reader: inout some PostingsReader)
    throws -> Bool
  {
    var asked = Set<UInt64>()
    let missing = ids.filter { id in
      id < idLimit && vector(id: id) == nil && locators[id] != nil && asked.insert(id).inserted
    }
    guard !missing.isEmpty else { return false }
    let found = try reader.vectors(at: missing.map { locators[$0] ?? 0 })
    for (id, vector) in zip(missing, found) where vector.count == dimension {
      let index = Int(id)
      vector.withUnsafeBufferPointer { source in
        guard let start = source.baseAddress else { return }
        (values + index * dimension).update(from: start, count: dimension)
      }
      deleted[(index / blockRows) * bitmapBytes + (index % blockRows) / 8] &=
        ~(1 << UInt8(index % 8))
    }
    return true
  }
}

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif
