import VectorMath

/// Draws P×K batches: P distinct identities, K samples of each (Hermans et al. 2017).
///
/// An identity with at least K samples gives K distinct ones; one with fewer gives each of its
/// samples once and then repeats random ones (sampling with replacement), so every batch still
/// holds distinct positives when the identity has two or more samples.
public struct PKSampler: Sendable {
  /// Identities per batch.
  public let identitiesPerBatch: Int
  /// Samples per identity.
  public let samplesPerIdentity: Int
  private let rowsByIdentity: [[Int]]
  private var random: SeededRandom

  /// The batch size, P × K.
  public var batchSize: Int { identitiesPerBatch * samplesPerIdentity }

  /// Creates a sampler.
  ///
  /// - Parameters:
  ///   - labels: each training row's identity (any integers).
  ///   - identitiesPerBatch: P; lowered to the number of usable identities when there are fewer.
  ///   - samplesPerIdentity: K.
  ///   - minimumSamples: identities with fewer rows are left out (2 for losses that need positives).
  ///   - seed: the sampling seed.
  public init(
    labels: [Int], identitiesPerBatch: Int, samplesPerIdentity: Int, minimumSamples: Int,
    seed: UInt64
  ) {
    var rows: [Int: [Int]] = [:]
    for (row, label) in labels.enumerated() { rows[label, default: []].append(row) }
    rowsByIdentity = rows.keys.sorted().compactMap { key in
      rows[key].flatMap { $0.count >= minimumSamples ? $0 : nil }
    }
    self.identitiesPerBatch = min(identitiesPerBatch, rowsByIdentity.count)
    self.samplesPerIdentity = samplesPerIdentity
    random = SeededRandom(seed: seed)
  }

  /// Identities that can be sampled.
  public var usableIdentities: Int { rowsByIdentity.count }

  /// The rows of the next batch, identity by identity.
  public mutating func nextBatch() -> [Int] {
    var identities = Array(rowsByIdentity.indices)
    var batch: [Int] = []
    batch.reserveCapacity(batchSize)
    for position in 0..<identitiesPerBatch {
      let pick = random.integer(in: position...(identities.count - 1))
      identities.swapAt(position, pick)
      var rows = rowsByIdentity[identities[position]]
      for index in 0..<min(samplesPerIdentity, rows.count) {
        rows.swapAt(index, random.integer(in: index...(rows.count - 1)))
        batch.append(rows[index])
      }
      for _ in rows.count..<max(rows.count, samplesPerIdentity) {
        batch.append(rows[random.integer(in: 0...(rows.count - 1))])
      }
    }
    return batch
  }
}
