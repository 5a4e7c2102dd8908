import Foundation
import TestSupport

/// Debian's `chromium`, run headless on local files: the browser the ranked-list pages are
/// tested in (`make test` installs it when missing).
enum Chromium {
  /// The browser was not found.
  struct Missing: Error, CustomStringConvertible {
    var description: String {
      "no chromium on PATH: the ranked-list tests run Debian's chromium headless (apt-get install chromium; make test installs it)"
    }
  }

  /// The browser's path.
  static var path: String {
    get throws {
      for folder in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(
        separator: ":")
      {
        let candidate = String(folder) + "/chromium"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
      }
      throw Missing()
    }
  }

  /// Runs the browser on a URL with a private profile and returns what it printed.
  ///
  /// - Parameters:
  ///   - url: a `file://` URL.
  ///   - arguments: what to do (`--dump-dom`, `--screenshot=FILE`, …).
  /// - Returns: standard output.
  static func run(_ url: String, _ arguments: [String]) throws -> String {
    let profile = TemporaryDirectory(prefix: "tripindex-chromium")
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try path)
    process.arguments =
      [
        "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--user-data-dir=\(profile.path)", "--window-size=1200,900",
      ] + arguments + [url]
    let output = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self)
  }

  /// The DOM after the page loaded and its scripts ran.
  static func dumpDOM(_ url: String, extra: [String] = []) throws -> String {
    try run(url, extra + ["--dump-dom"])
  }
}

/// The rows of a ranked-list page's DOM, as programs read them: each group's attributes and
/// hidden flag, each row's attributes and its items' attributes, in document order.
struct RankedListDOM {
  struct Row {
    var attributes: [String: String]
    var results: [[String: String]]
    var groupHidden: Bool
  }

  var rows: [Row] = []

  init(_ html: String) {
    var hidden = false
    var current: Row?
    for tag in Self.tags(html) {
      if tag.hasPrefix("<section ") {
        hidden = Self.attributes(tag)["hidden"] != nil
      } else if tag.hasPrefix("<div class=\"row\"") {
        if let current { rows.append(current) }
        current = Row(attributes: Self.attributes(tag), results: [], groupHidden: hidden)
      } else if tag.hasPrefix("<figure class=\"item result") {
        current?.results.append(Self.attributes(tag))
      }
    }
    if let current { rows.append(current) }
  }

  /// The start tags of the page, in order.
  static func tags(_ html: String) -> [Substring] {
    var tags: [Substring] = []
    var index = html.startIndex
    while let open = html[index...].firstIndex(of: "<") {
      guard let close = html[open...].firstIndex(of: ">") else { break }
      tags.append(html[open...close])
      index = html.index(after: close)
    }
    return tags
  }

  /// A tag's attributes, entities decoded; valueless attributes map to "".
  static func attributes(_ tag: Substring) -> [String: String] {
    var result: [String: String] = [:]
    var rest = tag.dropFirst().drop { $0 != " " && $0 != ">" }
    while true {
      rest = rest.drop { $0 == " " }
      guard let first = rest.first, first != ">" && first != "/" else { break }
      let name = rest.prefix { $0 != "=" && $0 != " " && $0 != ">" }
      rest = rest.dropFirst(name.count)
      if rest.first == "=" {
        rest = rest.dropFirst(2)  // ="
        let value = rest.prefix { $0 != "\"" }
        result[String(name)] = decoded(String(value))
        rest = rest.dropFirst(value.count + 1)
      } else {
        result[String(name)] = ""
      }
    }
    return result
  }

  static func decoded(_ text: String) -> String {
    text.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
      .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&#39;", with: "'")
      .replacingOccurrences(of: "&amp;", with: "&")
  }
}
