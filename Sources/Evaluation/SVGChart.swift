import Plumbing

/// A line chart written as a standalone SVG file: axes with ticks, axis titles, a legend, one
/// coloured polyline with markers per series.
public struct SVGChart: Sendable {
  /// One named line.
  public struct Series: Sendable {
    /// The legend text.
    public var name: String
    /// The points, in drawing order.
    public var points: [(x: Double, y: Double)]
    /// Draw a dashed line (for a second family of series, e.g. approximate search).
    public var dashed: Bool
    /// The palette slot; series with the same slot share a colour (say one model's exact and
    /// approximate curves). `nil` uses the series' position.
    public var colourSlot: Int?

    /// Creates a series.
    ///
    /// - Parameters:
    ///   - name: the legend text.
    ///   - points: the points.
    ///   - dashed: draw dashed.
    ///   - colourSlot: the palette slot, or `nil` for the series' position.
    public init(
      name: String, points: [(x: Double, y: Double)], dashed: Bool = false, colourSlot: Int? = nil
    ) {
      self.name = name
      self.points = points
      self.dashed = dashed
      self.colourSlot = colourSlot
    }
  }

  /// The chart's title.
  public var title: String
  /// The x axis title.
  public var xLabel: String
  /// The y axis title.
  public var yLabel: String
  /// The lines.
  public var series: [Series]
  /// Fixed y range (e.g. 0…1 for rates); `nil` fits the data.
  public var yRange: ClosedRange<Double>?
  /// Use a base-10 logarithmic x axis (for throughput).
  public var logarithmicX = false

  /// Creates a chart.
  ///
  /// - Parameters:
  ///   - title: the title.
  ///   - xLabel: the x axis title.
  ///   - yLabel: the y axis title.
  ///   - series: the lines.
  ///   - yRange: a fixed y range, or `nil`.
  public init(
    title: String, xLabel: String, yLabel: String, series: [Series],
    yRange: ClosedRange<Double>? = nil
  ) {
    self.title = title
    self.xLabel = xLabel
    self.yLabel = yLabel
    self.series = series
    self.yRange = yRange
  }

  private static let palette = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
  ]

  /// The SVG document.
  public var svg: String {
    let width = 720.0
    let height = 460.0
    let left = 70.0
    let right = 200.0
    let top = 40.0
    let bottom = 60.0
    let plotWidth = width - left - right
    let plotHeight = height - top - bottom
    let allPoints = series.flatMap(\.points).filter {
      $0.x.isFinite && $0.y.isFinite && (!logarithmicX || $0.x > 0)
    }
    func transformX(_ x: Double) -> Double { logarithmicX ? log10(x) : x }
    var xMin = allPoints.map { transformX($0.x) }.min() ?? 0
    var xMax = allPoints.map { transformX($0.x) }.max() ?? 1
    if xMax - xMin < 1e-12 {
      xMin -= 0.5
      xMax += 0.5
    }
    var yMin = yRange?.lowerBound ?? (allPoints.map(\.y).min() ?? 0)
    var yMax = yRange?.upperBound ?? (allPoints.map(\.y).max() ?? 1)
    if yMax - yMin < 1e-12 {
      yMin -= 0.5
      yMax += 0.5
    }
    if yRange == nil {
      let pad = (yMax - yMin) * 0.05
      yMin -= pad
      yMax += pad
    }
    func px(_ x: Double) -> Double { left + (transformX(x) - xMin) / (xMax - xMin) * plotWidth }
    func py(_ y: Double) -> Double { top + (1 - (y - yMin) / (yMax - yMin)) * plotHeight }
    func number(_ value: Double) -> String { TextFormatting.fixed(value, 1) }

    var svg = """
      <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" \
      viewBox="0 0 \(Int(width)) \(Int(height))" font-family="Helvetica, Arial, sans-serif" font-size="12">
      <rect x="0" y="0" width="\(Int(width))" height="\(Int(height))" fill="white"/>
      <text x="\(number(left + plotWidth / 2))" y="22" text-anchor="middle" font-size="15" font-weight="bold">\(MarkupText.escaped(title))</text>

      """
    // Grid and ticks.
    let yTicks = Self.ticks(yMin, yMax)
    let yDecimals = Self.decimals(forStep: yTicks.count > 1 ? yTicks[1] - yTicks[0] : 1)
    for tick in yTicks {
      let y = py(tick)
      svg +=
        "<line x1=\"\(number(left))\" y1=\"\(number(y))\" x2=\"\(number(left + plotWidth))\" y2=\"\(number(y))\" stroke=\"#e0e0e0\"/>\n"
      svg +=
        "<text x=\"\(number(left - 8))\" y=\"\(number(y + 4))\" text-anchor=\"end\">\(Self.tickLabel(tick, decimals: yDecimals))</text>\n"
    }
    let xTicks = logarithmicX ? Self.logTicks(xMin, xMax) : Self.ticks(xMin, xMax)
    let xDecimals =
      logarithmicX ? 0 : Self.decimals(forStep: xTicks.count > 1 ? xTicks[1] - xTicks[0] : 1)
    for tick in xTicks {
      let x = logarithmicX ? left + (log10(tick) - xMin) / (xMax - xMin) * plotWidth : px(tick)
      svg +=
        "<line x1=\"\(number(x))\" y1=\"\(number(top))\" x2=\"\(number(x))\" y2=\"\(number(top + plotHeight))\" stroke=\"#eeeeee\"/>\n"
      svg +=
        "<text x=\"\(number(x))\" y=\"\(number(top + plotHeight + 18))\" text-anchor=\"middle\">\(Self.tickLabel(tick, decimals: xDecimals))</text>\n"
    }
    // Axes and titles.
    svg +=
      "<line x1=\"\(number(left))\" y1=\"\(number(top + plotHeight))\" x2=\"\(number(left + plotWidth))\" y2=\"\(number(top + plotHeight))\" stroke=\"black\"/>\n"
    svg +=
      "<line x1=\"\(number(left))\" y1=\"\(number(top))\" x2=\"\(number(left))\" y2=\"\(number(top + plotHeight))\" stroke=\"black\"/>\n"
    svg +=
      "<text x=\"\(number(left + plotWidth / 2))\" y=\"\(number(height - 18))\" text-anchor=\"middle\">\(MarkupText.escaped(xLabel))</text>\n"
    svg +=
      "<text x=\"18\" y=\"\(number(top + plotHeight / 2))\" text-anchor=\"middle\" transform=\"rotate(-90 18 \(number(top + plotHeight / 2)))\">\(MarkupText.escaped(yLabel))</text>\n"
    // Series and legend.
    for (index, line) in series.enumerated() {
      let colour = Self.palette[(line.colourSlot ?? index) % Self.palette.count]
      let points = line.points.filter {
        $0.x.isFinite && $0.y.isFinite && (!logarithmicX || $0.x > 0)
      }
      let path = points.map { "\(number(px($0.x))),\(number(py($0.y)))" }.joined(separator: " ")
      let dash = line.dashed ? " stroke-dasharray=\"6 4\"" : ""
      if points.count > 1 {
        svg +=
          "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\"\(dash) points=\"\(path)\"/>\n"
      }
      // A lone point is drawn (and shown in the legend) as a larger marker.
      let radius = points.count == 1 ? 6 : 3
      if points.count <= 60 {
        for point in points {
          svg +=
            "<circle cx=\"\(number(px(point.x)))\" cy=\"\(number(py(point.y)))\" r=\"\(radius)\" fill=\"\(colour)\"/>\n"
        }
      }
      let legendY = top + 10 + Double(index) * 20
      let legendX = left + plotWidth + 16
      svg +=
        points.count == 1
        ? "<circle cx=\"\(number(legendX + 12))\" cy=\"\(number(legendY))\" r=\"\(radius)\" fill=\"\(colour)\"/>\n"
        : "<line x1=\"\(number(legendX))\" y1=\"\(number(legendY))\" x2=\"\(number(legendX + 24))\" y2=\"\(number(legendY))\" stroke=\"\(colour)\" stroke-width=\"2\"\(dash)/>\n"
      svg +=
        "<text x=\"\(number(legendX + 30))\" y=\"\(number(legendY + 4))\">\(MarkupText.escaped(line.name))</text>\n"
    }
    svg += "</svg>\n"
    return svg
  }

  /// About five round tick values covering [low, high].
  static func ticks(_ low: Double, _ high: Double) -> [Double] {
    let span = high - low
    let rough = span / 5
    var step = 1.0
    while step > rough { step /= 10 }
    while step * 10 <= rough { step *= 10 }
    if step * 5 <= rough { step *= 5 } else if step * 2 <= rough { step *= 2 }
    var ticks: [Double] = []
    var value = (low / step).rounded(.up) * step
    while value <= high + step * 1e-9 {
      ticks.append(abs(value) < step * 1e-9 ? 0 : value)
      value += step
    }
    return ticks
  }

  /// Powers of ten (and 2× and 5× when few) within a log-scale range given as exponents.
  static func logTicks(_ lowExponent: Double, _ highExponent: Double) -> [Double] {
    var ticks: [Double] = []
    var exponent = lowExponent.rounded(.down)
    while exponent <= highExponent.rounded(.up) {
      for multiple in highExponent - lowExponent < 2 ? [1.0, 2, 5] : [1.0] {
        let value = multiple * pow10(exponent)
        let logValue = log10(value)
        if logValue >= lowExponent - 1e-9 && logValue <= highExponent + 1e-9 { ticks.append(value) }
      }
      exponent += 1
    }
    return ticks
  }

  private static func pow10(_ exponent: Double) -> Double {
    var value = 1.0
    if exponent >= 0 {
      for _ in 0..<Int(exponent) { value *= 10 }
    } else {
      for _ in 0..<Int(-exponent) { value /= 10 }
    }
    return value
  }

  /// Decimals that show a tick step exactly: 0 for 5, 1 for 0.5, 2 for 0.05.
  static func decimals(forStep step: Double) -> Int {
    var decimals = 0
    var scaled = step
    while decimals < 6 && abs(scaled - scaled.rounded()) > 1e-9 {
      scaled *= 10
      decimals += 1
    }
    return decimals
  }

  static func tickLabel(_ value: Double, decimals: Int) -> String {
    if decimals == 0 && abs(value) < 1e15 { return TextFormatting.grouped(Int(value.rounded())) }
    if decimals == 0 { return TextFormatting.fixed(value, 0) }
    return TextFormatting.fixed(value, decimals)
  }
}

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif
