import Plumbing
import PropertyBased
import Testing

/// Numbers and tables as the reports print them: hand-worked cases, then properties.
@Suite struct TextFormattingTests {
  @Test(
    "fixed rounds half away from zero and never prints -0",
    arguments: [
      (0.12345, 3, "0.123"), (2.5, 0, "3"), (-2.5, 0, "-3"), (-0.0004, 3, "0.000"),
      (0.0005, 3, "0.001"), (1234.5, 1, "1234.5"), (7, 2, "7.00"), (-0.25, 1, "-0.3"),
      (1e-12, 9, "0.000000000"), (0.5, 12, "0.500000000"), (3.14159, -1, "3"),
    ])
  func fixedCases(value: Double, decimals: Int, expected: String) {
    #expect(TextFormatting.fixed(value, decimals) == expected)
  }

  @Test(
    "scientific notation keeps the mantissa in [1, 10) after rounding",
    arguments: [
      (0.0000949, 2, "9.49e-5"), (0.003, 2, "3.00e-3"), (9.996, 2, "1.00e1"), (123_456, 1, "1.2e5"),
      (-0.5, 1, "-5.0e-1"), (1, 0, "1e0"), (0, 2, "0"),
    ])
  func scientific(value: Double, decimals: Int, expected: String) {
    #expect(TextFormatting.scientific(value, decimals) == expected)
  }

  @Test("fixed names non-finite values")
  func fixedNonFinite() {
    #expect(TextFormatting.fixed(.nan, 2) == "nan")
    #expect(TextFormatting.fixed(.infinity, 2) == "inf")
    #expect(TextFormatting.fixed(-.infinity, 2) == "-inf")
  }

  @Test("fixed reads back within half a unit of its last digit")
  func fixedProperty() async {
    await propertyCheck(count: 500, input: Gen.double(in: -1e9...1e9), Gen.int(in: 0...6)) {
      value, decimals in
      let text = TextFormatting.fixed(value, decimals)
      let parsed = try #require(Double(text))
      var unit = 1.0
      for _ in 0..<decimals { unit /= 10 }
      #expect(abs(parsed - value) <= unit / 2 + abs(value) * 1e-15, "\(value) → \(text)")
      let fraction = text.split(separator: ".").dropFirst().first ?? ""
      #expect(fraction.count == decimals, "\(text)")
    }
  }

  @Test(
    "grouped puts a comma every three digits",
    arguments: [
      (0, "0"), (999, "999"), (1000, "1,000"), (-1_234_567, "-1,234,567"),
      (Int.max, "9,223,372,036,854,775,807"), (Int.min, "-9,223,372,036,854,775,808"),
    ])
  func groupedCases(value: Int, expected: String) {
    #expect(TextFormatting.grouped(value) == expected)
  }

  @Test("grouped without its commas is the number, in groups of three")
  func groupedProperty() async {
    await propertyCheck(count: 500, input: Gen.int(in: Int.min...Int.max)) { value in
      let text = TextFormatting.grouped(value)
      #expect(text.replacing(",", with: "") == String(value))
      let groups = text.drop { $0 == "-" }.split(separator: ",")
      #expect(groups.dropFirst().allSatisfy { $0.count == 3 } && (1...3).contains(groups[0].count))
    }
  }

  @Test(
    "seconds reads as a person would say it",
    arguments: [(0.214, "0.21 s"), (9.999, "10.00 s"), (34.4, "34 s"), (125, "2 min 5 s")])
  func seconds(value: Double, expected: String) {
    #expect(TextFormatting.seconds(value) == expected)
  }

  @Test("a table aligns its columns, numbers to the right")
  func table() {
    let text = TextTable.render(
      header: ["method", "mAP", "note"],
      rows: [["exact", "91.2", "all"], ["lsh T16", "9.0", ""]],
      rightAligned: [false, true, false])
    #expect(
      text == """
        method    mAP  note
        exact    91.2  all
        lsh T16   9.0  \n
        """)
  }

  @Test("every table line puts each column at the same place")
  func tableProperty() async {
    let cell = Gen.letterOrNumber.string(of: 0...9)
    await propertyCheck(count: 200, input: cell.array(of: 12), Gen.int(in: 1...4)) {
      cells, rows in
      let header = ["a", "bb", "ccc"]
      var body: [[String]] = []
      for row in 0..<rows {
        body.append((0..<3).map { column in cells[(row * 3 + column) % cells.count] })
      }
      let lines = TextTable.render(header: header, rows: body, rightAligned: [false, true, false])
        .split(separator: "\n", omittingEmptySubsequences: false).dropLast()
      #expect(lines.count == rows + 1)
      // The right-aligned middle column ends at the same offset on every line.
      let all = [header] + body
      let widths: [Int] = (0..<2).map { column in all.map { $0[column].count }.max() ?? 0 }
      for (line, cells) in zip(lines, all) {
        let end = widths[0] + 2 + widths[1]
        let middle = String(line.dropFirst(widths[0] + 2).prefix(widths[1]))
        #expect(middle.hasSuffix(cells[1]), "\(line)")
        #expect(line.count >= end)
      }
    }
  }
}
