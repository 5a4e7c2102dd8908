/// Where a use case reports how long work is going, and its warnings. Each front end draws it
/// its own way: the command-line tool as a status line on a terminal (`TerminalProgress` in
/// TripIndexCLI), the server not at all (warnings go to its log); tests stay silent
/// (``SilentProgress``).
public protocol ProgressReporting: Sendable {
  /// Whether updates are shown (work may skip composing them when not).
  var isEnabled: Bool { get }
  /// Replaces the status with `message` (a reporter may drop updates that come too often,
  /// unless `force`).
  func update(_ message: @autoclosure () -> String, force: Bool)
  /// Clears the status.
  func finish()
  /// A line of its own that stays (shown only where updates are).
  func line(_ message: String)
  /// A warning: shown wherever the reporter shows anything, updates or not (worded by the
  /// front end).
  func warn(_ message: UserText)
  /// Text the user asked to be logged as work goes (a training log), written as it is
  /// (`text` ends with its own newline), whether or not updates are shown.
  func log(_ text: String)
}

extension ProgressReporting {
  /// Replaces the status with `message` (see ``update(_:force:)``).
  public func update(_ message: @autoclosure () -> String) { update(message(), force: false) }
}

/// Reports no progress; warnings go to a closure (dropped by default).
public struct SilentProgress: ProgressReporting {
  private let onWarning: @Sendable (UserText) -> Void

  /// A reporter that shows nothing.
  ///
  /// - Parameter onWarning: receives each warning (a server logs them).
  public init(onWarning: @escaping @Sendable (UserText) -> Void = { _ in }) {
    self.onWarning = onWarning
  }

  /// Always `false`.
  public var isEnabled: Bool { false }
  /// Does nothing.
  public func update(_ message: @autoclosure () -> String, force: Bool) {}
  /// Does nothing.
  public func finish() {}
  /// Does nothing.
  public func line(_ message: String) {}
  /// Hands the warning to `onWarning`.
  public func warn(_ message: UserText) { onWarning(message) }
  /// Does nothing.
  public func log(_ text: String) {}
}
