import CHDF5
import Synchronization

/// The HDF5 library: loaded on first use (it is not linked, so commands that read no
/// HDF5 start without it), and called through one lock, since the library as Debian ships it is
/// built without thread safety.
enum HDF5Library {
  private enum State {
    case notLoaded
    case loaded
    case failed(String)
  }

  private static let state = Mutex(State.notLoaded)

  /// Runs `body` with the library loaded and to itself.
  ///
  /// - Throws: ``HDF5Error`` `.libraryMissing` when the library cannot be loaded, or what `body`
  ///   throws.
  static func withLock<T>(_ body: () throws(HDF5Error) -> T) throws(HDF5Error) -> T {
    let result: Result<T, HDF5Error> = state.withLock { state in
      if case .notLoaded = state {
        var message = [CChar](repeating: 0, count: 1024)
        if tripindex_h5_load(&message, message.count) == 0 {
          state = .loaded
        } else {
          let bytes = message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
          state = .failed(String(decoding: bytes, as: UTF8.self))
        }
      }
      if case .failed(let reason) = state {
        return .failure(HDF5Error(.libraryMissing, reason))
      }
      do throws(HDF5Error) {
        return .success(try body())
      } catch {
        return .failure(error)
      }
    }
    return try result.get()
  }

  /// Runs `body` under the lock, for calls on handles: a handle exists only once the library
  /// has loaded.
  static func withLoadedLock<T>(_ body: () -> T) -> T {
    state.withLock { _ in body() }
  }
}
