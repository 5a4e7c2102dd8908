import Plumbing
import VectorMath

/// A `labels.csv` file: a header naming its columns, then one item per line.
///
/// The header names a `name`, a pid and a camera column, and optionally a `group` column, in any
/// order and case; the pid column may be spelled `pid` or `person_id` (torchreid, fast-reid),
/// the camera column `camera`, `camid` or `cam` (see ``columnSpellings``).
///
/// Names are unique; pid, camera and group are integers, or empty for unknown. The optional
/// `group` column gives each item a coarser class for the ladder loss. Fields may be quoted with
/// `"` (a doubled `""` inside quotes is a quote), so names may hold commas.
public struct LabelsFile: Sendable {
  /// One line of the file.
  public struct Entry: Hashable, Sendable {
    /// The item's name.
    public var name: String
    /// Its labels.
    public var labels: ItemLabels
    /// The 1-based line it was read from.
    public var line: Int

    /// Creates an entry.
    ///
    /// - Parameters:
    ///   - name: the item's name.
    ///   - labels: its labels.
    ///   - line: the line it came from (0 when not read from a file).
    public init(name: String, labels: ItemLabels, line: Int = 0) {
      self.name = name
      self.labels = labels
      self.line = line
    }
  }

  /// The file's path.
  public let path: String
  /// The entries in file order.
  public let entries: [Entry]
  private let indexByName: [ItemNameKey: Int]

  /// The header of a labels file without groups.
  public static let header = "name,pid,camera"

  /// The header of a labels file whose items also carry a group.
  public static let headerWithGroup = "name,pid,camera,group"

  /// The accepted spellings of each column, in the order the columns are listed in messages.
  public static let columnSpellings: [(column: String, spellings: [String])] = [
    ("name", ["name"]), ("pid", ["pid", "person_id"]), ("camera", ["camera", "camid", "cam"]),
    ("group", ["group"]),
  ]

  /// Reads and validates a labels file.
  ///
  /// - Parameter path: the file.
  /// - Throws: ``VectorIOError`` naming the line for a wrong header, a wrong number of fields,
  ///   a non-integer pid, camera or group, or a name listed twice.
  public init(path: String) throws(VectorIOError) {
    let source = try FileByteSource(path: path)
    guard source.sizeBytes > 0 else {
      throw VectorIOError(path: path, "the file is empty; expected the header '\(Self.header)'")
    }
    try source.fill(atLeast: source.sizeBytes)
    guard let text = String(validating: source.bufferedBytes, as: UTF8.self) else {
      var line = 1
      for piece in source.bufferedBytes.split(separator: 0x0A, omittingEmptySubsequences: false) {
        if String(validating: piece, as: UTF8.self) == nil { break }
        line += 1
      }
      throw VectorIOError(
        path: path, location: .line(line), "is not valid UTF-8; names must be UTF-8 text")
    }
    try self.init(path: path, text: text)
  }

  /// Parses labels from text (the file's content).
  ///
  /// - Parameters:
  ///   - path: the name used in error messages.
  ///   - text: the CSV text.
  /// - Throws: as ``init(path:)``.
  public init(path: String, text: String) throws(VectorIOError) {
    self.path = path
    var entries: [Entry] = []
    var indexByName: [ItemNameKey: Int] = [:]
    var lineNumber = 0
    /// The header the file starts with, once read.
    var header: String?
    var columns = 0
    /// Where each column (name, pid, camera, group) is in a record; group may be absent.
    var positions: (name: Int, pid: Int, camera: Int, group: Int?) = (0, 1, 2, nil)
    // Lines split at LF bytes only, so a CR LF inside a quoted name survives as it was.
    let lines = text.utf8.split(separator: 0x0A, omittingEmptySubsequences: false).map {
      Substring($0)
    }
    func withoutCR(_ text: Substring) -> Substring {
      text.utf8.last == 0x0D ? Substring(text.utf8.dropLast()) : text
    }
    var nextLine = 0
    while nextLine < lines.count {
      var line = withoutCR(lines[nextLine])
      nextLine += 1
      lineNumber = nextLine
      if lineNumber == 1 && line.first == "\u{FEFF}" { line = line.dropFirst() }
      if line.allSatisfy({ $0 == " " || $0 == "\t" }) { continue }
      let location = FileLocation.line(lineNumber)
      // A quoted field may hold line breaks (as `write` produces): the record goes on.
      var record = String(lines[nextLine - 1])
      if lineNumber == 1 && record.first == "\u{FEFF}" { record.removeFirst() }
      var parsed = Self.fields(of: withoutCR(Substring(record)))
      while parsed == nil && nextLine < lines.count {
        record += "\n" + lines[nextLine]
        nextLine += 1
        parsed = Self.fields(of: withoutCR(Substring(record)))
      }
      guard let fields = parsed else {
        throw VectorIOError(
          path: path, location: location,
          "has a quoted field that is never closed (it runs to the end of the file)")
      }
      guard let header else {
        positions = try Self.columnPositions(
          fields.map { $0.trimmingSpaces().lowercased() }, line: String(line), path: path,
          location: location)
        header = String(line)
        columns = fields.count
        continue
      }
      guard fields.count == columns else {
        throw VectorIOError(
          path: path, location: location,
          "has \(fields.count) fields; expected \(columns) (\(header))")
      }
      let name = fields[positions.name]
      guard !name.isEmpty else {
        throw VectorIOError(path: path, location: location, "the name is empty")
      }
      guard name.utf8.count <= Self.maximumNameBytes else {
        throw VectorIOError(
          path: path, location: location,
          "the name '\(name.prefix(40))…' is \(name.utf8.count) bytes long; names may have at most \(Self.maximumNameBytes) bytes"
        )
      }
      let pid = try Self.integer(
        fields[positions.pid], field: "pid", path: path, location: location)
      let camera = try Self.integer(
        fields[positions.camera], field: "camera", path: path, location: location)
      let group = try positions.group.flatMap { column throws(VectorIOError) in
        try Self.integer(fields[column], field: "group", path: path, location: location)
      }
      if let previous = indexByName[ItemNameKey(name)] {
        throw VectorIOError(
          path: path, location: location,
          "name '\(name)' is already listed on line \(entries[previous].line); names must be unique"
        )
      }
      indexByName[ItemNameKey(name)] = entries.count
      entries.append(
        Entry(
          name: name, labels: ItemLabels(pid: pid, camera: camera, group: group), line: lineNumber))
    }
    guard header != nil else {
      throw VectorIOError(path: path, "holds no header; expected '\(Self.header)'")
    }
    self.entries = entries
    self.indexByName = indexByName
  }

  /// Where the name, pid, camera and (optional) group columns are, from the header's fields.
  private static func columnPositions(
    _ found: [String], line: String, path: String, location: FileLocation
  ) throws(VectorIOError) -> (name: Int, pid: Int, camera: Int, group: Int?) {
    var positions: [String: Int] = [:]
    let accepted = columnSpellings.map { column, spellings in
      spellings.count == 1 ? column : "\(column) (\(spellings.joined(separator: ", ")))"
    }.joined(separator: ", ")
    for (position, field) in found.enumerated() {
      guard let column = columnSpellings.first(where: { $0.spellings.contains(field) })?.column
      else {
        throw VectorIOError(
          path: path, location: location,
          "header is '\(line)': '\(field)' is not a column this file can have; expected name, pid and camera columns and optionally group, spelled \(accepted), e.g. '\(Self.header)'"
        )
      }
      guard positions[column] == nil else {
        throw VectorIOError(
          path: path, location: location, "header is '\(line)': it names the \(column) column twice"
        )
      }
      positions[column] = position
    }
    guard let name = positions["name"], let pid = positions["pid"],
      let camera = positions["camera"]
    else {
      let missing = ["name", "pid", "camera"].filter { positions[$0] == nil }
      throw VectorIOError(
        path: path, location: location,
        "header is '\(line)'; it lacks the \(missing.joined(separator: " and ")) column\(missing.count > 1 ? "s" : ""): expected \(accepted), e.g. '\(Self.header)'"
      )
    }
    return (name, pid, camera, positions["group"])
  }

  /// The entry for `name`, if listed.
  ///
  /// - Parameter name: an item name.
  /// - Returns: its entry, or `nil`.
  public func entry(named name: String) -> Entry? {
    indexByName[ItemNameKey(name)].map { entries[$0] }
  }

  private static func integer(
    _ text: String, field: String, path: String, location: FileLocation
  ) throws(VectorIOError) -> Int32? {
    let trimmed = text.trimmingSpaces()
    if trimmed.isEmpty { return nil }
    guard let value = Int32(trimmed) else {
      throw VectorIOError(
        path: path, location: location,
        "\(field) '\(trimmed)' is not an integer in the 32-bit range; expected a whole number (or nothing for unknown)"
      )
    }
    guard value != Int32.min else {
      throw VectorIOError(
        path: path, location: location,
        "\(field) \(value) is reserved (the store uses it to mark unknown); leave the field empty for unknown"
      )
    }
    return value
  }

  /// The longest name a store can key (LMDB's key limit).
  public static let maximumNameBytes = 511

  /// Splits one CSV record into fields, honouring `"` quotes.
  ///
  /// - Returns: the fields, or `nil` when a quoted field is still open at the end.
  private static func fields(of line: Substring) -> [String]? {
    var fields: [String] = []
    var current = ""
    var inQuotes = false
    var wasQuoted = false
    var characters = line.makeIterator()
    var lookahead: Character? = characters.next()
    while let character = lookahead {
      lookahead = characters.next()
      if inQuotes {
        if character == "\"" {
          if lookahead == "\"" {
            current.append("\"")
            lookahead = characters.next()
          } else {
            inQuotes = false
          }
        } else {
          current.append(character)
        }
      } else if character == "," {
        fields.append(wasQuoted ? current : current.trimmingSpaces())
        current = ""
        wasQuoted = false
      } else if character == "\"" && current.trimmingSpaces().isEmpty {
        inQuotes = true
        wasQuoted = true
        current = ""
      } else {
        current.append(character)
      }
    }
    guard !inQuotes else { return nil }
    fields.append(wasQuoted ? current : current.trimmingSpaces())
    return fields
  }
}

extension LabelsFile {
  /// Writes entries as a labels file (header `name,pid,camera`, plus `,group` when any entry has
  /// a group), quoting names where needed.
  ///
  /// - Parameters:
  ///   - entries: the items; their `line` is ignored.
  ///   - path: the file to write.
  /// - Throws: ``VectorIOError`` when the file cannot be written.
  public static func write(_ entries: [Entry], to path: String) throws(VectorIOError) {
    let withGroups = entries.contains { $0.labels.group != nil }
    var text = (withGroups ? headerWithGroup : header) + "\n"
    for entry in entries {
      // Bytes, not Characters: "\r\n" is one Character, equal to neither "\r" nor "\n".
      let needsQuotes =
        entry.name.utf8.contains(where: { [0x2C, 0x22, 0x0A, 0x0D].contains($0) })
        || !entry.name.trimmingSpaces().utf8.elementsEqual(entry.name.utf8)
      let name =
        needsQuotes ? "\"" + entry.name.replacing("\"", with: "\"\"") + "\"" : entry.name
      text +=
        "\(name),\(entry.labels.pid.map(String.init) ?? ""),\(entry.labels.camera.map(String.init) ?? "")"
      if withGroups { text += ",\(entry.labels.group.map(String.init) ?? "")" }
      text += "\n"
    }
    do throws(FileSystemError) {
      try TextFile.write(text, to: path)
    } catch {
      throw VectorIOError(path: path, error.message)
    }
  }
}
