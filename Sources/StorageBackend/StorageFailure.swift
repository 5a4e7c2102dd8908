import Synchronization

/// An error an engine throws, with what kind of failure it is, so that the store can word it
/// (and decide what to do) without knowing the engine.
public protocol StorageFailure: Error, CustomStringConvertible {
  /// What went wrong, in the store's terms.
  var kind: StorageFailureKind { get }
  /// The engine's name for messages ("LMDB").
  var engineName: String { get }
}

/// The failures the store tells apart.
public enum StorageFailureKind: Sendable, Hashable {
  /// A table or key that should exist does not.
  case notFound
  /// A put with ``PutOptions/noOverwrite`` met an existing key.
  case keyExists
  /// The engine found its own data inconsistent (a damaged file).
  case damaged
  /// The disk is full or failing (no space, quota, I/O error, file too large).
  case diskFull
  /// The engine's data is in use in a way that forbids this open (LMDB: open read-only already).
  case busy
  /// The process has too little address space (or memory) left to map the data.
  case outOfMemory
  /// There is nothing at the location.
  case missing
  /// The location holds something that is not this engine's data.
  case notEngineData
  /// Anything else.
  case other
}

/// Lets an application add to the message printed when an engine finds damaged data and must
/// stop the process (LMDB's page assertions), e.g. the command that checks a store.
public enum DamagedDataAdvice {
  private static let advice = Mutex<@Sendable (String) -> String>({ _ in "" })

  /// Sets what follows "restore it from a copy", given the store's location.
  public static func set(_ advice: @escaping @Sendable (String) -> String) {
    self.advice.withLock { $0 = advice }
  }

  /// The advice for a store at `location`.
  public static func text(for location: String) -> String {
    advice.withLock { $0 }(location)
  }
}
