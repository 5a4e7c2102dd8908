import Embedding
import Evaluation
import Foundation
import LSHIndex
import Plumbing
import TestSupport
import Testing
import TripIndex
import TripIndexTools
import VectorIO
import VectorMath
import VectorStore

#if canImport(FoundationXML)
  import FoundationXML
#endif

/// train → embed / build --model → query, on a small synthetic re-ID set.
@Suite struct ModelWorkflowTests {
  /// A small synthetic set and a model trained on it, shared by the tests of this suite.
  final class Fixture: @unchecked Sendable {
    let directory = TemporaryDirectory()
    let modelPath: String
    let report: Train.Report

    init() throws {
      var options = SyntheticReID.Options(output: directory.file("set"), seed: 4)
      options.dimension = 48
      options.trainIdentities = 120
      options.testIdentities = 30
      options.distractors = 10
      options.junk = 4
      _ = try SyntheticReID.generate(options)
      modelPath = directory.file("model.tpm")
      var train = Train.Options(input: directory.file("set/train"), output: modelPath)
      train.training.hiddenSizes = [32]
      train.training.outputDimension = 16
      train.training.identitiesPerBatch = 8
      train.training.iterations = 600
      train.training.learningRate = 3e-3
      train.training.validationInterval = 200
      report = try Train.run(train, progress: SilentProgress())
    }

    static let shared = Result { try Fixture() }
  }

  private func fixture() throws -> Fixture { try Fixture.shared.get() }

  @Test(
    "training reports validation and writes a model that embeds; the model improves re-ID over raw features"
  )
  func trainAndEvaluate() throws {
    let fixture = try fixture()
    #expect(fixture.report.validationHistory.count == 3)
    #expect(fixture.report.validationIdentities == 12 && fixture.report.identities == 108)
    #expect(fixture.report.model.training.validationScore != nil)
    let set = fixture.directory.file("set")
    var raw = Evaluate.Options(queryPath: set + "/query", galleryPath: set + "/gallery")
    let rawMetrics = try #require(
      Evaluate.run(raw, progress: SilentProgress()).entries.first?.metrics)
    raw.modelPath = fixture.modelPath
    let learned = try #require(
      Evaluate.run(raw, progress: SilentProgress()).entries.first?.metrics)
    #expect(learned.mAP > rawMetrics.mAP + 0.1, "raw mAP \(rawMetrics.mAP), learned \(learned.mAP)")
    #expect(learned.cmc[0] > rawMetrics.cmc[0])
  }

  @Test(
    "train refuses a softmax weight on the softmax loss, a negative weight, smoothing outside [0, 1), and head settings without a head",
    arguments: [
      (["--loss", "softmax", "--softmax-weight", "0.1"], "--loss softmax is the head alone"),
      (["--softmax-weight", "-1"], "--softmax-weight must be a non-negative number"),
      (["--label-smoothing", "1"], "--label-smoothing must be in [0, 1)"),
      (["--softmax-weight", "0.1", "--softmax-classes", "-2"], "--softmax-classes must be 0"),
      (["--softmax-classes", "40"], "--softmax-classes needs a softmax head"),
      (["--bnneck"], "--bnneck sits in front of a softmax head"),
      (["--loss", "softmax", "--embed-from", "after"], "--embed-from needs --bnneck"),
      (
        ["--loss", "softmax", "--bnneck", "--embed-from", "after", "--normalize"],
        "--embed-from after folds the neck"
      ),
    ])
  func jointOptions(arguments: [String], expected: String) throws {
    let directory = TemporaryDirectory()
    let outcome = try TripIndexExecutable.run(
      ["train", "datasets-missing", "--out", directory.file("m.tpm")] + arguments)
    #expect(outcome.status != 0)
    #expect(outcome.stderr.contains(expected), "\(outcome.stderr)")
  }

  @Test(
    "eval --gallery-store ranks a store's items with its model and index: the metrics of the folder, with and without re-ranking"
  )
  func storedGallery() throws {
    let fixture = try fixture()
    let set = fixture.directory.file("set")
    let store = fixture.directory.file("gallery-\(UUID().uuidString).lmdb")
    var build = Build.Options(input: set + "/gallery", storePath: store)
    build.modelPath = fixture.modelPath
    build.index = LSHChoices()
    _ = try Build.run(build, progress: SilentProgress())
    var folder = Evaluate.Options(queryPath: set + "/query", galleryPath: set + "/gallery")
    folder.modelPath = fixture.modelPath
    folder.rerank = RerankingParameters()
    var stored = Evaluate.Options(queryPath: set + "/query", galleryPath: nil)
    stored.galleryStorePath = store
    stored.rerank = RerankingParameters()
    let fromFolder = try Evaluate.run(folder, progress: SilentProgress()).entries
    let fromStore = try Evaluate.run(stored, progress: SilentProgress()).entries
    #expect(fromFolder.map(\.name) == ["exact", "exact+rerank"])
    #expect(fromStore.map(\.name) == fromFolder.map(\.name))
    for (a, b) in zip(fromFolder, fromStore) {
      #expect(abs(a.metrics.mAP - b.metrics.mAP) < 1e-6, "\(a.name)")
      #expect(a.metrics.cmc[0] == b.metrics.cmc[0], "\(a.name)")
      #expect(a.metrics.validQueries == b.metrics.validQueries)
    }
    // Re-ranking helps on this set, as on the re-ID benchmarks.
    #expect(fromFolder[1].metrics.mAP > fromFolder[0].metrics.mAP)
    // info names the model and the index.
    let info = try TripIndexExecutable.run(["info", "--store", store, "--json"])
    let described = try #require(
      JSONSerialization.jsonObject(with: Data(info.stdout.utf8)) as? [String: Any])
    let model = try #require(described["model"] as? [String: Any])
    #expect(model["fingerprint"] as? String == fixture.report.model.fingerprint)
    #expect(
      (model["description"] as? String)?.hasPrefix("48 → 32 (BN, ReLU) → 16, batch-hard") == true)
    #expect((described["index"] as? [String: Any])?["kind"] as? String == "lsh")
    // With --index lsh the store's own index is searched.
    stored.lsh = LSHChoices()
    stored.rerank = nil
    let indexed = try Evaluate.run(stored, progress: SilentProgress())
    #expect(indexed.entries.map(\.name) == ["exact", "exact top-50", "lsh top-50"])
    #expect(abs(indexed.entries[0].metrics.mAP - fromFolder[0].metrics.mAP) < 1e-6)
  }

  @Test(
    "eval refuses two galleries, a store without an index for --index lsh, and re-ranking settings without --rerank",
    arguments: [
      (["--gallery", "GALLERY", "--gallery-store", "STORE"], "give one"),
      (["--gallery-store", "STORE", "--index", "lsh"], "has no LSH index"),
      (["--gallery-store", "STORE", "--metric", "cosine"], "differs from the metric of store"),
      (["--gallery", "GALLERY", "--k1", "5"], "add --rerank"),
      (["--gallery", "GALLERY", "--rerank", "--k2", "0"], "--k2 must be at least 1"),
      (["--rerank"], "give --gallery"),
    ])
  func storedGalleryErrors(arguments: [String], expected: String) throws {
    let fixture = try fixture()
    let set = fixture.directory.file("set")
    let store = fixture.directory.file("plain-\(UUID().uuidString).lmdb")
    _ = try Build.run(
      Build.Options(input: set + "/gallery", storePath: store), progress: SilentProgress())
    let substitutions = ["GALLERY": set + "/gallery", "STORE": store]
    let outcome = try TripIndexExecutable.run(
      ["eval", "--query", set + "/query", "--protocol", "retrieval"]
        + arguments.map { substitutions[$0] ?? $0 })
    #expect(outcome.status != 0)
    #expect(outcome.stderr.contains(expected), "\(outcome.stderr)")
  }

  @Test("build --model stores embeddings and query embeds probes with the store's model")
  func buildAndQuery() throws {
    let fixture = try fixture()
    let store = fixture.directory.file("embedded-\(UUID().uuidString).lmdb")
    var build = Build.Options(input: fixture.directory.file("set/gallery"), storePath: store)
    build.modelPath = fixture.modelPath
    let report = try Build.run(build, progress: SilentProgress())
    #expect(report.dimension == 16)
    let opened = try VectorStore.open(path: store, readOnly: true)
    #expect(try opened.metadata(StoreModel.fingerprintKey) == fixture.report.model.fingerprint)
    // The stored vectors are the model's embeddings of the files.
    let gallery = try LabelledVectors.load(
      fixture.directory.file("set/gallery"), progress: SilentProgress())
    let embedded = fixture.report.model.embed(gallery.vectors)
    try opened.read { snapshot in
      let id = try #require(try snapshot.id(named: gallery.names[3]))
      let stored = try #require(snapshot.vector(id: id))
      #expect(zip(Array(stored), embedded.row(3)).allSatisfy { abs($0 - $1) < 1e-5 })
    }
    // A probe: one query file, embedded automatically.
    let queryFiles = try FileManager.default.contentsOfDirectory(
      atPath: fixture.directory.file("set/query")
    ).sorted()
    let probe = fixture.directory.file("set/query/" + queryFiles[0])
    let result = try Query.run(Query.Options(probePath: probe, storePath: store, k: 5))
    let probeVector = try VectorFileReader.readAll(path: probe).values
    let probeEmbedding = fixture.report.model.embed(
      Matrix(rows: 1, columns: 48, values: probeVector))
    let expected = Fixtures.bruteForce(
      base: embedded, probe: probeEmbedding.values, k: 5, metric: .l2)
    #expect(result.neighbors[0].map(\.item.name) == expected.map { gallery.names[$0.id] })
  }

  @Test(
    "a second build into a model-built store embeds with its model; query names a missing or changed model"
  )
  func modelMismatches() throws {
    let fixture = try fixture()
    let directory = TemporaryDirectory()
    let modelCopy = directory.file("copy.tpm")
    try FileManager.default.copyItem(atPath: fixture.modelPath, toPath: modelCopy)
    let store = directory.file("s.lmdb")
    var build = Build.Options(input: fixture.directory.file("set/gallery"), storePath: store)
    build.modelPath = modelCopy
    _ = try Build.run(build, progress: SilentProgress())
    // Without --model, a second build embeds with the store's recorded model: the same
    // embeddings, so every item is unchanged.
    build.modelPath = nil
    let again = try Build.run(build, progress: SilentProgress())
    #expect(again.added == 0 && again.unchanged == again.vectors && again.vectors > 0)
    let probe = directory.write(
      Array(repeating: "0.5", count: 48).joined(separator: " ") + "\n", to: "probe.vec")
    // Replace the model file with a different model: the fingerprint no longer matches.
    var options = TrainingOptions()
    options.hiddenSizes = []
    options.outputDimension = 16
    options.iterations = 2
    let other = try Trainer.train(
      TrainingData(
        vectors: Matrix(rows: 4, columns: 48, values: (0..<192).map { Float($0 % 7) }),
        identities: [1, 1, 2, 2]),
      options: options)
    try other.model.write(to: modelCopy)
    #expect { try Query.run(Query.Options(probePath: probe, storePath: store)) } throws: {
      "\($0)".contains("is not the one store")
    }
    try FileManager.default.removeItem(atPath: modelCopy)
    #expect { try Query.run(Query.Options(probePath: probe, storePath: store)) } throws: {
      "\($0)".contains("which is missing")
    }
  }

  @Test("embed writes one embedding per input row, and labels when asked")
  func embed() throws {
    let fixture = try fixture()
    let directory = TemporaryDirectory()
    let report = try Embed.run(
      input: fixture.directory.file("set/gallery"), modelPath: fixture.modelPath,
      output: directory.file("g.npy"),
      labelsOutput: directory.file("labels.csv"), progress: SilentProgress())
    let read = try VectorFileReader.readAll(path: directory.file("g.npy"))
    #expect(read.dimension == 16 && read.values.count == report.rows * 16)
    let labels = try LabelsFile(path: directory.file("labels.csv"))
    #expect(labels.entries.count == report.rows)
    #expect(labels.entries.allSatisfy { $0.labels.pid != nil && $0.labels.camera != nil })
    // Building the embedded file with its labels gives the same names as the folder.
    let store = directory.file("s.lmdb")
    _ = try Build.run(
      Build.Options(input: directory.path, storePath: store), progress: SilentProgress())
    #expect(try VectorStore.open(path: store).count() == report.rows)
  }

  @Test("eval --index lsh: one bucket and no budget reproduce exact top-D; defaults report recall")
  func evalWithLSH() throws {
    let fixture = try fixture()
    let set = fixture.directory.file("set")
    func methods(_ extra: [String]) throws -> [[String: Any]] {
      let outcome = try TripIndexExecutable.run(
        [
          "eval", "--query", set + "/query", "--gallery", set + "/gallery", "--model",
          fixture.modelPath, "--max-rank", "20", "--index", "lsh", "--json", "--quiet",
        ] + extra)
      #expect(outcome.status == 0, "\(outcome.stderr)")
      let json = try #require(
        JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any])
      return try #require(json["methods"] as? [[String: Any]])
    }
    // A bucket far wider than the data holds every item, and without a budget every one is
    // re-ranked exactly: the LSH rows must equal exact top-D.
    let whole = try methods(["--width", "1e9", "--budget", "0"])
    #expect(whole.map { $0["name"] as? String } == ["exact", "exact top-20", "lsh top-20"])
    #expect(whole[2]["ann_recall_at_20"] as? Double == 1)
    for key in ["rank1", "rank5", "map", "minp"] {
      #expect(whole[1][key] as? Double == whole[2][key] as? Double, "\(key)")
    }
    // Re-ranking adds exact+rerank and lsh+rerank rows.
    let reranked = try methods(["--width", "1e9", "--budget", "0", "--rerank"])
    #expect(
      reranked.map { $0["name"] as? String } == [
        "exact", "exact+rerank", "exact top-20", "lsh top-20", "lsh+rerank top-20",
      ])
    #expect(reranked[4]["ann_recall_at_20"] as? Double == 1)
    // The exact row is the ordinary evaluation.
    let plain = try TripIndexExecutable.run([
      "eval", "--query", set + "/query", "--gallery", set + "/gallery", "--model",
      fixture.modelPath,
      "--max-rank", "20", "--json", "--quiet",
    ])
    let plainJSON = try #require(
      JSONSerialization.jsonObject(with: Data(plain.stdout.utf8)) as? [String: Any])
    let plainExact = try #require((plainJSON["methods"] as? [[String: Any]])?.first)
    #expect(plainExact["map"] as? Double == whole[0]["map"] as? Double)
    // With the defaults, fewer candidates than the gallery are examined.
    let defaults = try methods([])
    let recall = try #require(defaults[2]["ann_recall_at_20"] as? Double)
    let candidates = try #require(defaults[2]["candidates_per_query"] as? Double)
    let galleryItems = try #require(defaults[0]["candidates_per_query"] as? Double)
    #expect(recall > 0.3 && recall <= 1 && candidates < galleryItems)
  }

  @Test(
    "benchmark: triplet, surrogate and joint beat raw features; report, plots and models are written"
  )
  func benchmark() throws {
    let fixture = try fixture()
    let report = fixture.directory.file("benchmark-\(UUID().uuidString)")
    let outcome = try TripIndexExecutable.run([
      "benchmark", fixture.directory.file("set"), "--iterations", "800", "--seeds", "2",
      "--layers", "32,16", "--max-rank", "10", "--probe-sweep", "1,4", "--report", report,
      "--json", "--quiet",
    ])
    #expect(outcome.status == 0, "\(outcome.stderr)")
    let json = try #require(
      JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any])
    let methods = try #require(json["methods"] as? [[String: Any]])
    let names = methods.compactMap { $0["name"] as? String }
    #expect(
      names
        == ["raw", "triplet", "surrogate", "surrogate-cosine", "joint"].flatMap { method in
          ["exact", "exact+rerank", "exact top-10", "lsh top-10", "lsh+rerank top-10"].map {
            "\(method) \($0)"
          }
        })
    func mAP(_ name: String) -> Double {
      methods.first { $0["name"] as? String == name }?["map"] as? Double ?? -1
    }
    #expect(mAP("triplet exact") > mAP("raw exact") + 0.1)
    #expect(mAP("surrogate exact") > mAP("raw exact"))
    #expect(mAP("joint exact") > mAP("raw exact") + 0.1)
    #expect(mAP("triplet exact+rerank") > mAP("triplet exact"))
    let sweep = try #require(json["lsh_probe_sweep"] as? [String: [[String: Any]]])
    #expect(sweep["triplet"]?.compactMap { $0["probes"] as? Int } == [1, 4])
    for file in ["report.md", "metrics.json", "cmc.csv", "cmc.svg", "rank1-vs-qps.svg"] {
      #expect(FileManager.default.fileExists(atPath: report + "/" + file), "\(file)")
    }
    for file in ["cmc.svg", "rank1-vs-qps.svg", "map-vs-qps.svg"] {
      let parser = try #require(XMLParser(contentsOf: URL(fileURLWithPath: report + "/" + file)))
      #expect(
        parser.parse(), "\(file) is not well-formed XML: \(String(describing: parser.parserError))")
    }
    let chart = try String(contentsOfFile: report + "/map-vs-qps.svg", encoding: .utf8)
    #expect(chart.contains(">triplet lsh top-10</text>") && chart.contains("<polyline"))
    let models = Directories.entries(in: report + "/models") ?? []
    #expect(
      Set(models) == [
        "triplet-seed1.tpm", "triplet-seed2.tpm", "surrogate-seed1.tpm", "surrogate-seed2.tpm",
        "joint-seed1.tpm", "joint-seed2.tpm",
      ])
  }

  @Test("train --loss ladder grades by labels.csv's group column; a missing group is named")
  func ladderGroups() throws {
    let directory = TemporaryDirectory()
    let matrix = Fixtures.randomMatrix(rows: 32, columns: 6, seed: 21)
    var vectors = ""
    for row in 0..<32 {
      vectors += matrix.row(row).map { String($0) }.joined(separator: " ") + "\n"
    }
    // 8 identities × 4 samples; identities 1-4 in group 1, 5-8 in group 2.
    func labels(groups: Bool, missingAt: Int? = nil) -> String {
      var text = groups ? "name,pid,camera,group\n" : "name,pid,camera\n"
      for row in 0..<32 {
        let pid = row / 4 + 1
        text += "item\(row),\(pid),\(row % 4 + 1)"
        if groups { text += row == missingAt ? "," : ",\(pid <= 4 ? 1 : 2)" }
        text += "\n"
      }
      return text
    }
    func train(_ name: String, labels text: String) throws -> (TripIndexExecutable.Outcome, String)
    {
      directory.write(vectors, to: "\(name)/train.vec")
      directory.write(text, to: "\(name)/labels.csv")
      let model = directory.file("\(name).tpm")
      let outcome = try TripIndexExecutable.run([
        "train", directory.file(name), "--out", model, "--loss", "ladder", "--layers", "8,4",
        "--p", "4", "--k", "2", "--iterations", "30", "--validation", "0",
      ])
      return (outcome, model)
    }
    let (grouped, groupedModel) = try train("grouped", labels: labels(groups: true))
    #expect(grouped.status == 0, "\(grouped.stderr)")
    #expect(!grouped.stderr.contains("no groups to grade by"), "\(grouped.stderr)")
    let (plain, plainModel) = try train("plain", labels: labels(groups: false))
    #expect(plain.status == 0, "\(plain.stderr)")
    #expect(plain.stderr.contains("no groups to grade by"), "\(plain.stderr)")
    // Same data, seed and settings: only the groups differ, so the middle level changed training.
    let groupedWeights = try EmbeddingModel.read(from: groupedModel).network.parameters
    let plainWeights = try EmbeddingModel.read(from: plainModel).network.parameters
    #expect(groupedWeights != plainWeights)
    let (missing, _) = try train("missing", labels: labels(groups: true, missingAt: 5))
    #expect(missing.status != 0)
    #expect(missing.stderr.contains("'item5'") && missing.stderr.contains("has no group"))
  }

  @Test("benchmark names a missing train/ folder")
  func benchmarkMissingFolder() throws {
    let directory = TemporaryDirectory()
    directory.write("1 2\n", to: "query/0001_c1s1_000001_00.vec")
    let outcome = try TripIndexExecutable.run(["benchmark", directory.path, "--quiet"])
    #expect(outcome.status != 0)
    #expect(outcome.stderr.contains("no train/ folder"), "\(outcome.stderr)")
    let partial = try TripIndexExecutable.run([
      "benchmark", "--query", directory.file("query"), "--quiet",
    ])
    #expect(partial.status != 0 && partial.stderr.contains("all of --train, --query and --gallery"))
  }

  @Test("benchmark --train --query --gallery takes the three sets from anywhere")
  func benchmarkSetsByPath() throws {
    let fixture = try fixture()
    let set = fixture.directory.file("set")
    let outcome = try TripIndexExecutable.run([
      "benchmark", "--train", set + "/train", "--query", set + "/query", "--gallery",
      set + "/gallery", "--iterations", "30", "--seeds", "1", "--layers", "16,8", "--max-rank",
      "5", "--probe-sweep", "1", "--no-rerank", "--json", "--quiet", "--models",
      "mine=\(fixture.modelPath)", "--metric", "l2",
    ])
    #expect(outcome.status == 0, "\(outcome.stderr)")
    #expect(outcome.stdout.contains("\"name\": \"joint exact\""))
    // The user's model is scored beside them; with --metric l2 no surrogate-cosine rows.
    #expect(outcome.stdout.contains("\"name\": \"mine exact\""))
    #expect(outcome.stdout.contains("model mine"))
    #expect(!outcome.stdout.contains("surrogate-cosine"))
    let taken = try TripIndexExecutable.run([
      "benchmark", set, "--models", "joint=\(fixture.modelPath)", "--quiet",
    ])
    #expect(taken.status != 0 && taken.stderr.contains("the name 'joint' is taken"))
  }

  @Test(
    "a surrogate keeps its softmax head: info --model describes it, export-model --pytorch --head writes it with the pids; a triplet model and --head alone are refused"
  )
  func softmaxHeadExport() throws {
    let fixture = try fixture()
    let surrogate = fixture.directory.file("surrogate-head.tpm")
    let trained = try TripIndexExecutable.run([
      "train", fixture.directory.file("set/train"), "--out", surrogate, "--loss", "softmax",
      "--layers", "32,16", "--iterations", "200", "--quiet",
    ])
    #expect(trained.status == 0, "\(trained.stderr)")
    let info = try TripIndexExecutable.run(["info", "--model", surrogate, "--json"])
    let classifier = try #require(
      (try JSONSerialization.jsonObject(with: Data(info.stdout.utf8)) as? [String: Any])?[
        "classifier"] as? [String: Any])
    // The fixture's 120 training identities less the held-out validation ones.
    let classes = try #require(classifier["classes"] as? Int)
    #expect(classes > 90 && classes < 120 && classifier["inputs"] as? Int == 16)
    let exported = fixture.directory.file("surrogate-head.safetensors")
    let export = try TripIndexExecutable.run([
      "export-model", surrogate, "--out", exported, "--pytorch", "--head",
    ])
    #expect(export.status == 0, "\(export.stderr)")
    let bytes = try #require(FileManager.default.contents(atPath: exported))
    let headerLength = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.1) << (8 * $1.0) }
    let header = try #require(
      try JSONSerialization.jsonObject(with: bytes.subdata(in: 8..<(8 + headerLength)))
        as? [String: Any])
    let weight = try #require(header["classifier.weight"] as? [String: Any])
    #expect(weight["shape"] as? [Int] == [classes, 16])
    let pids = try #require(header["classifier.pids"] as? [String: Any])
    #expect(pids["dtype"] as? String == "I64" && pids["shape"] as? [Int] == [classes])
    let triplet = try TripIndexExecutable.run([
      "export-model", fixture.modelPath, "--out", exported, "--pytorch", "--head",
    ])
    #expect(triplet.status != 0 && triplet.stderr.contains("has no softmax head"))
    let alone = try TripIndexExecutable.run([
      "export-model", surrogate, "--out", exported, "--head",
    ])
    #expect(alone.status != 0 && alone.stderr.contains("--head goes with --pytorch"))
  }
}
