/// Number formatting for tables and reports, without Foundation.
public enum TextFormatting {
  /// A camel-case name as lower-case words joined by `separator`: `probeLabels` with "_" →
  /// `probe_labels`, with "-" → `probe-labels`.
  public static func splittingCamelCase(_ name: String, separator: String) -> String {
    var text = ""
    for character in name {
      if character.isUppercase {
        text += separator + character.lowercased()
      } else {
        text.append(character)
      }
    }
    return text
  }

  /// A number with a fixed count of decimals, rounded half away from zero: `fixed(0.12345, 3)` →
  /// `"0.123"`.
  ///
  /// - Parameters:
  ///   - value: the number.
  ///   - decimals: digits after the point (0–9).
  /// - Returns: the text; `"nan"`, `"inf"` or `"-inf"` for non-finite values.
  public static func fixed(_ value: Double, _ decimals: Int) -> String {
    guard value.isFinite else { return value.isNaN ? "nan" : (value < 0 ? "-inf" : "inf") }
    let digits = max(0, min(decimals, 9))
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let scaled = (abs(value) * scale).rounded()
    guard scaled < 9e18 else { return String(value) }
    let units = Int(scaled)
    let whole = units / Int(scale)
    let fraction = units % Int(scale)
    let sign = value < 0 && units != 0 ? "-" : ""
    guard digits > 0 else { return "\(sign)\(whole)" }
    let fractionText = String(fraction)
    return "\(sign)\(whole)." + String(repeating: "0", count: digits - fractionText.count)
      + fractionText
  }

  /// A number in scientific notation with `decimals` digits after the point of its mantissa:
  /// `scientific(0.0000949, 2)` → `"9.49e-5"`, `scientific(0.003, 2)` → `"3.00e-3"`.
  ///
  /// - Parameters:
  ///   - value: the number.
  ///   - decimals: digits after the mantissa's point (0–9).
  /// - Returns: the text; `"0"` for zero, as ``fixed(_:_:)`` for non-finite values.
  public static func scientific(_ value: Double, _ decimals: Int) -> String {
    guard value.isFinite else { return fixed(value, decimals) }
    guard value != 0 else { return "0" }
    var exponent = Int((log10Approximation(abs(value))).rounded(.down))
    var mantissa = value / power10(exponent)
    // Rounding can carry the mantissa to 10 (9.996 → 10.00): move it to the next exponent.
    if abs(Double(fixed(mantissa, decimals)) ?? 0) >= 10 {
      exponent += 1
      mantissa = value / power10(exponent)
    }
    return fixed(mantissa, decimals) + "e" + String(exponent)
  }

  /// log₁₀ by repeated division (no Foundation): exact enough to pick an exponent.
  private static func log10Approximation(_ value: Double) -> Double {
    var exponent = 0
    var scaled = value
    while scaled >= 10 {
      scaled /= 10
      exponent += 1
    }
    while scaled < 1 {
      scaled *= 10
      exponent -= 1
    }
    return Double(exponent)
  }

  private static func power10(_ exponent: Int) -> Double {
    var result = 1.0
    for _ in 0..<abs(exponent) { result *= 10 }
    return exponent < 0 ? 1 / result : result
  }

  /// An integer with thousands separators: 1234567 → `"1,234,567"`.
  ///
  /// - Parameter value: the integer.
  /// - Returns: the text.
  public static func grouped(_ value: Int) -> String {
    let digits = String(value.magnitude)
    var result = ""
    for (index, character) in digits.enumerated() {
      if index > 0 && (digits.count - index) % 3 == 0 { result.append(",") }
      result.append(character)
    }
    return value < 0 ? "-" + result : result
  }

  /// A duration: `"0.21 s"`, `"34 s"`, `"2 min 5 s"`.
  ///
  /// - Parameter seconds: the duration.
  /// - Returns: the text.
  public static func seconds(_ seconds: Double) -> String {
    if seconds < 10 { return fixed(seconds, 2) + " s" }
    if seconds < 120 { return "\(Int(seconds.rounded())) s" }
    return "\(Int(seconds) / 60) min \(Int(seconds) % 60) s"
  }
}
