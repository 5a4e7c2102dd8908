/// A value an engine can take as a key or a value: anything that can lend its bytes.
public protocol StorageBytes {
  /// Calls `body` with the value's bytes; the buffer is valid only inside `body`.
  ///
  /// - Parameter body: receives the bytes.
  /// - Returns: what `body` returns.
  func withStorageBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R
}

extension String: StorageBytes {
  /// Lends the string's UTF-8 bytes (no terminating zero).
  public func withStorageBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
    var copy = self
    return try copy.withUTF8 { try body(UnsafeRawBufferPointer($0)) }
  }
}

extension Array: StorageBytes where Element == UInt8 {
  /// Lends the array's bytes.
  public func withStorageBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
    try withUnsafeBytes(body)
  }
}

extension UnsafeRawBufferPointer: StorageBytes {
  /// Lends the buffer itself.
  public func withStorageBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
    try body(self)
  }
}

/// A `UInt64` stored as 8 big-endian bytes, so that byte order is numeric order.
public struct BigEndianKey: StorageBytes, Hashable, Sendable {
  /// The numeric value.
  public let value: UInt64

  /// Wraps a number as a key.
  ///
  /// - Parameter value: the number.
  public init(_ value: UInt64) { self.value = value }

  /// Decodes 8 big-endian bytes.
  ///
  /// - Parameter bytes: a key read from a table.
  /// - Returns: the key, or `nil` when `bytes` is not 8 bytes long.
  public init?(bytes: UnsafeRawBufferPointer) {
    guard bytes.count == 8 else { return nil }
    value = UInt64(bigEndian: bytes.loadUnaligned(as: UInt64.self))
  }

  /// Lends the 8 big-endian bytes.
  public func withStorageBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
    var bigEndian = value.bigEndian
    return try Swift.withUnsafeBytes(of: &bigEndian, body)
  }
}

/// A `UInt64` key in the machine's byte order, for tables with
/// ``TableLayout/integerKeys`` (compared as integers, not byte by byte).
public struct IntegerKey: StorageBytes, Hashable, Sendable {
  /// The numeric value.
  public let value: UInt64

  /// Wraps a number as a key.
  ///
  /// - Parameter value: the number.
  public init(_ value: UInt64) { self.value = value }

  /// Decodes 8 bytes in the machine's order.
  ///
  /// - Parameter bytes: a key read from a table.
  /// - Returns: the key, or `nil` when `bytes` is not 8 bytes long.
  public init?(bytes: UnsafeRawBufferPointer) {
    guard bytes.count == 8 else { return nil }
    value = bytes.loadUnaligned(as: UInt64.self)
  }

  /// Lends the 8 bytes.
  public func withStorageBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
    var native = value
    return try Swift.withUnsafeBytes(of: &native, body)
  }
}
