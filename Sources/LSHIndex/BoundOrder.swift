/// Visiting candidates in increasing order of their distance lower bound, as far as needed.
enum BoundOrder {
  /// Visits `storage` smallest bound first (after `prefetch` for the 32 at the top of the heap) (ties by id) until `visit` returns `false`: a
  /// min-heap is built in place in O(n) and popped only as far as needed.
  ///
  /// - Complexity: O(n + m log n) for m visits.
  static func visitAscending(
    _ storage: UnsafeMutableBufferPointer<(bound: Float, id: UInt64)>,
    prefetch: (UInt64) -> Void, _ visit: ((bound: Float, id: UInt64)) -> Bool
  ) {
    @inline(__always) func less(_ a: (bound: Float, id: UInt64), _ b: (bound: Float, id: UInt64))
      -> Bool
    {
      a.bound < b.bound || (a.bound == b.bound && a.id < b.id)
    }
    var count = storage.count
    @inline(__always) func siftDown(_ start: Int) {
      var parent = start
      while true {
        let left = 2 * parent + 1
        guard left < count else { return }
        var smallest = left
        if left + 1 < count && less(storage[left + 1], storage[left]) { smallest = left + 1 }
        guard less(storage[smallest], storage[parent]) else { return }
        storage.swapAt(parent, smallest)
        parent = smallest
      }
    }
    guard count > 0 else { return }
    for start in stride(from: count / 2 - 1, through: 0, by: -1) { siftDown(start) }
    // The top of a min-heap holds the smallest bounds: start loading what they point to.
    for position in 0..<min(count, 32) { prefetch(storage[position].id) }
    while count > 0 {
      guard visit(storage[0]) else { return }
      count -= 1
      storage[0] = storage[count]
      siftDown(0)
      // The root's children are the next candidates but one: load theirs ahead of the visit.
      if count > 2 {
        prefetch(storage[1].id)
        prefetch(storage[2].id)
      }
    }
  }
}
