import Dispatch

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Splitting work across the machine's cores.
public enum Parallel {
  /// The number of online processors.
  public static var processorCount: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

  /// Runs `body` once for each of `count` contiguous chunks of `0..<total`, concurrently.
  ///
  /// - Parameters:
  ///   - total: the size of the range to split.
  ///   - count: the number of chunks (at most `total`; 1 runs inline).
  ///   - body: receives the chunk's index and its range.
  public static func forEachChunk(
    of total: Int, count: Int, _ body: (_ chunk: Int, _ range: Range<Int>) -> Void
  ) {
    let chunks = max(1, min(count, total))
    if chunks == 1 {
      body(0, 0..<total)
      return
    }
    withoutActuallyEscaping(body) { body in
      let work = UncheckedSendable(body)
      DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
        let lower = total * chunk / chunks
        let upper = total * (chunk + 1) / chunks
        work.value(chunk, lower..<upper)
      }
    }
  }
}

/// Carries a value into concurrent work whose safety the caller guarantees (disjoint writes).
/// Visible inside this package only: it is a tool for tripindex's own workers, not API.
package struct UncheckedSendable<Value>: @unchecked Sendable {
  /// The wrapped value.
  package let value: Value
  /// Wraps a value.
  ///
  /// - Parameter value: the value.
  package init(_ value: Value) { self.value = value }
}
