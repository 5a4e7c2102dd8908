/// One search result: an item id and its distance to the probe.
public struct Neighbor: Hashable, Sendable, Comparable {
  /// The item's id.
  public var id: UInt64
  /// Its distance to the probe (smaller is closer).
  public var distance: Float

  /// Creates a result.
  ///
  /// - Parameters:
  ///   - id: the item.
  ///   - distance: its distance.
  public init(id: UInt64, distance: Float) {
    self.id = id
    self.distance = distance
  }

  /// Orders by distance, then by id, so that ties resolve the same way every time.
  public static func < (lhs: Neighbor, rhs: Neighbor) -> Bool {
    lhs.distance < rhs.distance || (lhs.distance == rhs.distance && lhs.id < rhs.id)
  }
}

/// Keeps the `k` smallest neighbours seen so far (ties by smaller id) in a bounded max-heap.
public struct TopK: Sendable {
  /// How many neighbours to keep.
  public let k: Int
  private var heap: [Neighbor] = []

  /// Creates an empty selection.
  ///
  /// - Parameter k: how many neighbours to keep (at least 1).
  public init(k: Int) {
    precondition(k > 0, "k must be positive")
    self.k = k
    heap.reserveCapacity(k)
  }

  /// The number of neighbours held.
  public var count: Int { heap.count }

  /// A distance that a candidate must beat (or tie with a smaller id) to enter: the current
  /// k-th distance, or +∞ while fewer than `k` are held.
  @inlinable
  public var threshold: Float { count < k ? .infinity : worst.distance }

  @usableFromInline
  var worst: Neighbor { heap[0] }

  /// Offers a candidate.
  ///
  /// - Parameters:
  ///   - id: the candidate's id.
  ///   - distance: its distance.
  /// - Complexity: O(log k).
  @inline(__always)
  public mutating func insert(id: UInt64, distance: Float) {
    let candidate = Neighbor(id: id, distance: distance)
    if heap.count < k {
      heap.append(candidate)
      siftUp(heap.count - 1)
    } else if candidate < heap[0] {
      heap[0] = candidate
      siftDown(0)
    }
  }

  /// Adds every neighbour of another selection.
  ///
  /// - Parameter other: another selection.
  public mutating func merge(_ other: TopK) {
    for neighbor in other.heap { insert(id: neighbor.id, distance: neighbor.distance) }
  }

  /// The neighbours held, closest first (ties by smaller id).
  ///
  /// - Complexity: O(k log k).
  public func sorted() -> [Neighbor] { heap.sorted() }

  private mutating func siftUp(_ start: Int) {
    var child = start
    while child > 0 {
      let parent = (child - 1) / 2
      guard heap[parent] < heap[child] else { return }
      heap.swapAt(parent, child)
      child = parent
    }
  }

  private mutating func siftDown(_ start: Int) {
    var parent = start
    let count = heap.count
    while true {
      let left = 2 * parent + 1
      guard left < count else { return }
      var largest = left
      if left + 1 < count && heap[left] < heap[left + 1] { largest = left + 1 }
      guard heap[parent] < heap[largest] else { return }
      heap.swapAt(parent, largest)
      parent = largest
    }
  }
}
