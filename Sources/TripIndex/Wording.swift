import Synchronization

/// How the front end names options and commands in the use cases' messages.
///
/// The use cases speak of their options by their property names (`probesPerTable`, `embedFrom`)
/// and of other use cases by name (`index`); a front end sets how those read to its users (the
/// command-line tool writes flags and its own command lines). By default they read as the bare
/// names.
public enum Wording {
  private struct Words: Sendable {
    var option: @Sendable (String) -> String = { $0 }
    var command: @Sendable (String) -> String = { "the \($0) command" }
  }

  private static let words = Mutex(Words())

  /// Sets the wording once, at start-up.
  ///
  /// - Parameters:
  ///   - option: an option's name as users write it (for the tool, `embedFrom` as a flag).
  ///   - command: a command, with its arguments, as users type it.
  public static func set(
    option: @escaping @Sendable (String) -> String,
    command: @escaping @Sendable (String) -> String
  ) {
    words.withLock { $0 = Words(option: option, command: command) }
  }

  /// An option as users write it.
  public static func option(_ name: String) -> String {
    words.withLock { $0.option }(name)
  }

  /// A command as users type it; `arguments` may name options as `{name}`.
  public static func command(_ text: String) -> String {
    words.withLock { $0.command }(text)
  }
}

/// An option of a use case as the front end names it (see ``Wording``).
func option(_ name: String) -> String { Wording.option(name) }

/// A command as the front end names it (see ``Wording``).
func command(_ text: String) -> String { Wording.command(text) }
