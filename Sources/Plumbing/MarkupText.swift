/// Text placed in HTML or SVG: the characters markup gives meaning to are written as entities.
public enum MarkupText {
  /// Text with `&`, `<`, `>`, `"` and `'` escaped, safe in element content and in quoted
  /// attributes of HTML and XML alike.
  ///
  /// - Parameter text: any text.
  /// - Returns: the escaped text (the text itself when nothing needs escaping).
  public static func escaped(_ text: String) -> String {
    guard
      text.utf8.contains(where: {
        $0 == 0x26 || $0 == 0x3C || $0 == 0x3E || $0 == 0x22 || $0 == 0x27
      })
    else { return text }
    var result = ""
    result.reserveCapacity(text.utf8.count + 16)
    for character in text.unicodeScalars {
      switch character {
      case "&": result += "&amp;"
      case "<": result += "&lt;"
      case ">": result += "&gt;"
      case "\"": result += "&quot;"
      case "'": result += "&#39;"
      default: result.unicodeScalars.append(character)
      }
    }
    return result
  }
}
