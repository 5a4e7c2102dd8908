import Evaluation
import Foundation
import TestSupport
import Testing
import TripIndex

@Suite struct EvaluateTests {
  /// The worked example of shared/REFERENCES.md as files: 2-d points whose distances give the
  /// example's rankings for q0 and q1.
  private func workedExample(_ directory: TemporaryDirectory) {
    // Gallery (pid, camera): g0 (1,1), g1 (1,2), g2 (2,2), g3 (2,1), g4 (3,2), g5 (1,3), on a line
    // at 0, 2, 1, 5, 3, 4, so that q0 at 0 ranks them g0 g2 g1 g4 g5 g3 as in the example.
    directory.write("0.0 0\n", to: "gallery/0001_c1s1_000001_00.vec")  // g0
    directory.write("2.0 0\n", to: "gallery/0001_c2s1_000002_00.vec")  // g1
    directory.write("1.0 0\n", to: "gallery/0002_c2s1_000003_00.vec")  // g2
    directory.write("5.0 0\n", to: "gallery/0002_c1s1_000004_00.vec")  // g3
    directory.write("3.0 0\n", to: "gallery/0003_c2s1_000005_00.vec")  // g4
    directory.write("4.0 0\n", to: "gallery/0001_c3s1_000006_00.vec")  // g5
    directory.write("0 0\n", to: "query/0001_c1s1_000100_00.vec")  // q0: g0 g2 g1 g4 g5 g3
    directory.write("4 0\n", to: "query/0004_c2s1_000101_00.vec")  // q2: no match
  }

  @Test("eval reproduces the worked example's Market-1501 numbers for q0 and skips q2")
  func workedExample() throws {
    let directory = TemporaryDirectory()
    workedExample(directory)
    let report = try Evaluate.run(
      Evaluate.Options(queryPath: directory.file("query"), galleryPath: directory.file("gallery")),
      progress: SilentProgress())
    let metrics = try #require(report.entries.first?.metrics)
    // q0: g0 removed; kept g2 g1 g4 g5 g3 → hits 0,1,0,1,0 → CMC@1 0, AP 0.5, INP 0.5.
    #expect(metrics.validQueries == 1 && metrics.skippedQueries == 1)
    #expect(metrics.cmc.prefix(3) == [0, 1, 1])
    #expect(abs(metrics.mAP - 0.5) < 1e-9 && abs(metrics.mINP - 0.5) < 1e-9)
  }

  @Test("the report folder holds Markdown, JSON, CSV and an SVG chart")
  func reportFiles() throws {
    let directory = TemporaryDirectory()
    workedExample(directory)
    let outcome = try TripIndexExecutable.run([
      "eval", "--query", directory.file("query"), "--gallery", directory.file("gallery"),
      "--max-rank", "5",
      "--report", directory.file("report"), "--json",
    ])
    #expect(outcome.status == 0, "\(outcome.stderr)")
    let json = try #require(
      JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any])
    let method = try #require((json["methods"] as? [[String: Any]])?.first)
    #expect(method["map"] as? Double == 0.5)
    #expect((method["cmc"] as? [Double]) == [0, 1, 1, 1, 1])
    let markdown = try String(contentsOfFile: directory.file("report/report.md"), encoding: .utf8)
    #expect(markdown.contains("| exact | 0.0 | 100.0 | - | - | 50.0 | 50.0 | 1 | 1 |"))
    let csv = try String(contentsOfFile: directory.file("report/cmc.csv"), encoding: .utf8)
    #expect(csv.hasPrefix("rank,exact\n1,0.0\n2,1.0\n"))
    let svg = try String(contentsOfFile: directory.file("report/cmc.svg"), encoding: .utf8)
    #expect(svg.hasPrefix("<svg") && svg.contains("<polyline") && svg.contains(">exact</text>"))
    #expect(FileManager.default.fileExists(atPath: directory.file("report/metrics.json")))
    // The folder now holds files: a second report into it is refused before any work, unless
    // --force.
    let again = [
      "eval", "--query", directory.file("query"), "--gallery", directory.file("gallery"),
      "--report", directory.file("report"),
    ]
    let refused = try TripIndexExecutable.run(again)
    #expect(refused.status != 0 && refused.stderr.contains("already holds 5 file(s); give --force"))
    #expect(try TripIndexExecutable.run(again + ["--force"]).status == 0)
  }

  @Test("re-ranking from squared distances: l2 only, and only with --rerank")
  func rerankDistanceRefusals() throws {
    let directory = TemporaryDirectory()
    workedExample(directory)
    let base = ["eval", "--query", directory.file("query"), "--gallery", directory.file("gallery")]
    let cosine = try TripIndexExecutable.run(
      base + ["--metric", "cosine", "--rerank", "--rerank-distance", "squared"])
    #expect(cosine.status != 0 && cosine.stderr.contains("applies to l2 embeddings"))
    let alone = try TripIndexExecutable.run(base + ["--rerank-distance", "squared"])
    #expect(alone.status != 0 && alone.stderr.contains("add --rerank"))
    let bad = try TripIndexExecutable.run(base + ["--rerank", "--rerank-distance", "cube"])
    #expect(bad.status != 0 && bad.stderr.contains("takes 'euclidean' or 'squared'"))
    let squared = try TripIndexExecutable.run(
      base + ["--rerank", "--rerank-distance", "squared", "--k1", "2", "--k2", "1"])
    #expect(squared.status == 0, "\(squared.stderr)")
  }

  @Test("JSON keys are snake_case: column titles become keys")
  func jsonKeys() {
    #expect(EvaluationReport.jsonKey("queries/s") == "queries_per_second")
    #expect(EvaluationReport.jsonKey("candidates/q") == "candidates_per_query")
    #expect(EvaluationReport.jsonKey("ANN recall@10") == "ann_recall_at_10")
    #expect(EvaluationReport.jsonKey("search q/s") == "search_q_per_second")
  }

  @Test("re-ID protocols name the first item without a camera")
  func missingLabels() throws {
    let directory = TemporaryDirectory()
    directory.write("0 0\n", to: "query/0001_c1s1_000100_00.vec")
    directory.write("1 0\n", to: "gallery/plain.vec")
    #expect {
      try Evaluate.run(
        Evaluate.Options(
          queryPath: directory.file("query"), galleryPath: directory.file("gallery")),
        progress: SilentProgress())
    } throws: { error in
      "\(error)".contains("gallery item 'plain'") && "\(error)".contains("has no pid")
    }
    var retrieval = Evaluate.Options(queryPath: directory.file("query"), galleryPath: nil)
    retrieval.protocolChoice = .market1501
    #expect { try Evaluate.run(retrieval, progress: SilentProgress()) } throws: {
      "\($0)".contains("gallery is required")
    }
  }
}
