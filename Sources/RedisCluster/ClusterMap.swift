/// Which master serves each of the 16384 slots, as a node's `CLUSTER SLOTS` answered.
package struct ClusterMap: Sendable {
  /// The masters, in the order the reply named them.
  let masters: [RedisEndpoint]
  /// Per master (same order): its replicas.
  let replicas: [[RedisEndpoint]]
  /// Per slot: the index in ``masters`` of the node serving it, or -1 when none does.
  let owners: [Int16]

  /// The master serving `slot`, or `nil` when no node serves it.
  package func master(ofSlot slot: Int) -> RedisEndpoint? {
    let owner = Int(owners[slot])
    return owner >= 0 ? masters[owner] : nil
  }

  /// The slots no node serves, as ranges.
  var uncovered: [ClosedRange<Int>] {
    var ranges: [ClosedRange<Int>] = []
    var start: Int?
    for slot in 0...HashSlot.count {
      let free = slot < HashSlot.count && owners[slot] < 0
      if free, start == nil { start = slot }
      if !free, let first = start {
        ranges.append(first...(slot - 1))
        start = nil
      }
    }
    return ranges
  }

  /// Reads a `CLUSTER SLOTS` reply: `[[start, end, [host, port, id…], replica…], …]`. A node
  /// listed without a host (Redis does so when it does not know its own address) is on the host
  /// that answered.
  ///
  /// - Parameters:
  ///   - reply: the reply.
  ///   - answeredBy: the node asked.
  /// - Returns: the map, or `nil` for a reply of another shape.
  package init?(slotsReply reply: RedisReply, answeredBy: RedisEndpoint) {
    guard let ranges = reply.elements else { return nil }
    var masters: [RedisEndpoint] = []
    var replicas: [[RedisEndpoint]] = []
    var owners = [Int16](repeating: -1, count: HashSlot.count)
    func node(_ reply: RedisReply) -> RedisEndpoint? {
      guard let fields = reply.elements, fields.count >= 2, let host = fields[0].text,
        let port = fields[1].integer, (1...65535).contains(port)
      else { return nil }
      return RedisEndpoint(host: host.isEmpty ? answeredBy.host : host, port: Int(port))
    }
    for range in ranges {
      guard let fields = range.elements, fields.count >= 3, let first = fields[0].integer,
        let last = fields[1].integer, 0 <= first, first <= last, last < HashSlot.count,
        let master = node(fields[2])
      else { return nil }
      let index: Int
      if let known = masters.firstIndex(of: master) {
        index = known
      } else {
        index = masters.count
        masters.append(master)
        replicas.append(fields.dropFirst(3).compactMap(node))
      }
      for slot in Int(first)...Int(last) { owners[slot] = Int16(index) }
    }
    self.masters = masters
    self.replicas = replicas
    self.owners = owners
  }
}
