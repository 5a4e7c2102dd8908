import Testing
import TripIndex
import VectorMath

/// The pieces result lines are written with spell values as Swift's own descriptions do.
@Suite struct OutputBufferTests {
  @Test("integers are written digit by digit exactly as String(value) spells them; nil is null")
  func integers() {
    var random = SeededRandom(seed: 3)
    var values: [Int64] = [0, 1, -1, 9, 10, -10, 99, 100, .max, .min, 1_000_000_007]
    values += (0..<300).map { _ in Int64(bitPattern: random.next()) >> (random.next() % 63) }
    var output = OutputBuffer(stream: nil)
    var expected = ""
    for value in values {
      output.write(value)
      output.write(" ")
      expected += "\(value) "
    }
    for value in [UInt64.max, 0, 42] {
      output.write(value)
      expected += "\(value)"
    }
    for value: Int32? in [nil, -1, .min, .max, 7] {
      output.write(optional: value)
      expected += value.map { "\($0)" } ?? "null"
    }
    #expect(output.text == expected)
  }

  @Test("JSON numbers are the float's description, null when not finite; names are JSON strings")
  func numbersAndStrings() {
    var output = OutputBuffer(stream: nil)
    for value: Float in [765, 0.1, 1e-5, -2.5e20, .infinity, -.infinity, .nan, 0] {
      output.writeJSONNumber(value)
      output.write(",")
    }
    #expect(output.text == "765.0,0.1,1e-05,-2.5e+20,null,null,null,0.0,")
    var strings = OutputBuffer(stream: nil)
    for name in ["base#1", "é日本", "a\"b", "c\\d", "e\nf", "\u{1}"] {
      strings.writeJSONString(name)
    }
    #expect(strings.text == #""base#1""é日本""a\"b""c\\d""e\nf""\u0001""#)
  }
}
