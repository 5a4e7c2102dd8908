import ArgumentParser
import LSHIndex
import TripIndex
import VectorMath

/// LSH settings shared by `build --index lsh` and `index`.
struct LSHOptions: ParsableArguments {
  @Option(
    help:
      "Hash family: hyperplane, pstable, crosspolytope or itq (default: pstable for l2, hyperplane for cosine)."
  )
  var family: HashFamily?

  @Option(parsing: .unconditional, help: "L: hash tables (default 8).")
  var tables: Int?

  @Option(
    parsing: .unconditional,
    help:
      "K: hashes per table — bits (hyperplane, default 14; itq, default 16, at most the hash dimensions), projections (pstable, default 8) or rotations (crosspolytope, default 2)."
  )
  var bits: Int?

  @Option(
    parsing: .unconditional,
    help:
      "w: p-stable bucket width (default: 2.5 × the 90th percentile of sampled 10-NN distances, in hash space)."
  )
  var width: Double?

  @Option(parsing: .unconditional, help: "Principal components fed to the hashes (default 8).")
  var hashDimensions: Int?

  @Option(
    parsing: .unconditional,
    help: "Principal components kept per item to bound distances (default 32).")
  var sketchDimensions: Int?

  @Option(parsing: .unconditional, help: "T: probes per table at query time (default 4).")
  var probes: Int?

  @Option(
    parsing: .unconditional,
    help: "Most table entries a query examines, 0 for no limit (default 0).")
  var budget: Int?

  @Option(help: "Seed of the hash functions (default 1).")
  var seed: UInt64?

  /// The choices made on the command line.
  var choices: LSHChoices {
    var choices = LSHChoices()
    choices.family = family
    choices.tables = tables
    choices.hashesPerTable = bits
    choices.bucketWidth = width
    choices.hashDimensions = hashDimensions
    choices.sketchDimensions = sketchDimensions
    choices.probes = probes
    choices.candidateBudget = budget
    choices.seed = seed
    return choices
  }

  /// The settings for a store's (or model's) metric.
  func configuration(metric: DistanceMetric) -> LSHConfiguration {
    choices.configuration(metric: metric)
  }
}
