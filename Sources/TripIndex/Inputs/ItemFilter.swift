import Plumbing
import VectorIO
import VectorMath
import VectorStore

/// A filter over stored items, from a query's filter expression: comparisons of `pid`, `camera`,
/// `group`, `id` and `name` with `==`, `!=`, `<`, `<=`, `>`, `>=`, `in [..]` and `not in [..]`, combined with
/// `and`, `or`, `not` and parentheses (`and` binds tighter than `or`), e.g.
/// `camera != 3 and pid not in [0, -1]`.
///
/// `pid`, `camera`, `group` and `id` compare with integers, `name` with quoted strings ('…' or
/// "…", compared byte by byte). An item without a pid, camera or group fails every comparison of
/// that label
/// (`camera != 3` leaves it out; `not camera == 3` keeps it).
public indirect enum ItemFilter: Sendable, Equatable {
  /// A labelled field.
  public enum Field: String, Sendable, CaseIterable {
    case pid, camera, group, id, name
  }

  /// A comparison operator.
  public enum Comparison: String, Sendable, CaseIterable {
    case equal = "==", notEqual = "!=", less = "<", lessOrEqual = "<=", greater = ">"
    case greaterOrEqual = ">="
  }

  /// A value compared with.
  public enum Value: Sendable, Equatable {
    case integer(Int64)
    case text(String)
  }

  /// `field op value`.
  case compare(Field, Comparison, Value)
  /// `field in [values]`, or `field not in [values]` when negated.
  case member(Field, [Value], negated: Bool)
  /// `a and b`.
  case and(ItemFilter, ItemFilter)
  /// `a or b`.
  case or(ItemFilter, ItemFilter)
  /// `not a`.
  case not(ItemFilter)

  /// Whether an item passes.
  ///
  /// - Parameter item: the item.
  /// - Returns: the filter's verdict.
  public func matches(_ item: StoredItem) -> Bool {
    switch self {
    case .compare(let field, let comparison, let value):
      guard let order = Self.order(of: item, field, value) else { return false }
      switch comparison {
      case .equal: return order == 0
      case .notEqual: return order != 0
      case .less: return order < 0
      case .lessOrEqual: return order <= 0
      case .greater: return order > 0
      case .greaterOrEqual: return order >= 0
      }
    case .member(let field, let values, let negated):
      // An item without the label fails the test, whatever the list.
      if Self.label(of: item, field) == nil && field != .id && field != .name { return false }
      var found = false
      for value in values {
        guard let order = Self.order(of: item, field, value) else { return false }
        if order == 0 {
          found = true
          break
        }
      }
      return found != negated
    case .and(let left, let right): return left.matches(item) && right.matches(item)
    case .or(let left, let right): return left.matches(item) || right.matches(item)
    case .not(let inner): return !inner.matches(item)
    }
  }

  /// The item's field compared with `value`: negative, zero or positive; `nil` when the item
  /// has no such label.
  private static func order(of item: StoredItem, _ field: Field, _ value: Value) -> Int? {
    switch (field, value) {
    case (.name, .text(let text)):
      let name = Array(item.name.utf8)
      let other = Array(text.utf8)
      return name == other ? 0 : (name.lexicographicallyPrecedes(other) ? -1 : 1)
    case (.pid, .integer(let number)), (.camera, .integer(let number)),
      (.group, .integer(let number)):
      return label(of: item, field).map { Int64($0) == number ? 0 : (Int64($0) < number ? -1 : 1) }
    case (.id, .integer(let number)):
      // Ids are below 2^63 in any store; a negative bound compares below every id.
      guard number >= 0 else { return 1 }
      let id = item.id
      return id == UInt64(number) ? 0 : (id < UInt64(number) ? -1 : 1)
    default:
      return nil  // the parser rejects mismatched types
    }
  }

  /// The most parentheses and `not`s an expression may nest (deeper ones are refused before
  /// they could exhaust a thread's stack in the parser, the evaluation or the release).
  public static let maximumNesting = 256

  /// The item's pid, camera or group (`nil` for the other fields, or when unknown).
  private static func label(of item: StoredItem, _ field: Field) -> Int32? {
    switch field {
    case .pid: item.labels.pid
    case .camera: item.labels.camera
    case .group: item.labels.group
    case .id, .name: nil
    }
  }

  /// Parses an expression. Chains of `and` or `or` become balanced trees, so that evaluating a
  /// long chain recurses only as deep as the logarithm of its length.
  ///
  /// - Parameter text: the expression.
  /// - Returns: the filter.
  /// - Throws: ``TripIndexError`` naming the column and what was expected there, or where the
  ///   nesting passes ``maximumNesting``.
  public static func parse(_ text: String) throws -> ItemFilter {
    var parser = FilterParser(text: text)
    return try parser.parseWhole()
  }

  /// The live items of a snapshot that pass a filter, as a mask, with the passing items' ids
  /// grouped by camera and by pid (for a probe's own-camera and own-pid exclusions).
  struct Selection {
    /// The passing items.
    var mask: IDMask
    /// Passing ids by camera.
    var byCamera: [Int32: [UInt64]] = [:]
    /// Passing ids by pid.
    var byPID: [Int32: [UInt64]] = [:]
    /// Passing ids by pid and camera together.
    var byPIDCamera: [PIDCamera: [UInt64]] = [:]

    /// A pid and a camera.
    struct PIDCamera: Hashable {
      var pid: Int32
      var camera: Int32
    }

    /// Selects from a snapshot.
    ///
    /// - Parameters:
    ///   - snapshot: the store's snapshot.
    ///   - filter: the filter, or `nil` for every live item.
    ///   - groups: also group the passing ids by camera and pid.
    /// - Throws: `VectorStoreError` when an item record cannot be read.
    init(snapshot: some ItemSnapshot, filter: ItemFilter?, groups: Bool) throws {
      var mask = IDMask(limit: Int(clamping: snapshot.idLimit))
      var byCamera: [Int32: [UInt64]] = [:]
      var byPID: [Int32: [UInt64]] = [:]
      var byPIDCamera: [PIDCamera: [UInt64]] = [:]
      try snapshot.forEachItem { item, _ in
        guard filter?.matches(item) ?? true else { return }
        mask.insert(item.id)
        if groups {
          if let camera = item.labels.camera { byCamera[camera, default: []].append(item.id) }
          if let pid = item.labels.pid { byPID[pid, default: []].append(item.id) }
          if let pid = item.labels.pid, let camera = item.labels.camera {
            byPIDCamera[PIDCamera(pid: pid, camera: camera), default: []].append(item.id)
          }
        }
      }
      self.mask = mask
      self.byCamera = byCamera
      self.byPID = byPID
      self.byPIDCamera = byPIDCamera
    }

    /// The mask without what one probe excludes: the items of its camera, of its pid, of its
    /// pid and camera together (Market-1501's rule), and junk.
    ///
    /// - Parameters:
    ///   - camera: the camera whose items go, or `nil`.
    ///   - pid: the pid whose items go, or `nil`.
    ///   - pidCamera: the pid and camera whose shared items go, or `nil`.
    ///   - junk: the junk pid, whose items go, or `nil`.
    /// - Returns: the narrowed mask.
    func excluding(
      camera: Int32? = nil, pid: Int32? = nil, pidCamera: PIDCamera? = nil, junk: Int32? = nil
    ) -> IDMask {
      var narrowed = mask
      for id in camera.flatMap({ byCamera[$0] }) ?? [] { narrowed.remove(id) }
      for id in pid.flatMap({ byPID[$0] }) ?? [] { narrowed.remove(id) }
      for id in pidCamera.flatMap({ byPIDCamera[$0] }) ?? [] { narrowed.remove(id) }
      for id in junk.flatMap({ byPID[$0] }) ?? [] { narrowed.remove(id) }
      return narrowed
    }
  }
}

/// The recursive-descent parser behind ``ItemFilter/parse(_:)``.
private struct FilterParser {
  enum Token: Equatable {
    case word(String)
    case integer(Int64)
    case text(String)
    case symbol(String)
    case end
  }

  let text: String
  let characters: [Character]
  var position = 0
  /// The current token and the column (1-based) where it starts.
  var token: Token = .end
  var column = 1
  /// Parentheses and `not`s open at the current token.
  var nesting = 0

  init(text: String) {
    self.text = text
    characters = Array(text)
  }

  func fail(_ expected: String, at column: Int? = nil) -> TripIndexError {
    let location = column ?? self.column
    let found: String
    switch token {
    case .end: found = "the end"
    case .word(let word): found = "'\(word)'"
    case .integer(let number): found = String(number)
    case .text(let text): found = "'\(text)'"
    case .symbol(let symbol): found = "'\(symbol)'"
    }
    return TripIndexError(
      "\(option: .where): expected \(expected) at column \(location), found \(found)\n  \(text)\n  \(String(repeating: " ", count: max(0, location - 1)))^"
    )
  }

  mutating func advance() throws {
    while position < characters.count, characters[position].isWhitespace { position += 1 }
    column = position + 1
    guard position < characters.count else {
      token = .end
      return
    }
    let character = characters[position]
    if character.isLetter || character == "_" {
      var word = ""
      while position < characters.count,
        characters[position].isLetter || characters[position].isNumber
          || characters[position] == "_"
      {
        word.append(characters[position])
        position += 1
      }
      token = .word(word.lowercased())
    } else if character.isASCII && (character.isNumber || character == "-" || character == "+") {
      var digits = String(character)
      position += 1
      while position < characters.count, characters[position].isASCII,
        characters[position].isNumber
      {
        digits.append(characters[position])
        position += 1
      }
      guard let number = Int64(digits) else {
        token = .symbol(digits)
        throw fail("an integer (within ±9.2e18)")
      }
      token = .integer(number)
    } else if character == "'" || character == "\"" {
      position += 1
      var value = ""
      while position < characters.count, characters[position] != character {
        value.append(characters[position])
        position += 1
      }
      guard position < characters.count else {
        token = .end
        throw fail("a closing \(character)")
      }
      position += 1
      token = .text(value)
    } else {
      let two = position + 1 < characters.count ? String(characters[position...(position + 1)]) : ""
      if ["==", "!=", "<=", ">="].contains(two) {
        token = .symbol(two)
        position += 2
      } else if "<>()[],=".contains(character) {
        token = .symbol(String(character))
        position += 1
      } else {
        token = .symbol(String(character))
        throw fail("a field, a value, an operator or a parenthesis")
      }
    }
  }

  mutating func parseWhole() throws -> ItemFilter {
    try advance()
    if token == .end { throw fail("an expression") }
    let filter = try parseOr()
    guard token == .end else { throw fail("'and', 'or' or the end") }
    return filter
  }

  mutating func parseOr() throws -> ItemFilter {
    var operands = [try parseAnd()]
    while token == .word("or") {
      try advance()
      operands.append(try parseAnd())
    }
    return Self.balanced(operands[...], joinedBy: ItemFilter.or)
  }

  mutating func parseAnd() throws -> ItemFilter {
    var operands = [try parseUnary()]
    while token == .word("and") {
      try advance()
      operands.append(try parseUnary())
    }
    return Self.balanced(operands[...], joinedBy: ItemFilter.and)
  }

  /// Operands of one associative operator as a balanced tree (depth ⌈log₂ n⌉).
  static func balanced(
    _ operands: ArraySlice<ItemFilter>, joinedBy join: (ItemFilter, ItemFilter) -> ItemFilter
  ) -> ItemFilter {
    if operands.count == 1, let only = operands.first { return only }
    let middle = operands.startIndex + operands.count / 2
    return join(
      balanced(operands[..<middle], joinedBy: join), balanced(operands[middle...], joinedBy: join))
  }

  /// Counts one more level of nesting, refusing more than ``ItemFilter/maximumNesting``.
  mutating func enterNesting() throws {
    nesting += 1
    guard nesting <= ItemFilter.maximumNesting else {
      throw TripIndexError(
        "\(option: .where): the expression nests parentheses and 'not' more than \(ItemFilter.maximumNesting) levels deep at column \(column); write it with fewer levels\n  \(text.prefix(200))\(text.count > 200 ? "…" : "")"
      )
    }
  }

  mutating func parseUnary() throws -> ItemFilter {
    if token == .word("not") {
      try enterNesting()
      try advance()
      let inner = try parseUnary()
      nesting -= 1
      return .not(inner)
    }
    if token == .symbol("(") {
      try enterNesting()
      try advance()
      let inner = try parseOr()
      guard token == .symbol(")") else { throw fail("')'") }
      try advance()
      nesting -= 1
      return inner
    }
    return try parseComparison()
  }

  mutating func parseComparison() throws -> ItemFilter {
    guard case .word(let name) = token, let field = ItemFilter.Field(rawValue: name) else {
      throw fail("a field (pid, camera, group, id or name), 'not' or '('")
    }
    try advance()
    if token == .word("in") || token == .word("not") {
      let negated = token == .word("not")
      try advance()
      if negated {
        guard token == .word("in") else { throw fail("'in' after 'not'") }
        try advance()
      }
      guard token == .symbol("[") else { throw fail("'[' to start the list") }
      try advance()
      var values: [ItemFilter.Value] = []
      while token != .symbol("]") {
        if !values.isEmpty {
          guard token == .symbol(",") else { throw fail("',' or ']'") }
          try advance()
        }
        values.append(try parseValue(for: field))
      }
      try advance()
      return .member(field, values, negated: negated)
    }
    guard case .symbol(let symbol) = token, let comparison = ItemFilter.Comparison(rawValue: symbol)
    else {
      throw fail("a comparison (==, !=, <, <=, >, >=), 'in' or 'not in'")
    }
    try advance()
    return .compare(field, comparison, try parseValue(for: field))
  }

  mutating func parseValue(for field: ItemFilter.Field) throws -> ItemFilter.Value {
    switch (field, token) {
    case (.name, .text(let value)):
      try advance()
      return .text(value)
    case (.name, _):
      throw fail("a quoted name ('…' or \"…\")")
    case (_, .integer(let number)):
      try advance()
      return .integer(number)
    default:
      throw fail("an integer for \(field.rawValue)")
    }
  }
}
