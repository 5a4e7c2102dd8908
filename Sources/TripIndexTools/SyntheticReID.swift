import LSHIndex
import Plumbing
import TripIndex
import VectorIO
import VectorMath

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The `datasets synth-reid` command: a deterministic synthetic re-identification data set.
///
/// Each identity is a latent appearance vector. Each camera sees it through its own distortion of
/// that latent (a near-identity linear map), adds a per-image nuisance (pose, light) through a
/// shared map, squashes the result with `tanh`, then adds its own colour-cast offset and its own
/// level of sensor noise. Raw features are therefore dominated by camera and nuisance, as in real
/// re-ID; an embedding must learn to ignore them.
///
/// Output folders hold one `.fvecs` file per image, named as in Market-1501
/// (`0042_c3s1_000123_00.fvecs`): `train/` (its own identities), `query/` (one image per test
/// identity and camera) and `gallery/` (the other test images, plus distractors with pid 0 and
/// junk images with pid −1).
public enum SyntheticReID {
  /// The generator's parameters.
  public struct Options: Sendable {
    /// The output folder.
    public var output: String
    /// The seed; the same seed gives byte-identical files.
    public var seed: UInt64
    /// Feature dimension.
    public var dimension = 96
    /// Training identities.
    public var trainIdentities = 200
    /// Test identities (disjoint from training).
    public var testIdentities = 100
    /// Cameras.
    public var cameras = 6
    /// Most images of one identity per camera that sees it.
    public var maxImagesPerCamera = 4
    /// Distractor images (pid 0) in the gallery.
    public var distractors = 150
    /// Junk images (pid −1) in the gallery.
    public var junk = 40
    /// How strongly each camera distorts what it sees: scales the cameras' linear distortions and
    /// offsets (1: the shipped set; larger is harder).
    public var cameraDistortion = 1.0

    /// Creates options with the defaults above.
    ///
    /// - Parameters:
    ///   - output: the output folder.
    ///   - seed: the seed.
    public init(output: String, seed: UInt64) {
      self.output = output
      self.seed = seed
    }
  }

  /// What was written.
  public struct Report: Sendable {
    /// Files per folder.
    public var train = 0, query = 0, gallery = 0
    /// The one-line summary.
    public var summary: String {
      "wrote \(train) train, \(query) query and \(gallery) gallery vectors"
    }
  }

  private static let latentDimension = 16
  private static let nuisanceDimension = 8

  /// Generates the data set.
  ///
  /// - Parameter options: parameters.
  /// - Returns: how many files went where.
  /// - Throws: ``TripIndexError`` for bad parameters or an output folder that already holds
  ///   files; `VectorIOError` when a file cannot be written.
  public static func generate(_ options: Options) throws -> Report {
    guard options.dimension > 0, options.cameras >= 2, options.trainIdentities > 0,
      options.testIdentities > 0, options.maxImagesPerCamera > 0, options.distractors >= 0,
      options.junk >= 0
    else {
      throw TripIndexError(
        "synth-reid needs a positive dimension, identities and images, and at least 2 cameras")
    }
    guard options.cameraDistortion >= 0, options.cameraDistortion.isFinite else {
      throw TripIndexError(
        "\(option: .cameraDistortion) must be a non-negative number, not \(options.cameraDistortion)"
      )
    }
    guard options.trainIdentities + options.testIdentities <= 9999 else {
      throw TripIndexError(
        "synth-reid supports at most 9,999 identities (4-digit Market-1501 pids)")
    }
    for folder in ["train", "query", "gallery"] {
      try makeEmptyDirectory(options.output + "/" + folder)
    }
    var random = SeededRandom(seed: options.seed)
    let world = World(options: options, random: &random)
    var report = Report()
    var frame = 0
    func write(_ vector: [Float], pid: Int, camera: Int, folder: String) throws {
      frame += 1
      let pidText =
        pid < 0 ? "-1" : String(repeating: "0", count: max(0, 4 - String(pid).count)) + String(pid)
      let frameText = String(repeating: "0", count: max(0, 6 - String(frame).count)) + String(frame)
      let name = "\(pidText)_c\(camera)s1_\(frameText)_00"
      let writer = try VectorFileWriter(
        path: "\(options.output)/\(folder)/\(name).fvecs", dimension: options.dimension)
      try writer.write(vector)
      try writer.finish()
    }
    // Training identities 1…T, test identities T+1…T+S: disjoint by construction.
    for pid in 1...options.trainIdentities {
      let identity = world.identity(&random)
      for (camera, count) in world.visits(&random) {
        for _ in 0..<count {
          try write(
            world.render(identity, camera: camera, &random), pid: pid, camera: camera,
            folder: "train")
          report.train += 1
        }
      }
    }
    for offset in 1...options.testIdentities {
      let pid = options.trainIdentities + offset
      let identity = world.identity(&random)
      // Every camera that sees a test identity takes at least two images: one query, the rest
      // gallery, so each query has true matches in other cameras.
      for (camera, count) in world.visits(&random, minimumImages: 2) {
        for image in 0..<count {
          let folder = image == 0 ? "query" : "gallery"
          try write(
            world.render(identity, camera: camera, &random), pid: pid, camera: camera,
            folder: folder)
          if image == 0 { report.query += 1 } else { report.gallery += 1 }
        }
      }
    }
    // Distractors and junk: identities never seen elsewhere, one image each.
    for index in 0..<(options.distractors + options.junk) {
      let camera = random.integer(in: 1...options.cameras)
      let vector = world.render(world.identity(&random), camera: camera, &random)
      try write(
        vector, pid: index < options.distractors ? 0 : -1, camera: camera, folder: "gallery")
      report.gallery += 1
    }
    return report
  }

  /// The fixed parts of the generative model: maps, camera distortions, offsets and noise levels.
  private struct World {
    let options: Options
    let identityMap: Matrix  // dimension × latent
    let nuisanceMap: Matrix  // dimension × nuisance
    let cameraDistortions: [Matrix]  // latent × latent, near identity
    let cameraOffsets: [[Float]]
    let cameraNoise: [Float]

    init(options: Options, random: inout SeededRandom) {
      self.options = options
      let latent = SyntheticReID.latentDimension
      let nuisance = SyntheticReID.nuisanceDimension
      func gaussian(_ rows: Int, _ columns: Int, scale: Double) -> Matrix {
        Matrix(
          rows: rows, columns: columns,
          values: (0..<(rows * columns)).map { _ in Float(random.normal() * scale) })
      }
      identityMap = gaussian(options.dimension, latent, scale: 0.6 / Double(latent).squareRoot())
      nuisanceMap = gaussian(
        options.dimension, nuisance, scale: 0.6 / Double(nuisance).squareRoot())
      cameraDistortions = (0..<options.cameras).map { _ in
        var distortion = gaussian(
          latent, latent, scale: options.cameraDistortion * 0.6 / Double(latent).squareRoot())
        for index in 0..<latent { distortion[index, index] += 1 }
        return distortion
      }
      cameraOffsets = (0..<options.cameras).map { _ in
        (0..<options.dimension).map { _ in Float(random.normal() * 0.3 * options.cameraDistortion) }
      }
      cameraNoise = (0..<options.cameras).map { _ in Float(0.2 + 0.3 * random.uniform()) }
    }

    func identity(_ random: inout SeededRandom) -> [Float] {
      (0..<SyntheticReID.latentDimension).map { _ in Float(random.normal()) }
    }

    /// The cameras that see one identity (at least two) and how many images each takes.
    func visits(_ random: inout SeededRandom, minimumImages: Int = 1) -> [(
      camera: Int, images: Int
    )] {
      var cameras = Array(1...options.cameras)
      random.shuffle(&cameras)
      let seen = random.integer(in: 2...options.cameras)
      let most = max(minimumImages, options.maxImagesPerCamera)
      return cameras.prefix(seen).sorted().map { ($0, random.integer(in: minimumImages...most)) }
    }

    func render(_ identity: [Float], camera: Int, _ random: inout SeededRandom) -> [Float] {
      let latent = SyntheticReID.latentDimension
      let distortion = cameraDistortions[camera - 1]
      var seen = [Float](repeating: 0, count: latent)
      for row in 0..<latent {
        for column in 0..<latent { seen[row] += distortion[row, column] * identity[column] }
      }
      let nuisance = (0..<SyntheticReID.nuisanceDimension).map { _ in Float(random.normal()) }
      var features = [Float](repeating: 0, count: options.dimension)
      for row in 0..<options.dimension {
        var value: Float = 0
        for column in 0..<latent { value += identityMap[row, column] * seen[column] }
        for column in 0..<nuisance.count { value += nuisanceMap[row, column] * nuisance[column] }
        features[row] =
          2 * tanh(value / 1.5) + cameraOffsets[camera - 1][row]
          + cameraNoise[camera - 1] * Float(random.normal())
      }
      return features
    }
  }

  private static func makeEmptyDirectory(_ path: String) throws {
    try Directories.create(path)
    guard let entries = Directories.entries(in: path) else {
      throw TripIndexError("cannot open \(path): \(String(cString: strerror(errno)))")
    }
    guard entries.isEmpty else {
      throw TripIndexError("\(path) is not empty; synth-reid writes only into new or empty folders")
    }
  }
}
