import ArgumentParser
import Plumbing
import TripIndex

struct QueryCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "query",
    abstract: "Find the nearest stored items of each probe vector.",
    discussion: """
      PROBE is a folder of probes or a .vec, .fvecs or .npy file, or an HDF5 file (its dataset \
      --dataset, default test), with one or many vectors, read as build reads it: probe names \
      from file names and labels.csv, labels from labels.csv or Market-1501 and MSMT17 names. \
      Distances are squared L2 for an l2 store and 1 - cos for a cosine store. With --json, one \
      JSON object per probe, in input order: {"probe": "NAME", "row": 0, "method": \
      "exact"|"lsh", "method_reason": null, "neighbors": [{"id": 3, "name": "...", "pid": 1, \
      "camera": 2, "group": null, "distance": 0.5}, ...], "passing": N (filters and \
      exclusions), "candidates": N, "codes_scanned": N, "buckets_read": N, \
      "exact_distances": N (LSH)}.
      """)

  @Argument(help: "The probe file.")
  var probe: String

  @Option(name: .short, parsing: .unconditional, help: "Neighbours per probe.")
  var k: Int = 20

  @OptionGroup var storeOption: StoreOption

  @Flag(help: "Exhaustive search even when the store has an LSH index.")
  var exact = false

  @Flag(
    help:
      "Use the LSH index even when it measured slower than exact search on this store (without it, such an index is skipped)."
  )
  var lsh = false

  @Option(parsing: .unconditional, help: "LSH: probes per table (default: the index's setting).")
  var probes: Int?

  @Option(
    parsing: .unconditional,
    help: "LSH: most table entries examined per probe, 0 for no limit (default: the index's).")
  var budget: Int?

  @Option(
    name: .customLong("where"),
    help:
      "Return only items passing this filter, applied inside the search: pid, camera, id, name with ==, !=, <, <=, >, >=, in [..], not in [..], and, or, not, ( ), e.g. 'camera != 3 and pid not in [0, -1]'."
  )
  var filter: String?

  @Option(
    help:
      "labels.csv with one row per probe, in order, for the --exclude-same-* flags (default: the labels read with the probes)."
  )
  var probeLabels: String?

  @Flag(help: "Leave out every item of each probe's own camera.")
  var excludeSameCamera = false

  @Flag(help: "Leave out the items of each probe's own pid.")
  var excludeSamePid = false

  @Flag(
    help:
      "Leave out the items with each probe's pid and camera both (Market-1501's rule: other cameras' views of the same person stay)."
  )
  var excludeSamePidCamera = false

  @Option(
    help: ArgumentHelp(
      "market1501: the gallery eval's Market-1501 protocol ranks for each probe (--exclude-same-pid-camera, and junk left out); none: no exclusion.",
      valueName: "market1501|none"))
  var `protocol` = "none"

  @Option(
    help: ArgumentHelp(
      "The pid of junk items, for --protocol market1501 (default: what the store records, else -1).",
      valueName: "pid|none"))
  var junkPid: String?

  @Option(help: "The dataset read from an HDF5 probe file (default: test).")
  var dataset: String?

  @Flag(help: "JSON lines, one object per probe.")
  var json = false

  @Option(parsing: .unconditional, help: "Worker threads (default: all cores).")
  var threads: Int?

  @Flag(help: "Print on stderr how long loading, preparing and searching took.")
  var timing = false

  @Option(help: "The model to embed probes with (default: the one the store was built with).")
  var model: String?

  func run() throws {
    var options = Query.Options(probePath: probe, storePath: storeOption.store, k: k, exact: exact)
    options.redis = storeOption.redis
    options.probesPerTable = probes
    options.forceIndex = lsh
    if lsh && exact { throw ValidationError("--lsh and --exact exclude each other") }
    options.candidateBudget = budget
    if let threads { options.threads = threads }
    options.modelPath = model
    options.dataset = dataset
    options.filter = try filter.map { try ItemFilter.parse($0) }
    options.probeLabelsPath = probeLabels
    options.excludeSameCamera = excludeSameCamera
    options.excludeSamePID = excludeSamePid
    options.excludeSamePIDCamera = excludeSamePidCamera
    switch `protocol` {
    case "none": break
    case "market1501":
      options.excludeSamePIDCamera = true
      options.excludeJunk = true
    default:
      throw ValidationError("--protocol takes 'market1501' or 'none' (got '\(`protocol`)')")
    }
    if let junkPid {
      guard let junk = PIDConventions.parse(junkPid) else {
        throw ValidationError("--junk-pid takes a pid or 'none' (got '\(junkPid)')")
      }
      options.junkPID = .some(junk)
    }
    let result = try Query.run(options)
    var output = OutputBuffer(stream: .output)
    if json {
      result.writeJSONLines(to: &output)
    } else {
      result.writeTables(to: &output)
    }
    output.flush()
    if timing {
      let (load, prepare, search) = result.timing
      StandardStream.error.write(
        "timing: load \(TextFormatting.fixed(load, 4)) s, prepare \(TextFormatting.fixed(prepare, 4)) s, search \(TextFormatting.fixed(search, 4)) s\n"
      )
    }
  }
}
