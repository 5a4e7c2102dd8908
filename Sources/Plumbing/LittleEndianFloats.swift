/// Float32 values stored little-endian (every file and database value tripindex reads): one
/// decoder for all of them.
public enum LittleEndianFloats {
  /// The value at a byte offset (any alignment).
  @inline(__always)
  public static func value(in bytes: UnsafeRawBufferPointer, at offset: Int) -> Float {
    Float(
      bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    )
  }

  /// `count` consecutive values from a byte offset.
  public static func values(in bytes: UnsafeRawBufferPointer, from offset: Int = 0, count: Int)
    -> [Float]
  {
    precondition(offset >= 0 && offset + 4 * count <= bytes.count, "values past the bytes' end")
    return (0..<count).map { value(in: bytes, at: offset + 4 * $0) }
  }

  /// Every whole value in the bytes (a trailing partial value is ignored).
  public static func values(in bytes: UnsafeRawBufferPointer) -> [Float] {
    values(in: bytes, count: bytes.count / 4)
  }
}
