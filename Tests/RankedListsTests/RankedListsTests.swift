import Evaluation
import Foundation
import Plumbing
import RankedLists
import TestSupport
import Testing
import VectorMath

@Suite struct PictureTests {
  @Test("PNG pictures decode to the samples written (grey and RGB, odd sizes)", arguments: [1, 3])
  func pngRoundTrip(channels: Int) throws {
    var random = SeededRandom(seed: UInt64(channels))
    for (width, height) in [(1, 1), (8, 8), (13, 7), (64, 3)] {
      let samples = (0..<(width * height * channels)).map { _ in
        UInt8(random.integer(in: 0...255))
      }
      let picture = PNGImage(width: width, height: height, channels: channels, samples: samples)
      let decoded = try PNGReader(picture.pngData)
      #expect(decoded.width == width && decoded.height == height)
      #expect(decoded.channels == channels && decoded.samples == samples)
    }
  }

  @Test("picture shapes: HxW and HxWx3 parse; anything else is refused with the reason")
  func shapes() throws {
    #expect(try PictureShape(parsing: "8x8").valueCount == 64)
    let colour = try PictureShape(parsing: "4x2x3")
    #expect(colour.height == 4 && colour.width == 2 && colour.channels == 3)
    #expect(colour.description == "4x2x3")
    for bad in ["8", "8x", "x8", "0x8", "8x8x2", "8x8x3x1", "ax8", "-1x8", "8X8", "5000x1"] {
      #expect(throws: RankedListError.self, "\(bad)") { try PictureShape(parsing: bad) }
    }
    #expect(
      throws: RankedListError(
        "picture shape 8x8 holds 64 values, but the vectors have 63")
    ) { try PictureShape(parsing: "8x8").check(dimension: 63) }
  }

  @Test("each channel is scaled min-max over every set the renderer was fitted to")
  func renderer() throws {
    // Two RGB pixels per picture: channel 0 spans 0…10, channel 1 is constant, channel 2 −1…1.
    let queries = Matrix(rowArrays: [[0, 5, -1, 10, 5, 1]])
    let gallery = Matrix(rowArrays: [[5, 5, 0, 2.5, 5, 1]])
    let renderer = PictureRenderer(
      shape: try PictureShape(parsing: "1x2x3"), fittedTo: [queries, gallery])
    #expect(renderer.picture(of: queries, row: 0).samples == [0, 0, 0, 255, 0, 255])
    #expect(renderer.picture(of: gallery, row: 0).samples == [128, 0, 128, 64, 0, 255])
  }

  @Test("the images folder finds pictures by stem at any depth, and refuses two of one stem")
  func imageFolder() throws {
    let directory = TemporaryDirectory()
    directory.write("x", to: "images/a.jpg")
    directory.write("x", to: "images/deep/er/b.PNG")
    directory.write("x", to: "images/c.jpeg")
    directory.write("x", to: "images/notes.txt")
    directory.write("x", to: "images/.hidden/d.jpg")
    directory.write("x", to: "images/one/e.jpg")
    directory.write("x", to: "images/two/e.png")
    let folder = try ImageFolder(root: directory.file("images"))
    #expect(try folder.picture(of: "a") == directory.file("images/a.jpg"))
    #expect(try folder.picture(of: "b") == directory.file("images/deep/er/b.PNG"))
    #expect(try folder.picture(of: "c") != nil)
    #expect(try folder.picture(of: "notes") == nil)
    #expect(try folder.picture(of: "d") == nil)
    #expect(try folder.picture(of: "../a") == nil)
    #expect(
      throws: RankedListError(
        "item 'e' has two pictures under \(directory.file("images")): \(directory.file("images/one/e.jpg")) and \(directory.file("images/two/e.png")); keep one, or name a folder that holds one"
      )
    ) { try folder.picture(of: "e") }
    #expect(throws: RankedListError.self) { try ImageFolder(root: directory.file("none")) }
  }
}

@Suite struct RankedListPageTests {
  /// Three queries against four gallery items; query 1 has no match (skipped).
  private func page(
    names: [String] = ["q-a", "q-b", "q-c"], order: RankedListPage.Order = .worstFirst
  )
    -> RankedListPage
  {
    func outcome(_ query: Int, _ ap: Double?, _ first: Int?) -> QueryOutcome {
      QueryOutcome(
        queryIndex: query, averagePrecision: ap, firstMatchRank: first,
        top: [
          .init(galleryIndex: 0, distance: 0.5, rank: 1, outcome: first == 1 ? .match : .mismatch),
          .init(galleryIndex: 1, distance: 1.25, rank: 2, outcome: .match),
        ],
        removed: [.init(galleryIndex: 3, distance: 0.75, rank: nil, outcome: .junk)])
    }
    let items = ReportItems(
      queryNames: names, queryLabels: Array(repeating: ItemLabels(pid: 1, camera: 2), count: 3),
      galleryNames: ["g0", "g1", "g<2>", "g3"],
      galleryLabels: Array(repeating: ItemLabels(pid: 1, camera: 1), count: 4))
    return RankedListPage(
      title: "t", details: [("protocol", "market1501")], table: (["method"], [["exact"]]),
      charts: ["cmc.svg"], items: items,
      methods: [
        .init(
          name: "triplet exact",
          outcomes: [outcome(0, 0.5, 2), outcome(1, nil, nil), outcome(2, 0.25, 1)]),
        .init(
          name: "surrogate exact",
          outcomes: [outcome(0, 1, 1), outcome(1, nil, nil), outcome(2, 0.3, 2)]),
      ], order: order)
  }

  @Test("queries are ordered worst AP first with skipped queries last, or by AP difference")
  func order() {
    #expect(page().shownQueries == [2, 0, 1])
    #expect(page(order: .largestDifference(0, 1)).shownQueries == [0, 2, 1])
    var limited = page()
    limited.queryLimit = 2
    #expect(limited.shownQueries == [2, 0])
    #expect(limited.shownQueryCount == 2 && page().shownQueryCount == 3)
    #expect(limited.shownGalleryItems == [0, 1, 3])
  }

  @Test("rows carry the data attributes programs read; names are escaped, never markup")
  func attributes() {
    let html = page(names: ["<script>alert(1)</script>", "a\"b", "c'&d"]).html(
      pictures: PictureLinks())
    #expect(!html.contains("<script>alert"))
    #expect(html.contains("data-query=\"&lt;script&gt;alert(1)&lt;/script&gt;\""))
    #expect(html.contains("data-query=\"a&quot;b\"") && html.contains("c&#39;&amp;d"))
    #expect(
      html.contains(
        "data-method=\"triplet exact\" data-query=\"c&#39;&amp;d\" data-ap=\"0.250000\" data-first-match=\"1\" data-valid=\"true\""
      ))
    #expect(html.contains("data-ap=\"\" data-first-match=\"\" data-valid=\"false\""))
    #expect(
      html.contains(
        "data-rank=\"2\" data-name=\"g1\" data-distance=\"1.25000000e0\" data-outcome=\"match\""))
    // Removed items have no rank.
    #expect(html.contains("<figure class=\"item result junk\" data-name=\"g3\""))
    #expect(html.components(separatedBy: "class=\"row\"").count - 1 == 6)
  }

  @Test("the first rows' pictures load at once; later rows name theirs in data-src, lazily")
  func eagerThenLazy() {
    var links = PictureLinks()
    for query in 0..<3 { links.query[query] = "images/q\(query).png" }
    for index in 0..<4 { links.gallery[index] = "images/g\(index).png" }
    var page = self.page()
    page.eagerRows = 2
    let html = page.html(pictures: links)
    let rows = html.components(separatedBy: "<div class=\"row\"").dropFirst()
    #expect(rows.count == 6)
    for (number, row) in rows.enumerated() {
      #expect(row.contains("<img src=") == (number < 2), "row \(number)")
      #expect(row.contains("<img loading=\"lazy\" data-src=") == (number >= 2), "row \(number)")
    }
  }

  @Test("copied pictures are named by role and index: a name cannot place a file")
  func copiesStayInside() throws {
    let directory = TemporaryDirectory()
    directory.write("jpeg", to: "pictures/x.jpg")
    directory.write("png", to: "pictures/g1.png")
    directory.write("png", to: "pictures/g3.PNG")
    var page = self.page(names: ["../x", "x", "a/b"])
    page.items.galleryNames = ["../../g0", "g1", "g<2>", "g3"]
    let links = try page.write(
      to: directory.file("report"),
      pictures: .folder(try ImageFolder(root: directory.file("pictures")), copy: true))
    #expect(links.query == [1: "images/q1.jpg"])
    #expect(links.gallery == [1: "images/g1.png", 3: "images/g3.png"])
    #expect(links.missing == 3)
    let written = try FileManager.default.subpathsOfDirectory(atPath: directory.path).sorted()
    #expect(
      written == [
        "pictures", "pictures/g1.png", "pictures/g3.PNG", "pictures/x.jpg", "report",
        "report/images", "report/images/g1.png", "report/images/g3.png", "report/images/q1.jpg",
        "report/ranklists.html",
      ])
    #expect(
      try String(contentsOfFile: directory.file("report/images/q1.jpg"), encoding: .utf8) == "jpeg")
  }

  @Test("linked pictures are relative to the page, each path segment percent-encoded")
  func linksAreRelative() throws {
    let directory = TemporaryDirectory()
    directory.write("jpeg", to: "set/my pictures/x.jpg")
    try Directories.create(directory.file("out/report"))
    let source = PictureSource.folder(try ImageFolder(root: directory.file("set")), copy: false)
    let links = try source.links(
      queries: [0], gallery: [], items: page(names: ["x", "y", "z"]).items,
      in: directory.file("out/report"))
    #expect(links.query == [0: "../../set/my%20pictures/x.jpg"])
  }
}
