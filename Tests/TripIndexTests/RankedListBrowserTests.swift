import Foundation
import RankedLists
import TestSupport
import Testing
import TripIndex
import TripIndexTools
import VectorMath

/// The ranked-list pages in a real browser (Debian's chromium, headless): what the DOM holds
/// after load equals what `eval --json --per-query` reports, the URL re-sorts and filters, the
/// pictures load, the page is not blank; and bad input is refused or drawn as tiles.
@Suite struct RankedListBrowserTests {
  /// A small re-ID set (Market-1501 names, junk and distractors), written once per test.
  private func reidSet(_ directory: TemporaryDirectory) throws -> String {
    var options = SyntheticReID.Options(output: directory.file("set"), seed: 27)
    options.trainIdentities = 20
    options.testIdentities = 12
    options.distractors = 8
    options.junk = 6
    options.dimension = 12
    options.cameraDistortion = 2.5
    _ = try SyntheticReID.generate(options)
    // A query whose identity is not in the gallery: skipped by the metrics, listed last.
    let vector = Matrix(rows: 1, columns: 12, values: (0..<12).map { Float($0) / 4 })
    directory.write(Fixtures.fvecsBytes(vector), to: "set/query/0999_c1s1_999999_00.fvecs")
    return directory.file("set")
  }

  /// One query's entry of `per_query`.
  private struct Expected {
    var query: String
    var ap: Double?
    var firstMatch: Int?
    var top: [[String: Any]]
    var removed: [[String: Any]]
  }

  private func perQuery(_ stdout: String) throws -> [Expected] {
    let json = try #require(
      JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any])
    let method = try #require((json["methods"] as? [[String: Any]])?.first)
    let entries = try #require(method["per_query"] as? [[String: Any]])
    return try entries.map { entry in
      Expected(
        query: try #require(entry["query"] as? String), ap: entry["ap"] as? Double,
        firstMatch: entry["first_match"] as? Int,
        top: try #require(entry["top"] as? [[String: Any]]),
        removed: try #require(entry["removed"] as? [[String: Any]]))
    }
  }

  /// The page's own order for `sort`: by AP (lowest first), first match (latest first) or
  /// name; skipped queries last; ties in the page's written order.
  private func sorted(_ expected: [Expected], by sort: String) -> [String] {
    let written = expected.enumerated().sorted { a, b in
      let (x, y) = (a.element.ap ?? .infinity, b.element.ap ?? .infinity)
      return x < y || (x == y && a.offset < b.offset)
    }.map(\.element)
    switch sort {
    case "name":
      return written.map(\.query).sorted {
        Array($0.utf16).lexicographicallyPrecedes(Array($1.utf16))
      }
    case "first-match":
      return written.enumerated().sorted { a, b in
        let (x, y) = (a.element.firstMatch ?? Int.min, b.element.firstMatch ?? Int.min)
        return x > y || (x == y && a.offset < b.offset)
      }.map(\.element.query)
    default: return written.map(\.query)
    }
  }

  @Test(
    "the page's rows, order, outcomes and distances equal eval --json --per-query; ?sort= and &filter=rank1-miss work in the browser"
  )
  func pageEqualsJSON() throws {
    let directory = TemporaryDirectory()
    let set = try reidSet(directory)
    let report = directory.file("report")
    let outcome = try TripIndexExecutable.run([
      "eval", "--query", set + "/query", "--gallery", set + "/gallery", "--report", report,
      "--json", "--per-query", "--ranklist-k", "6", "--quiet",
    ])
    #expect(outcome.status == 0, "\(outcome.stderr)")
    let expected = try perQuery(outcome.stdout)
    let queryFiles = try FileManager.default.contentsOfDirectory(atPath: set + "/query")
    #expect(expected.count == queryFiles.filter { $0.hasSuffix(".fvecs") }.count)
    let byName = Dictionary(uniqueKeysWithValues: expected.map { ($0.query, $0) })
    let page = "file://" + report + "/ranklists.html"
    let dom = RankedListDOM(try Chromium.dumpDOM(page))
    #expect(dom.rows.count == expected.count)
    #expect(dom.rows.map { $0.attributes["data-query"] ?? "" } == sorted(expected, by: "ap"))
    #expect(expected.contains { $0.ap == nil } && expected.contains { $0.firstMatch ?? 1 > 1 })
    for row in dom.rows {
      let query = try #require(byName[row.attributes["data-query"] ?? ""])
      if let ap = query.ap {
        #expect(abs((Double(row.attributes["data-ap"] ?? "") ?? -1) - ap) < 5e-7)
        #expect(row.attributes["data-first-match"] == query.firstMatch.map(String.init))
        #expect(row.attributes["data-valid"] == "true")
      } else {
        #expect(row.attributes["data-ap"] == "" && row.attributes["data-first-match"] == "")
        #expect(row.attributes["data-valid"] == "false")
      }
      let ranked = row.results.filter { $0["data-rank"] != nil }
      let removed = row.results.filter { $0["data-rank"] == nil }
      #expect(ranked.count == query.top.count && removed.count == query.removed.count)
      for (shown, listed) in Array(zip(ranked, query.top)) + Array(zip(removed, query.removed)) {
        #expect(shown["data-name"] == listed["name"] as? String)
        #expect(shown["data-outcome"] == listed["outcome"] as? String)
        #expect(shown["data-rank"] == (listed["rank"] as? Int).map(String.init))
        let distance = Float(try #require(listed["distance"] as? Double))
        #expect(Float(shown["data-distance"] ?? "") == distance)
      }
    }
    for sort in ["name", "first-match", "ap"] {
      let resorted = RankedListDOM(try Chromium.dumpDOM(page + "?sort=" + sort))
      #expect(
        resorted.rows.map { $0.attributes["data-query"] ?? "" } == sorted(expected, by: sort),
        "sort=\(sort)")
    }
    let filtered = RankedListDOM(try Chromium.dumpDOM(page + "?sort=name&filter=rank1-miss"))
    let misses = Set(expected.filter { $0.ap != nil && $0.firstMatch != 1 }.map(\.query))
    #expect(!misses.isEmpty && misses.count < expected.count)
    #expect(
      Set(filtered.rows.filter { !$0.groupHidden }.map { $0.attributes["data-query"] ?? "" })
        == misses)
    #expect(filtered.rows.map { $0.attributes["data-query"] ?? "" } == sorted(expected, by: "name"))
  }

  @Test(
    "pictures from --images load in the browser; missing ones become tiles and are counted; the page is not blank"
  )
  func picturesLoad() throws {
    let directory = TemporaryDirectory()
    let set = try reidSet(directory)
    // A 16x32 picture per item, in folders below the images folder, all but three.
    let names =
      try FileManager.default.contentsOfDirectory(atPath: set + "/query")
      + FileManager.default.contentsOfDirectory(atPath: set + "/gallery")
    let stems = names.filter { $0.hasSuffix(".fvecs") }.map { String($0.dropLast(6)) }.sorted()
    for (number, stem) in stems.enumerated() where number >= 3 {
      let samples = (0..<(16 * 32 * 3)).map { UInt8(($0 * 7 + number * 31) % 256) }
      directory.write(
        PNGImage(width: 16, height: 32, channels: 3, samples: samples).pngData,
        to: "pictures/c\(number % 3)/\(stem).png")
    }
    let report = directory.file("report")
    let outcome = try TripIndexExecutable.run([
      "eval", "--query", set + "/query", "--gallery", set + "/gallery", "--report", report,
      "--images", directory.file("pictures"), "--json", "--ranklist-k", "4",
    ])
    #expect(outcome.status == 0, "\(outcome.stderr)")
    let json = try #require(
      JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any])
    let missing = try #require(json["missing_images"] as? Int)
    let html = try String(contentsOfFile: report + "/ranklists.html", encoding: .utf8)
    // Items drawn as tiles, each counted once (an item can be in several rows).
    let tags = RankedListDOM.tags(html)
    var tiled = Set<String>()
    for (tag, next) in zip(tags, tags.dropFirst()) where next == "<div class=\"tile\">" {
      let attributes = RankedListDOM.attributes(tag)
      tiled.insert(
        (tag.contains("probe") ? "query " : "gallery ") + (attributes["data-name"] ?? ""))
    }
    #expect(missing > 0 && missing == tiled.count, "\(tiled)")
    #expect(outcome.stderr.contains("\(missing) shown item(s) have no picture under"))
    // Every picture source, loaded or lazy, resolves to a file beside the page.
    let sources = RankedListDOM.tags(html).compactMap { tag -> String? in
      guard tag.hasPrefix("<img ") else { return nil }
      let attributes = RankedListDOM.attributes(tag)
      return attributes["src"] ?? attributes["data-src"]
    }
    #expect(!sources.isEmpty)
    for source in sources {
      let path = try #require(source.removingPercentEncoding)
      #expect(FileManager.default.fileExists(atPath: report + "/" + path), "\(source)")
    }
    // In the browser: every picture with a src (the first rows') has loaded.
    try """
    <!DOCTYPE html><html><body><iframe id="page" src="ranklists.html" width="1200" height="900"></iframe>
    <script>
    document.getElementById('page').onload = () => {
      const images = [...document.getElementById('page').contentDocument.querySelectorAll('img[src]')];
      document.body.setAttribute('data-images', JSON.stringify(images.map(i => [i.complete, i.naturalWidth, i.getAttribute('src')])));
    };
    </script></body></html>
    """.write(toFile: report + "/check.html", atomically: true, encoding: .utf8)
    let checked = try Chromium.dumpDOM(
      "file://" + report + "/check.html",
      extra: ["--allow-file-access-from-files", "--virtual-time-budget=5000"])
    let body = try #require(
      RankedListDOM.tags(checked).first { $0.hasPrefix("<body") }.map(RankedListDOM.attributes))
    let loaded = try #require(
      JSONSerialization.jsonObject(with: Data((body["data-images"] ?? "").utf8)) as? [[Any]])
    #expect(loaded.count == sources.count)
    for image in loaded {
      // Item pictures are 16 pixels wide (the CMC chart is an image too).
      let width = image[1] as? Int ?? 0
      #expect(image.first as? Bool == true && (width == 16 || image.last as? String == "cmc.svg"))
    }
    // A screenshot of the page shows something: not one colour.
    let shot = directory.file("shot.png")
    _ = try Chromium.run("file://" + report + "/ranklists.html", ["--screenshot=\(shot)"])
    let picture = try PNGReader([UInt8](try Data(contentsOf: URL(fileURLWithPath: shot))))
    #expect(picture.width == 1200 && picture.distinctColours > 50)
  }

  @Test(
    "--image-shape draws vectors as PNGs; a shape that does not fit is one line and writes nothing")
  func imageShape() throws {
    let directory = TemporaryDirectory()
    var rows = ""
    var labels = "name,pid,camera\n"
    for item in 0..<12 {
      rows += (0..<12).map { String(Float(($0 * item) % 7)) }.joined(separator: " ") + "\n"
      labels += "item-\(item),\(item % 3),\n"
    }
    directory.write(rows, to: "set/items.vec")
    directory.write(labels, to: "set/labels.csv")
    let good = try TripIndexExecutable.run([
      "eval", "--query", directory.file("set"), "--protocol", "retrieval", "--image-shape",
      "2x2x3", "--report", directory.file("report"), "--quiet",
    ])
    #expect(good.status == 0, "\(good.stderr)")
    let picture = try PNGReader(
      [UInt8](try Data(contentsOf: URL(fileURLWithPath: directory.file("report/images/q1.png")))))
    #expect(picture.width == 2 && picture.height == 2 && picture.channels == 3)
    for shape in ["3x3", "2x2", "2x1x3", "4x1x3x1"] {
      let bad = try TripIndexExecutable.run([
        "eval", "--query", directory.file("set"), "--protocol", "retrieval", "--image-shape",
        shape, "--report", directory.file("bad-\(shape)"), "--quiet",
      ])
      #expect(bad.status != 0 && !bad.signalled)
      #expect(bad.stderr.contains("--image-shape"), "\(bad.stderr)")
      // A shape that does not fit is one line; one that does not parse is a usage error.
      if shape != "4x1x3x1" {
        #expect(bad.stderr.split(separator: "\n").count == 1, "\(bad.stderr)")
      }
      #expect(!FileManager.default.fileExists(atPath: directory.file("bad-\(shape)")))
    }
  }

  @Test(
    "benchmark --report: each query's triplet, surrogate and joint rows side by side, largest AP difference first"
  )
  func benchmarkSideBySide() throws {
    let directory = TemporaryDirectory()
    let set = try reidSet(directory)
    let report = directory.file("benchmark")
    let outcome = try TripIndexExecutable.run([
      "benchmark", set, "--iterations", "40", "--seeds", "1", "--probe-sweep", "1",
      "--layers", "16,8", "--report", report, "--quiet",
    ])
    #expect(outcome.status == 0, "\(outcome.stderr)")
    let dom = RankedListDOM(try Chromium.dumpDOM("file://" + report + "/ranklists.html"))
    // Per query: exact, exact+rerank, lsh top-D and lsh+rerank top-D of each model.
    let methods = dom.rows.prefix(12).map { $0.attributes["data-method"] ?? "" }
    for (position, model) in ["triplet", "surrogate", "joint"].enumerated() {
      let rows = methods[(position * 4)..<(position * 4 + 4)]
      #expect(rows.first == model + " exact" && rows.dropFirst().first == model + " exact+rerank")
      #expect(rows.dropFirst(2).allSatisfy { $0.hasPrefix(model + " lsh") }, "\(rows)")
    }
    let perQuery = 12
    #expect(dom.rows.count % perQuery == 0)
    // Groups in order of |AP(triplet exact) − AP(surrogate exact)|, largest first, skipped last.
    var differences: [Double] = []
    for start in stride(from: 0, to: dom.rows.count, by: perQuery) {
      let group = dom.rows[start..<(start + perQuery)]
      #expect(Set(group.map { $0.attributes["data-query"] ?? "" }).count == 1)
      let triplet = Double(group[start].attributes["data-ap"] ?? "")
      let surrogate = Double(group[start + 4].attributes["data-ap"] ?? "")
      if let triplet, let surrogate {
        #expect(differences.count == start / perQuery, "skipped queries come last")
        differences.append(abs(triplet - surrogate))
      }
    }
    #expect(differences.count > 3)
    #expect(zip(differences, differences.dropFirst()).allSatisfy { $0 >= $1 - 2e-6 })
  }

  @Test(
    "names from labels.csv are data: --copy-images writes only inside the report, the page escapes them"
  )
  func hostileNames() throws {
    let directory = TemporaryDirectory()
    let names = ["../x", "a/b", "<img src=x onerror=alert(1)>", "q\"'&", "x"]
    var labels = "name,pid,camera\n"
    var rows = ""
    for (item, name) in names.enumerated() {
      labels += "\"\(name.replacingOccurrences(of: "\"", with: "\"\""))\",\(item % 2),\n"
      rows += "\(item) \(item * item) 1\n"
    }
    directory.write(rows, to: "set/items.vec")
    directory.write(labels, to: "set/labels.csv")
    // Pictures whose stems the hostile names might reach: none may be written anywhere new.
    directory.write("jpeg", to: "pictures/x.jpg")
    directory.write("jpeg", to: "pictures/b.jpg")
    directory.write("jpeg", to: "x.jpg")
    let before = try FileManager.default.subpathsOfDirectory(atPath: directory.path).sorted()
    let outcome = try TripIndexExecutable.run([
      "eval", "--query", directory.file("set"), "--protocol", "retrieval", "--images",
      directory.file("pictures"), "--copy-images", "--report", directory.file("out/report"),
      "--quiet",
    ])
    #expect(outcome.status == 0, "\(outcome.stderr)")
    let after = try FileManager.default.subpathsOfDirectory(atPath: directory.path).sorted()
    let added = Set(after).subtracting(before)
    #expect(added.allSatisfy { $0 == "out" || $0.hasPrefix("out/report") }, "\(added)")
    let html = try String(
      contentsOfFile: directory.file("out/report/ranklists.html"), encoding: .utf8)
    #expect(!html.contains("<img src=x"))
    let dom = RankedListDOM(
      try Chromium.dumpDOM("file://" + directory.file("out/report/ranklists.html")))
    #expect(Set(dom.rows.map { $0.attributes["data-query"] ?? "" }) == Set(names))
    // Only the item named x has a picture: it is copied, by position, into images/.
    let copies = try FileManager.default.contentsOfDirectory(
      atPath: directory.file("out/report/images"))
    #expect(copies.sorted() == ["g4.jpg", "q4.jpg"])
  }
}
