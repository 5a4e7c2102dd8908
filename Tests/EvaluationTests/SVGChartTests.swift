import Evaluation
import Foundation
import Testing

#if canImport(FoundationXML)
  import FoundationXML
#endif

/// The charts the reports write: well-formed SVG, one line per series, text escaped, the axes
/// covering the data.
@Suite struct SVGChartTests {
  /// Elements and their attributes, in document order, read by an XML parser.
  final class Elements: NSObject, XMLParserDelegate {
    var found: [(name: String, attributes: [String: String])] = []
    /// The text of each element, one per line (the parser may deliver it in pieces).
    var text = ""
    private var current = ""
    func parser(
      _ parser: XMLParser, didStartElement name: String, namespaceURI: String?,
      qualifiedName: String?, attributes: [String: String]
    ) {
      found.append((name, attributes))
      current = ""
    }
    func parser(_ parser: XMLParser, foundCharacters string: String) { current += string }
    func parser(
      _ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?
    ) {
      if !current.isEmpty { text += current + "\n" }
      current = ""
    }
  }

  static func parse(_ svg: String) throws -> Elements {
    let parser = XMLParser(data: Data(svg.utf8))
    let elements = Elements()
    parser.delegate = elements
    #expect(parser.parse(), "not well-formed: \(parser.parserError.map { "\($0)" } ?? "")")
    return elements
  }

  @Test("a chart is well-formed SVG with one polyline per multi-point series and escaped text")
  func structure() throws {
    let chart = SVGChart(
      title: "recall <&> speed", xLabel: "queries/s", yLabel: "recall",
      series: [
        .init(name: "exact \"flat\"", points: [(500, 1)]),
        .init(name: "lsh & co", points: [(1000, 0.5), (2000, 0.8), (4000, 0.95)], dashed: true),
        .init(name: "broken", points: [(.nan, 0.3), (3000, .infinity), (1500, 0.7), (2500, 0.9)]),
      ], yRange: 0...1)
    let elements = try Self.parse(chart.svg)
    #expect(elements.found.first?.name == "svg")
    let polylines = elements.found.filter { $0.name == "polyline" }
    #expect(polylines.count == 2)
    #expect(polylines[0].attributes["stroke-dasharray"] != nil)
    // Non-finite points are left out: two remain in the last series.
    #expect(polylines[1].attributes["points"]?.split(separator: " ").count == 2)
    #expect(elements.text.contains("recall <&> speed"))
    #expect(elements.text.contains("exact \"flat\"") && elements.text.contains("lsh & co"))
    // A lone point is a marker of its own (and in the legend).
    let markers = elements.found.filter { $0.name == "circle" && $0.attributes["r"] == "6" }
    #expect(markers.count == 2)
  }

  @Test("points fall inside the plot, y fixed to its range, log x ticks at powers of ten")
  func axes() throws {
    var chart = SVGChart(
      title: "t", xLabel: "x", yLabel: "y",
      series: [.init(name: "s", points: [(10, 0.2), (100, 0.4), (10_000, 0.6)])], yRange: 0...1)
    chart.logarithmicX = true
    let elements = try Self.parse(chart.svg)
    let points = try #require(elements.found.first { $0.name == "polyline" }?.attributes["points"])
      .split(separator: " ").map { pair in pair.split(separator: ",").compactMap { Double($0) } }
    #expect(points.count == 3)
    // Equal steps in log10(x) are equal steps on the page: 10 → 100 is half of 100 → 10,000.
    let first = points[1][0] - points[0][0]
    let second = points[2][0] - points[1][0]
    #expect(abs(second - 2 * first) < 0.2)
    // y = 0.2, 0.4, 0.6 on a linear axis: equal steps, upwards on the page (y grows down).
    #expect(points[0][1] > points[1][1] && points[1][1] > points[2][1])
    #expect(abs((points[0][1] - points[1][1]) - (points[1][1] - points[2][1])) < 0.2)
    let ticks = elements.found.filter { $0.name == "text" }.count
    #expect(ticks > 6)
    for label in ["10", "100", "1,000", "10,000"] {
      #expect(
        elements.text.contains(label) || elements.text.contains(label.replacing(",", with: "")),
        "\(label)")
    }
  }
}
