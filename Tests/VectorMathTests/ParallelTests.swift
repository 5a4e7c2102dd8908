import Synchronization
import Testing
import VectorMath

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

@Suite struct ParallelTests {
  struct Refused: Error {}

  @Test(
    "overlapping work runs the foreground on the calling thread and the background on another, returns the background's result, and rethrows the foreground's error only once the background is done"
  )
  func overlappingRunsBothAndWaits() throws {
    let caller = pthread_self()
    let backgroundThread = Mutex<pthread_t?>(nil)
    var foregroundThread: pthread_t?
    let sum = Parallel.overlapping({
      backgroundThread.withLock { $0 = pthread_self() }
      return (1...1000).reduce(0, +)
    }) {
      foregroundThread = pthread_self()
    }
    #expect(sum == 500_500)
    let foreground = try #require(foregroundThread)
    let background = try #require(backgroundThread.withLock { $0 })
    #expect(pthread_equal(foreground, caller) != 0)
    #expect(pthread_equal(background, caller) == 0)

    let finished = Atomic<Bool>(false)
    #expect(throws: Refused.self) {
      _ = try Parallel.overlapping({
        usleep(50_000)
        finished.store(true, ordering: .sequentiallyConsistent)
        return 1
      }) { () throws(Refused) in throw Refused() }
    }
    let backgroundFinished = finished.load(ordering: .sequentiallyConsistent)
    #expect(backgroundFinished)
  }
}
