import Evaluation
import Foundation
import TestSupport
import Testing
import VectorMath

/// k-reciprocal re-ranking against torchreid's numpy `re_ranking`: the fixtures hold problems and
/// the reference's final distances, written by Benchmarks/scripts/compare_rerank_torchreid.py.
@Suite struct RerankingTests {
  struct Reference {
    var queries: Matrix
    var gallery: Matrix
    var queryLabels: LabelSet
    var galleryLabels: LabelSet
    var parameters: RerankingParameters
    var finalDistances: [[Double]]
    var mAP: Double
    var mINP: Double
    var cmc: [Double]
  }

  static func reference(_ name: String) throws -> Reference {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
      .appendingPathComponent("Fixtures/\(name)")
    let object = try #require(
      try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
    func matrix(_ key: String) throws -> Matrix {
      let rows = try #require(object[key] as? [[Double]])
      return Matrix(rowArrays: rows.map { $0.map { Float($0) } })
    }
    func labels(_ key: String) throws -> [Int32] {
      try #require(object[key] as? [Int]).map { Int32($0) }
    }
    return Reference(
      queries: try matrix("queries"), gallery: try matrix("gallery"),
      queryLabels: LabelSet(pids: try labels("query_pids"), cameras: try labels("query_cameras")),
      galleryLabels: LabelSet(
        pids: try labels("gallery_pids"), cameras: try labels("gallery_cameras")),
      parameters: RerankingParameters(
        k1: try #require(object["k1"] as? Int), k2: try #require(object["k2"] as? Int),
        lambda: try #require(object["lambda"] as? Double),
        distance: RerankingDistance(rawValue: object["distance"] as? String ?? "euclidean")
          ?? .euclidean),
      finalDistances: try #require(object["final_distances"] as? [[Double]]),
      mAP: try #require(object["mAP"] as? Double), mINP: try #require(object["mINP"] as? Double),
      cmc: try #require(object["cmc"] as? [Double]))
  }

  /// Squared Euclidean distances, one row per query (what the evaluator's tiles hold).
  static func squaredDistances(_ queries: Matrix, _ gallery: Matrix) -> [[Float]] {
    (0..<queries.rows).map { query in
      (0..<gallery.rows).map { item in
        zip(queries.row(query), gallery.row(item)).map { ($0 - $1) * ($0 - $1) }.reduce(0, +)
      }
    }
  }

  static func reranked(_ reranker: KReciprocalReranker, _ distances: [[Float]]) -> [[Float]] {
    var scratch = KReciprocalReranker.Scratch(galleryCount: reranker.galleryCount)
    return distances.enumerated().map { query, row in
      var values = row
      values.withUnsafeMutableBufferPointer {
        reranker.rerank(query: query, distances: $0, scratch: &scratch)
      }
      return values
    }
  }

  @Test(
    "final distances equal torchreid's re_ranking to 1e-4 and metrics to 1e-6, given Euclidean distances (the reference's convention) or squared ones (torchreid's engine)",
    arguments: [
      "rerank_torchreid_k6.json", "rerank_torchreid_k20.json", "rerank_torchreid_k6_squared.json",
    ])
  func matchesTorchreid(fixture: String) throws {
    let reference = try Self.reference(fixture)
    for threads in [1, 2] {
      let reranker = KReciprocalReranker(
        queries: reference.queries, gallery: reference.gallery, metric: .l2,
        parameters: reference.parameters, threads: threads)
      let final = Self.reranked(
        reranker, Self.squaredDistances(reference.queries, reference.gallery))
      var largest = 0.0
      for (row, expected) in zip(final, reference.finalDistances) {
        for (value, wanted) in zip(row, expected) {
          largest = max(largest, abs(Double(value) - wanted))
        }
      }
      #expect(largest < 1e-4, "largest difference \(largest) (\(threads) threads)")
      let evaluator = Evaluator(evaluationProtocol: .market1501, maxRank: reference.cmc.count)
      let metrics = evaluator.evaluate(
        queryVectors: reference.queries, galleryVectors: reference.gallery, metric: .l2,
        queries: reference.queryLabels, gallery: reference.galleryLabels, reranker: reranker)
      #expect(abs(metrics.mAP - reference.mAP) < 1e-6)
      #expect(abs(metrics.mINP - reference.mINP) < 1e-6)
      for (value, wanted) in zip(metrics.cmc, reference.cmc) { #expect(abs(value - wanted) < 1e-6) }
    }
  }

  @Test("the two conventions give different re-rankings of the same data")
  func conventionsDiffer() throws {
    let reference = try Self.reference("rerank_torchreid_k6_squared.json")
    var euclidean = reference.parameters
    euclidean.distance = .euclidean
    let distances = Self.squaredDistances(reference.queries, reference.gallery)
    let squaredFinal = Self.reranked(
      KReciprocalReranker(
        queries: reference.queries, gallery: reference.gallery, metric: .l2,
        parameters: reference.parameters, threads: 1), distances)
    let euclideanFinal = Self.reranked(
      KReciprocalReranker(
        queries: reference.queries, gallery: reference.gallery, metric: .l2,
        parameters: euclidean, threads: 1), distances)
    #expect(reference.parameters.distance == .squared)
    #expect(
      zip(squaredFinal, euclideanFinal).contains { zip($0, $1).contains { abs($0 - $1) > 1e-3 } })
  }

  @Test(
    "λ = 1 keeps the plain ranking (each row scaled by its maximum); λ = 0 is the Jaccard alone")
  func blend() throws {
    let reference = try Self.reference("rerank_torchreid_k20.json")
    let plain = Self.squaredDistances(reference.queries, reference.gallery)
    let original = KReciprocalReranker(
      queries: reference.queries, gallery: reference.gallery, metric: .l2,
      parameters: RerankingParameters(lambda: 1))
    let jaccard = KReciprocalReranker(
      queries: reference.queries, gallery: reference.gallery, metric: .l2,
      parameters: RerankingParameters(lambda: 0))
    let blended = KReciprocalReranker(
      queries: reference.queries, gallery: reference.gallery, metric: .l2,
      parameters: RerankingParameters(lambda: 0.3))
    let scaled = Self.reranked(original, plain)
    let jaccardRows = Self.reranked(jaccard, plain)
    let blendedRows = Self.reranked(blended, plain)
    let everyItem = reference.queries.rows + reference.gallery.rows
    for query in 0..<plain.count {
      // Scaled by the query's largest squared distance over every item: order kept, values ≤ 1.
      let ratios = zip(scaled[query], plain[query]).filter { $1 > 0 }.map { $0 / $1 }
      let ratio = try #require(ratios.first)
      #expect(ratios.allSatisfy { abs($0 - ratio) < 1e-5 * ratio })
      #expect(scaled[query].allSatisfy { $0 <= 1 + 1e-6 } && everyItem > 0)
      for item in 0..<plain[query].count {
        #expect((0...1).contains(jaccardRows[query][item]))
        let mixed = 0.7 * jaccardRows[query][item] + 0.3 * scaled[query][item]
        #expect(abs(blendedRows[query][item] - mixed) < 1e-5)
      }
    }
  }

  @Test(
    "from exact candidate lists (what a perfect index returns), re-ranking equals the exact pass")
  func fromCandidates() throws {
    let reference = try Self.reference("rerank_torchreid_k20.json")
    let parameters = reference.parameters
    let items = reference.queries.rows + reference.gallery.rows
    let all = Matrix(
      rows: items, columns: reference.queries.columns,
      values: reference.queries.values + reference.gallery.values)
    // Each item's k1 + 1 nearest gallery items, by brute force.
    let candidates = (0..<items).map { item in
      Self.squaredDistances(
        Matrix(rows: 1, columns: all.columns, values: all.row(item)), reference.gallery
      )[0].enumerated().sorted { ($0.element, $0.offset) < ($1.element, $1.offset) }
        .prefix(parameters.neighbourCount).map(\.offset)
    }
    let exact = KReciprocalReranker(
      queries: reference.queries, gallery: reference.gallery, metric: .l2, parameters: parameters)
    let fromLists = KReciprocalReranker(
      queries: reference.queries, gallery: reference.gallery, metric: .l2, parameters: parameters,
      galleryCandidates: candidates)
    let plain = Self.squaredDistances(reference.queries, reference.gallery)
    let expected = Self.reranked(exact, plain)
    var scratch = KReciprocalReranker.Scratch(galleryCount: reference.gallery.rows)
    for query in 0..<reference.queries.rows {
      // Re-ranking a subset: the candidates' own distances only.
      let subset = Array(stride(from: query % 3, to: reference.gallery.rows, by: 3))
      var distances = subset.map { plain[query][$0] }
      fromLists.rerank(query: query, items: subset, distances: &distances, scratch: &scratch)
      for (position, item) in subset.enumerated() {
        #expect(
          abs(distances[position] - expected[query][item]) < 1e-5, "query \(query) item \(item)")
      }
    }
  }

  @Test("settings are checked: k1 and k2 at least 1, λ in [0, 1]")
  func settings() {
    #expect(RerankingParameters().problem == nil)
    #expect(RerankingParameters(k1: 0).problem?.contains("k1 must be at least 1") == true)
    #expect(RerankingParameters(k2: 0).problem?.contains("k2 must be at least 1") == true)
    #expect(
      RerankingParameters(lambda: 1.5).problem?.contains("lambda must be in [0, 1]") == true)
  }
}
