import Foundation
import TestSupport
import Testing

/// Training that can be followed under nohup or from a program, and models that describe
/// themselves.
@Suite struct TrainingLogTests {
  private var trainFolder: String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().path + "/datasets/synth-reid/train"
  }

  @Test(
    "--log-every writes progress lines to stderr when it is not a terminal, --log-json JSON lines; the learning rate reads 3.00e-3"
  )
  func logs() throws {
    let directory = TemporaryDirectory()
    let base = [
      "train", trainFolder, "--iterations", "40", "--layers", "16,8", "--log-every", "20",
    ]
    let plain = try TripIndexExecutable.run(base + ["--out", directory.file("a.tpm")])
    #expect(plain.status == 0, "\(plain.stderr)")
    let lines = plain.stderr.split(separator: "\n").filter { $0.hasPrefix("iteration ") }
    #expect(lines.count == 2 && lines[0].hasPrefix("iteration 20/40: loss "), "\(plain.stderr)")
    #expect(lines[0].contains("lr 3.00e-3"))
    let json = try TripIndexExecutable.run(base + ["--log-json", "--out", directory.file("b.tpm")])
    let objects = try json.stderr.split(separator: "\n").filter { $0.hasPrefix("{") }.map {
      try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
    }
    #expect(objects.map { $0["iteration"] as? Int } == [20, 40])
    #expect(objects[0]["validation_map"] is NSNull && objects[1]["validation_map"] is Double)
    #expect(objects.allSatisfy { $0["loss"] is Double && $0["learning_rate"] is Double })
    // Without either, a non-terminal stderr gets no progress lines.
    let quiet = try TripIndexExecutable.run([
      "train", trainFolder, "--iterations", "20", "--layers", "16,8", "--out",
      directory.file("c.tpm"),
    ])
    #expect(!quiet.stderr.contains("iteration "))
  }

  @Test("info --model describes layers, loss, training and validation, as text and JSON")
  func describesModel() throws {
    let directory = TemporaryDirectory()
    let model = directory.file("m.tpm")
    let trained = try TripIndexExecutable.run([
      "train", trainFolder, "--iterations", "30", "--layers", "16,8", "--out", model,
    ])
    #expect(trained.status == 0, "\(trained.stderr)")
    let text = try TripIndexExecutable.run(["info", "--model", model])
    #expect(text.status == 0)
    #expect(text.stdout.contains("layers: 96 → 16 (BN, ReLU) → 8; inputs standardised"))
    #expect(text.stdout.contains("loss: batch-hard, margin soft, l2"))
    #expect(text.stdout.contains("validation: mAP "))
    let json = try TripIndexExecutable.run(["info", "--model", model, "--json"])
    let object = try #require(
      JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
    let architecture = try #require(object["architecture"] as? [String: Any])
    #expect(architecture["hidden_sizes"] as? [Int] == [16])
    #expect(architecture["output_dimension"] as? Int == 8)
    let training = try #require(object["training"] as? [String: Any])
    #expect(training["iterations"] as? Int == 30 && training["validation_map"] is Double)
    let missing = try TripIndexExecutable.run(["info", "--model", directory.file("none.tpm")])
    #expect(missing.status != 0 && missing.stderr.contains("none.tpm"))
  }
}
