import Embedding
import Evaluation
import LSHIndex
import Plumbing
import VectorIO
import VectorMath

/// Exact and (optionally) LSH search of one gallery, scored.
struct SearchEvaluation: Sendable {
  /// One LSH setting of a probe sweep, scored.
  struct SweepPoint: Sendable {
    /// Probes per table.
    var probes: Int
    /// The metrics of its top-D rankings.
    var metrics: EvaluationMetrics
    /// Search speed.
    var queriesPerSecond: Double
    /// ANN recall at the searched depth.
    var annRecall: Double
    /// Mean candidates per query.
    var meanCandidates: Double
  }

  /// The report rows.
  var entries: [EvaluationReport.Entry]
  /// The index settings used (bucket width resolved), or `nil` for exact search only.
  var lsh: LSHConfiguration?
  /// The probe sweep, scored.
  var sweep: [SweepPoint]
}
