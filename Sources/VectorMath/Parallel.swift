import Synchronization

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Splitting work across the machine's cores.
///
/// Workers are plain POSIX threads that the calling thread joins, so scarce resources end
/// cleanly: a thread that cannot be created (no memory or address space for its stack, a
/// thread limit) is simply not there, and the threads that exist — the caller at least — take
/// its chunks. (`DispatchQueue.concurrentPerform` traps when libdispatch cannot create its
/// event descriptor, as under `ulimit -n 6`.)
public enum Parallel {
  /// The number of online processors.
  public static var processorCount: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

  /// Runs `body` once for each of `count` contiguous chunks of `0..<total`, concurrently, and
  /// returns when every chunk is done.
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
      let job = ChunkJob(total: total, chunks: chunks, body: body)
      var threads: [pthread_t] = []
      for _ in 1..<chunks {
        // The threads there are (the caller at least) take the remaining chunks.
        guard let thread = startThread({ job.runChunks() }) else { break }
        threads.append(thread)
      }
      job.runChunks()
      for thread in threads { pthread_join(thread, nil) }
    }
  }

  /// Runs `background` on a thread of its own while `foreground` runs on the calling thread
  /// (work bound to it, such as a write transaction), and returns when both are done; when no
  /// thread can be created, `background` runs first on the calling thread.
  ///
  /// - Parameters:
  ///   - background: work that may run on any thread.
  ///   - foreground: work that must run on the calling thread.
  /// - Returns: what `background` returned.
  /// - Throws: what `foreground` threw, once `background` is done.
  public static func overlapping<Value, Failure: Error>(
    _ background: () -> Value, with foreground: () throws(Failure) -> Void
  ) throws(Failure) -> Value {
    var value: Value?
    var failure: Failure?
    withoutActuallyEscaping({ value = background() }) { work in
      withoutActuallyEscaping({
        do throws(Failure) {
          try foreground()
        } catch {
          failure = error
        }
      }) { foreground in
        let thread = startThread(work)
        if thread == nil { work() }
        foreground()
        if let thread { pthread_join(thread, nil) }
      }
    }
    if let failure { throw failure }
    guard let value else { preconditionFailure("background work ended without a result") }
    return value
  }
}

/// Starts a POSIX thread running `work`; `nil` when none can be created (no memory or address
/// space for its stack, a thread limit).
private func startThread(_ work: @escaping () -> Void) -> pthread_t? {
  var thread = pthread_t()
  let context = Unmanaged.passRetained(ThreadWork(work)).toOpaque()
  let created = pthread_create(
    &thread, nil,
    { context in
      guard let context else { return nil }
      Unmanaged<ThreadWork>.fromOpaque(context).takeRetainedValue().run()
      return nil
    }, context)
  guard created == 0 else {
    Unmanaged<ThreadWork>.fromOpaque(context).release()
    return nil
  }
  return thread
}

/// The work of a thread ``startThread(_:)`` started, handed to it.
private final class ThreadWork: @unchecked Sendable {
  let run: () -> Void

  init(_ run: @escaping () -> Void) { self.run = run }
}

/// The chunks of one ``Parallel/forEachChunk(of:count:_:)`` call, claimed one at a time by
/// whichever thread is free.
private final class ChunkJob: @unchecked Sendable {
  let total: Int
  let chunks: Int
  let body: (Int, Range<Int>) -> Void
  private let next = Atomic<Int>(0)

  init(total: Int, chunks: Int, body: @escaping (Int, Range<Int>) -> Void) {
    self.total = total
    self.chunks = chunks
    self.body = body
  }

  func runChunks() {
    while true {
      let chunk = next.add(1, ordering: .relaxed).oldValue
      guard chunk < chunks else { return }
      body(chunk, (total * chunk / chunks)..<(total * (chunk + 1) / chunks))
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
