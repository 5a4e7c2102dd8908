import Embedding
import Foundation
import TestSupport
import Testing
import TripIndex
import VectorMath

/// torchreid relabels identities from 0: `--distractor-pid none` keeps pid 0 an identity, and by
/// default every item taken out for being pid 0 or −1 is counted in a warning that names the
/// option.
@Suite struct PIDConventionTests {
  /// Four identities (0…3) seen by three cameras in the gallery and one query each, from
  /// well-separated centres; headers in torchreid's spelling.
  private func reIDSet(_ directory: TemporaryDirectory) {
    var random = SeededRandom(seed: 3)
    let centres = (0..<4).map { _ in (0..<8).map { _ in Float(random.normal() * 3) } }
    func noisy(_ centre: [Float]) -> [Float] { centre.map { $0 + Float(random.normal() * 0.3) } }
    var gallery = Matrix(rows: 0, columns: 8)
    var galleryLabels = "name,person_id,camid\n"
    for pid in 0..<4 {
      for camera in 0..<3 {
        gallery.append(rows: noisy(centres[pid]))
        galleryLabels += "g\(pid)_\(camera),\(pid),\(camera)\n"
      }
    }
    var queries = Matrix(rows: 0, columns: 8)
    var queryLabels = "name,person_id,camid\n"
    for pid in 0..<4 {
      queries.append(rows: noisy(centres[pid]))
      queryLabels += "q\(pid),\(pid),9\n"
    }
    directory.write(Fixtures.fvecsBytes(gallery), to: "g/g.fvecs")
    directory.write(galleryLabels, to: "g/labels.csv")
    directory.write(Fixtures.fvecsBytes(queries), to: "q/q.fvecs")
    directory.write(queryLabels, to: "q/labels.csv")
  }

  @Test(
    "eval: pid 0 queries are skipped with a warning by default, scored with --distractor-pid none")
  func evaluation() throws {
    let directory = TemporaryDirectory()
    reIDSet(directory)
    let base = ["eval", "--query", directory.file("q"), "--gallery", directory.file("g"), "--json"]
    let market = try TripIndexExecutable.run(base)
    #expect(market.status == 0, "\(market.stderr)")
    #expect(market.stdout.contains("\"valid_queries\": 3, \"skipped_queries\": 1"))
    #expect(
      market.stderr.contains(
        "1 queries have pid 0, which --distractor-pid 0 makes distractors: they are skipped; if pid 0 is a real identity"
      ), "\(market.stderr)")
    let torchreid = try TripIndexExecutable.run(base + ["--distractor-pid", "none"])
    #expect(torchreid.status == 0, "\(torchreid.stderr)")
    #expect(torchreid.stdout.contains("\"valid_queries\": 4, \"skipped_queries\": 0"))
    // Another junk pid: pid 3 items are removed from rankings and skipped as queries.
    let junk = try TripIndexExecutable.run(
      base + ["--distractor-pid", "none", "--junk-pid", "3"])
    #expect(junk.stdout.contains("\"valid_queries\": 3, \"skipped_queries\": 1"))
    #expect(junk.stderr.contains("1 queries have pid 3, which --junk-pid 3 makes junk"))
    let bad = try TripIndexExecutable.run(base + ["--junk-pid", "minus"])
    #expect(bad.status != 0 && bad.stderr.contains("--junk-pid takes a pid or 'none'"))
  }

  @Test(
    "a store records the conventions it was built with; eval --gallery-store uses them, and a value given on the command line wins, with a warning"
  )
  func recordedInStore() throws {
    let directory = TemporaryDirectory()
    reIDSet(directory)
    let store = directory.file("g.lmdb")
    let built = try TripIndexExecutable.run([
      "build", directory.file("g"), "--store", store, "--distractor-pid", "none",
    ])
    #expect(built.status == 0, "\(built.stderr)")
    let base = ["eval", "--query", directory.file("q"), "--gallery-store", store, "--json"]
    let recorded = try TripIndexExecutable.run(base)
    #expect(recorded.status == 0, "\(recorded.stderr)")
    #expect(recorded.stdout.contains("\"valid_queries\": 4, \"skipped_queries\": 0"))
    let overridden = try TripIndexExecutable.run(base + ["--distractor-pid", "0"])
    #expect(overridden.stdout.contains("\"valid_queries\": 3, \"skipped_queries\": 1"))
    #expect(
      overridden.stderr.contains("--distractor-pid 0 differs from the none store \(store) records"),
      "\(overridden.stderr)")
  }

  @Test(
    "training keeps pid 0 as an identity with --distractor-pid none, and counts what it leaves out")
  func training() throws {
    let directory = TemporaryDirectory()
    reIDSet(directory)
    let data = try LabelledVectors.load(directory.file("g"), progress: SilentProgress())
    var options = TrainingOptions()
    options.hiddenSizes = []
    options.outputDimension = 4
    options.iterations = 2
    options.identitiesPerBatch = 2
    options.samplesPerIdentity = 2
    let market = try Train.fit(
      data, training: options, validationFraction: 0, progress: SilentProgress())
    #expect(market.excluded == 3 && market.training.identities.count == 9)
    let torchreid = try Train.fit(
      data, training: options, validationFraction: 0,
      pidConventions: PIDConventions(distractor: nil, junk: -1), progress: SilentProgress())
    #expect(torchreid.excluded == 0 && torchreid.training.identities.count == 12)
  }
}
