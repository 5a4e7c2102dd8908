import Hummingbird
import Plumbing
import TripIndex
import VectorMath

/// A `POST /query` body, read and checked: `{"vector": [...]}` or `{"vectors": [[...], ...]}`,
/// `k`, and every option of `query` as a field — `exact`, `lsh`, `probes`, `budget`, `where`,
/// `exclude_same_camera`, `exclude_same_pid`, `exclude_same_pid_camera`, `exclude_junk`,
/// `junk_pid`, `probe_labels` (one `{"pid": P, "camera": C}` per vector, for the exclusions),
/// and `names` (one per vector, reported as each result's `probe`).
struct QueryRequest {
  /// The probes as given, one per row.
  var vectors: Matrix
  /// Their names (empty when none were given).
  var names: [String]
  /// Their labels, for the exclusions.
  var labels: [ItemLabels]?
  /// How to search.
  var options: Query.SearchOptions
  /// The field the vectors came in (`vector` or `vectors`), for errors about them.
  var vectorField = "vectors"

  /// The fields a query takes, for the error on an unknown one.
  static let fields =
    "vector or vectors, k, exact, lsh, probes, budget, where, exclude_same_camera, exclude_same_pid, exclude_same_pid_camera, exclude_junk, junk_pid, probe_labels, names"

  /// The fields of ``fields``, one by one.
  static let fieldNames = Set(
    fields.split(whereSeparator: { $0 == "," || $0 == " " }).map(String.init)
  ).subtracting(["or"])

  /// Reads a body.
  ///
  /// - Parameters:
  ///   - body: the request body.
  ///   - configuration: the limits.
  /// - Throws: ``APIError`` naming the field.
  init(body: String, configuration: ServerConfiguration) throws(APIError) {
    var fields = try RequestFields(body: body)
    let rows: [[Float]]
    switch (fields.value("vector"), fields.value("vectors")) {
    case (let vector?, nil):
      rows = [try RequestFields.vector(vector, field: "vector")]
      vectorField = "vector"
    case (nil, let vectors?):
      guard case .array(let items) = vectors, !items.isEmpty else {
        throw APIError(
          .unprocessableContent, field: "vectors", "must be a non-empty array of vectors")
      }
      guard items.count <= configuration.maximumVectors else {
        throw APIError(
          .contentTooLarge, field: "vectors",
          "holds \(items.count) vectors; a request takes at most \(configuration.maximumVectors)")
      }
      var collected: [[Float]] = []
      for (index, item) in items.enumerated() {
        collected.append(try RequestFields.vector(item, field: "vectors[\(index)]"))
      }
      rows = collected
    case (nil, nil):
      throw APIError(.unprocessableContent, field: "vector", "give vector or vectors")
    case (.some, .some):
      throw APIError(.unprocessableContent, field: "vectors", "give vector or vectors, not both")
    }
    let dimension = rows[0].count
    if let index = rows.firstIndex(where: { $0.count != dimension }) {
      throw APIError(
        .unprocessableContent, field: "vectors[\(index)]",
        "has \(rows[index].count) values; the first vector has \(dimension)")
    }
    vectors = Matrix(rows: rows.count, columns: dimension, values: rows.flatMap { $0 })
    var options = Query.SearchOptions(
      k: try fields.integer("k", in: 1...configuration.maximumK) ?? 10)
    guard rows.count * options.k <= configuration.maximumResults else {
      throw APIError(
        .contentTooLarge, field: "k",
        "\(rows.count) vectors × k \(options.k) asks for \(rows.count * options.k) results; a request takes at most \(configuration.maximumResults)"
      )
    }
    options.threads = 1
    options.exact = try fields.bool("exact") ?? false
    let lsh = try fields.bool("lsh") ?? false
    if lsh && options.exact {
      throw APIError(.unprocessableContent, field: "lsh", "exact and lsh cannot both be true")
    }
    options.forceIndex = lsh
    options.probesPerTable = try fields.integer("probes", in: 1...1 << 20)
    options.candidateBudget = try fields.integer("budget", in: 0...Int(Int32.max))
    if let expression = try fields.string("where") {
      do {
        options.filter = try ItemFilter.parse(expression)
      } catch {
        throw APIError(.unprocessableContent, field: "where", "\(error)")
      }
    }
    options.excludeSameCamera = try fields.bool("exclude_same_camera") ?? false
    options.excludeSamePID = try fields.bool("exclude_same_pid") ?? false
    options.excludeSamePIDCamera = try fields.bool("exclude_same_pid_camera") ?? false
    options.excludeJunk = try fields.bool("exclude_junk") ?? false
    if let junk = try fields.label("junk_pid") { options.junkPID = .some(junk) }
    labels = try Self.probeLabels(&fields, count: rows.count, options: options)
    names = try Self.names(&fields, count: rows.count)
    self.options = options
    try fields.checkAllRead(expected: Self.fields)
  }

  private static func probeLabels(
    _ fields: inout RequestFields, count: Int, options: Query.SearchOptions
  ) throws(APIError) -> [ItemLabels]? {
    let excludes =
      options.excludeSameCamera || options.excludeSamePID || options.excludeSamePIDCamera
    guard let value = fields.value("probe_labels"), value != .null else {
      if excludes {
        throw APIError(
          .unprocessableContent, field: "probe_labels",
          "the exclusions need each probe's pid and camera: one {\"pid\": P, \"camera\": C} per vector"
        )
      }
      return nil
    }
    guard excludes else {
      // As `query --probe-labels` without an exclusion: labels nothing reads are a mistake.
      throw APIError(
        .unprocessableContent, field: "probe_labels",
        "is read for exclude_same_camera, exclude_same_pid or exclude_same_pid_camera; add one")
    }
    guard case .array(let items) = value, items.count == count else {
      throw APIError(
        .unprocessableContent, field: "probe_labels",
        "must be an array of \(count) objects, one per vector")
    }
    var labels: [ItemLabels] = []
    for (index, item) in items.enumerated() {
      let field = "probe_labels[\(index)]"
      guard case .object(let members) = item else {
        throw APIError(.unprocessableContent, field: field, "must be {\"pid\": P, \"camera\": C}")
      }
      var labelFields = RequestFields(members: members)
      let pid = try labelFields.label("pid")
      let camera = try labelFields.label("camera")
      try labelFields.checkAllRead(expected: "pid, camera")
      if (options.excludeSamePID || options.excludeSamePIDCamera) && pid == nil {
        throw APIError(.unprocessableContent, field: field, "has no pid, which the exclusion needs")
      }
      if (options.excludeSameCamera || options.excludeSamePIDCamera) && camera == nil {
        throw APIError(
          .unprocessableContent, field: field, "has no camera, which the exclusion needs")
      }
      labels.append(ItemLabels(pid: pid, camera: camera))
    }
    return labels
  }

  private static func names(_ fields: inout RequestFields, count: Int) throws(APIError) -> [String]
  {
    guard let value = fields.value("names"), value != .null else { return [] }
    guard case .array(let items) = value, items.count == count else {
      throw APIError(
        .unprocessableContent, field: "names",
        "must be an array of \(count) strings, one per vector")
    }
    var names: [String] = []
    for item in items {
      guard case .string(let name) = item else {
        throw APIError(.unprocessableContent, field: "names", "must hold strings only")
      }
      names.append(name)
    }
    return names
  }
}
