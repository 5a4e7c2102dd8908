import CHDF5
import Synchronization

/// The HDF5 library as Debian ships it is built without thread safety: every call goes through
/// one lock, and the library's own error printing is switched off once.
enum HDF5Library {
  private static let lock: Mutex<Bool> = Mutex(false)

  /// Runs `body` with the library to itself.
  static func withLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
    let result: Result<T, E> = lock.withLock { silenced in
      if !silenced {
        tripindex_h5_silence()
        silenced = true
      }
      do throws(E) {
        return .success(try body())
      } catch {
        return .failure(error)
      }
    }
    return try result.get()
  }
}
