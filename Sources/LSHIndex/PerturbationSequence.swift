/// One elementary change to a query's bucket (flip a bit, move a projection one bucket, pick
/// another axis), with the cost of making it.
struct Perturbation: Sendable {
  /// The cost (squared distance to the boundary crossed, in the family's units); sets cost the
  /// sum of their members'.
  var score: Float
  /// Perturbations of one group exclude each other (one coordinate cannot move both ways; one
  /// rotation block takes one axis).
  var group: Int
  /// What to change, interpreted by the hasher.
  var value: Int
  /// A lower bound on the squared distance from the query to any point the change reaches
  /// (0 when the family gives none).
  var lowerBound: Float
}

/// Generates sets of perturbations in increasing total score, without repetition, with the
/// "shift" and "expand" successors of Lv et al. 2007 over a min-heap; sets with two members of
/// one group are skipped. Sets are bit masks over the (at most 64) score-sorted atoms, so no
/// allocation happens per set.
struct PerturbationSequence {
  private(set) var atoms: [Perturbation] = []
  private var heap: [(score: Float, members: UInt64, last: Int)] = []

  /// Prepares a sequence over `atoms` (sorted here by score; at most 64 are used).
  mutating func reset(atoms newAtoms: [Perturbation]) {
    atoms = newAtoms
    atoms.sort { $0.score < $1.score }
    if atoms.count > 64 { atoms.removeLast(atoms.count - 64) }
    heap.removeAll(keepingCapacity: true)
    if !atoms.isEmpty { push((atoms[0].score, 1, 0)) }
  }

  /// The next valid set as a mask over ``atoms``, with its score, or `nil` when exhausted.
  mutating func next() -> (members: UInt64, score: Float)? {
    while let top = pop() {
      let last = top.last
      if last + 1 < atoms.count {
        // shift: replace the last member by the next atom; expand: add the next atom.
        let next = UInt64(1) << UInt64(last + 1)
        push(
          (
            top.score - atoms[last].score + atoms[last + 1].score,
            (top.members & ~(UInt64(1) << UInt64(last))) | next, last + 1
          ))
        push((top.score + atoms[last + 1].score, top.members | next, last + 1))
      }
      if isValid(top.members) { return (top.members, top.score) }
    }
    return nil
  }

  private func isValid(_ members: UInt64) -> Bool {
    guard members & (members - 1) != 0 else { return true }
    var seen: UInt64 = 0
    var rest = members
    while rest != 0 {
      let index = rest.trailingZeroBitCount
      rest &= rest - 1
      let group = UInt64(1) << UInt64(atoms[index].group & 63)
      if seen & group != 0 { return false }
      seen |= group
    }
    return true
  }

  private mutating func push(_ element: (score: Float, members: UInt64, last: Int)) {
    heap.append(element)
    var child = heap.count - 1
    while child > 0 {
      let parent = (child - 1) / 2
      guard heap[child].score < heap[parent].score else { break }
      heap.swapAt(child, parent)
      child = parent
    }
  }

  private mutating func pop() -> (score: Float, members: UInt64, last: Int)? {
    guard !heap.isEmpty else { return nil }
    let top = heap[0]
    let last = heap.removeLast()
    if !heap.isEmpty {
      heap[0] = last
      var parent = 0
      while true {
        let left = 2 * parent + 1
        guard left < heap.count else { break }
        var smallest = left
        if left + 1 < heap.count && heap[left + 1].score < heap[left].score { smallest = left + 1 }
        guard heap[smallest].score < heap[parent].score else { break }
        heap.swapAt(parent, smallest)
        parent = smallest
      }
    }
    return top
  }
}
