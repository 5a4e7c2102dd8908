import TestSupport
import Testing
import VectorIO
import VectorMath
import VectorStore

/// The error `body` throws, or `nil` (recording an issue) when it succeeds.
func storeError(_ body: () throws -> Void) -> VectorStoreError? {
  do {
    try body()
    Issue.record("expected a VectorStoreError")
    return nil
  } catch {
    #expect(error is VectorStoreError, "\(error)")
    return error as? VectorStoreError
  }
}

@Suite struct VectorStoreTests {
  /// A new store, `s.lmdb` in `directory`.
  private func newStore(
    in directory: TemporaryDirectory, dimension: Int, metric: DistanceMetric?
  ) throws -> VectorStore {
    try VectorStore.openOrCreate(
      path: directory.file("s.lmdb"), dimension: dimension, metric: metric)
  }

  private func upsert(
    _ store: VectorStore, _ names: [String], _ matrix: Matrix, labels: [ItemLabels]? = nil
  ) throws -> UpsertSummary {
    try matrix.values.withUnsafeBufferPointer { values in
      try store.write { writer in
        try writer.upsert(names: names, labels: labels ?? names.map { _ in .none }, vectors: values)
      }
    }
  }

  @Test(
    "reads that see one committed snapshot share its block layout; every write, deletion and map growth is seen by the next read"
  )
  func snapshotLayoutFollowsWrites() throws {
    let directory = TemporaryDirectory()
    let store = try newStore(in: directory, dimension: 8, metric: .l2)
    let first = Fixtures.randomMatrix(rows: store.blockRows + 3, columns: 8, seed: 2)
    _ = try upsert(store, (0..<first.rows).map { "a\($0)" }, first)
    let before = try store.read { snapshot in (snapshot.count, snapshot.blocks.map(\.values)) }
    let again = try store.read { snapshot in (snapshot.count, snapshot.blocks.map(\.values)) }
    #expect(before.0 == again.0 && before.1 == again.1)
    // A write into the last block and a new one: the next read sees both, with the new values.
    let second = Fixtures.randomMatrix(rows: store.blockRows, columns: 8, seed: 3)
    _ = try upsert(store, (0..<second.rows).map { "b\($0)" }, second)
    try store.read { snapshot in
      #expect(snapshot.count == first.rows + second.rows)
      #expect(snapshot.blocks.count == 3)
      let id = try #require(try snapshot.id(named: "b0"))
      #expect(Array(try #require(snapshot.vector(id: id))) == second.row(0))
    }
    // A deletion changes the bitmap the layout points to.
    try store.write { writer in _ = try writer.delete(name: "a1") }
    try store.read { snapshot in
      #expect(snapshot.count == first.rows + second.rows - 1)
      #expect(snapshot.vector(id: 1) == nil)
    }
    // Enough data to grow the map several times over: the layout is found again each time.
    let big = Fixtures.randomMatrix(rows: 40 * store.blockRows, columns: 8, seed: 4)
    for round in 0..<4 {
      _ = try upsert(store, (0..<big.rows).map { "c\(round)-\($0)" }, big)
      try store.read { snapshot in
        let id = try #require(try snapshot.id(named: "c\(round)-7"))
        #expect(Array(try #require(snapshot.vector(id: id))) == big.row(7))
        #expect(snapshot.count == first.rows + second.rows - 1 + (round + 1) * big.rows)
      }
    }
  }

  @Test(
    "inserted vectors and labels read back exactly, across many blocks", arguments: [3, 64, 700])
  func insertAndRead(dimension: Int) throws {
    let directory = TemporaryDirectory()
    let store = try newStore(in: directory, dimension: dimension, metric: .l2)
    let rows = 3 * store.blockRows + 5
    let matrix = Fixtures.randomMatrix(rows: rows, columns: dimension, seed: 1)
    let names = (0..<rows).map { "item-\($0)" }
    let labels = (0..<rows).map { ItemLabels(pid: Int32($0 % 7), camera: $0 % 3 == 0 ? nil : 2) }
    // Two transactions, the second continuing a partly filled block.
    let first = try upsert(
      store, Array(names[..<100]),
      Matrix(rows: 100, columns: dimension, values: Array(matrix.values[..<(100 * dimension)])),
      labels: Array(labels[..<100]))
    let second = try upsert(
      store, Array(names[100...]),
      Matrix(
        rows: rows - 100, columns: dimension, values: Array(matrix.values[(100 * dimension)...])),
      labels: Array(labels[100...]))
    #expect(first.added == 100 && second.added == rows - 100)
    #expect(first.ids + second.ids == (0..<UInt64(rows)).map { $0 })
    let reopened = try VectorStore.open(path: directory.file("s.lmdb"))
    #expect(reopened === store || reopened.dimension == dimension)
    try store.read { snapshot throws in
      #expect(snapshot.count == rows)
      #expect(snapshot.blocks.count == 4)
      for row in 0..<rows {
        let vector = try #require(snapshot.vector(id: UInt64(row)))
        #expect(Int(bitPattern: vector.baseAddress!) % 4 == 0)
        #expect(Array(vector) == matrix.row(row))
        let item = try #require(try snapshot.item(id: UInt64(row)))
        #expect(item.name == names[row] && item.labels == labels[row])
        #expect(try snapshot.id(named: names[row]) == UInt64(row))
      }
      #expect(snapshot.vector(id: UInt64(rows)) == nil)
      var visited = 0
      try snapshot.forEachItem { item, vector in
        #expect(item.id == UInt64(visited))
        #expect(Array(vector) == matrix.row(visited))
        visited += 1
      }
      #expect(visited == rows)
    }
  }

  @Test("upsert updates in place, counts unchanged items and keeps ids")
  func upsertSemantics() throws {
    let directory = TemporaryDirectory()
    let store = try newStore(in: directory, dimension: 2, metric: nil)
    _ = try upsert(store, ["a", "b", "c"], Matrix(rowArrays: [[1, 1], [2, 2], [3, 3]]))
    let again = try upsert(
      store, ["a", "b", "c", "d"], Matrix(rowArrays: [[1, 1], [9, 9], [3, 3], [4, 4]]),
      labels: [.none, .none, ItemLabels(pid: 5, camera: 1), .none])
    #expect(again.added == 1 && again.updated == 2 && again.unchanged == 1)
    #expect(again.ids == [0, 1, 2, 3])
    try store.read { snapshot throws in
      #expect(snapshot.count == 4)
      #expect(Array(snapshot.vector(id: 1)!) == [9, 9])
      #expect(try snapshot.item(id: 2)?.labels == ItemLabels(pid: 5, camera: 1))
    }
  }

  @Test("deleted items disappear, their ids never come back, names can return")
  func deletion() throws {
    let directory = TemporaryDirectory()
    let store = try newStore(in: directory, dimension: 2, metric: .l2)
    _ = try upsert(store, ["a", "b", "c"], Matrix(rowArrays: [[1, 1], [2, 2], [3, 3]]))
    let removed = try store.write { writer in
      (
        try writer.delete(name: "b")?.id, try writer.delete(id: 0)?.name,
        try writer.delete(name: "zzz")?.name
      )
    }
    #expect(removed.0 == 1 && removed.1 == "a" && removed.2 == nil)
    let back = try upsert(store, ["b"], Matrix(rowArrays: [[7, 7]]))
    #expect(back.ids == [3])
    try store.read { snapshot throws in
      #expect(snapshot.count == 2)
      #expect(snapshot.vector(id: 0) == nil && snapshot.vector(id: 1) == nil)
      #expect(try snapshot.item(id: 1) == nil)
      #expect(try snapshot.id(named: "b") == 3)
      #expect(
        snapshot.blocks[0].isDeleted(0) && snapshot.blocks[0].isDeleted(1)
          && !snapshot.blocks[0].isDeleted(2))
      var names: [String] = []
      try snapshot.forEachItem { item, _ in names.append(item.name) }
      #expect(names == ["c", "b"])
      let found = snapshot.exactSearch.search(Matrix(rowArrays: [[1, 1]]), k: 5)
      #expect(found[0].map(\.id) == [2, 3])
    }
  }

  @Test(
    "many items at once: in the order asked, repeats and unknown, deleted or out-of-range ids as one lookup each gives them"
  )
  func itemsAtOnce() throws {
    let directory = TemporaryDirectory()
    let store = try newStore(in: directory, dimension: 4, metric: .l2)
    let count = 3 * store.blockRows + 17
    let labels = (0..<count).map { ItemLabels(pid: Int32($0 % 7), camera: Int32($0 % 3)) }
    _ = try upsert(
      store, (0..<count).map { "item-\($0)" },
      Fixtures.randomMatrix(rows: count, columns: 4, seed: 9),
      labels: labels)
    // Deletions at the start, in runs and at the end of the id range.
    let deleted: [UInt64] = [0, 1, 40, 41, 42, 43, 500, UInt64(count - 1)]
    try store.write { writer in
      for id in deleted { _ = try writer.delete(id: id) }
    }
    var random = SeededRandom(seed: 5)
    var ids = (0..<3000).map { _ in UInt64(random.next() % UInt64(count + 40)) }
    ids += deleted + [UInt64(count), UInt64(count + 1000), .max, 7, 7, 0, 2, 2]
    random.shuffle(&ids)
    try store.read { snapshot in
      let many = try snapshot.items(ids: ids)
      let one = try ids.map { try snapshot.item(id: $0) }
      #expect(many == one)
      #expect(many.contains(nil) && many.contains { $0 != nil })
      #expect(try snapshot.items(ids: []).isEmpty)
      #expect(
        try snapshot.items(ids: [UInt64(count - 2)]).map { $0?.name } == ["item-\(count - 2)"])
    }
  }

  @Test("dimension and metric are fixed at creation; mismatches name both")
  func fixedLayout() throws {
    let directory = TemporaryDirectory()
    let path = directory.file("s.lmdb")
    _ = try VectorStore.openOrCreate(path: path, dimension: 128, metric: .cosine)
    let dimension = try #require(
      storeError { _ = try VectorStore.openOrCreate(path: path, dimension: 64, metric: nil) })
    #expect(dimension.kind == .dimensionMismatch)
    #expect(dimension.description.contains("128") && dimension.description.contains("64"))
    let metric = try #require(
      storeError { _ = try VectorStore.openOrCreate(path: path, dimension: 128, metric: .l2) })
    #expect(metric.kind == .metricMismatch)
    let store = try VectorStore.open(path: path)
    #expect(store.metric == .cosine && store.dimension == 128)
    let missing = try #require(
      storeError { _ = try VectorStore.open(path: directory.file("nothing.lmdb")) })
    #expect(missing.kind == .missing)
    #expect(missing.description.contains("no store here") && missing.path.hasSuffix("nothing.lmdb"))
  }

  @Test("the cosine metric stores unit vectors and rejects zero vectors")
  func cosine() throws {
    let directory = TemporaryDirectory()
    let store = try newStore(in: directory, dimension: 2, metric: .cosine)
    _ = try upsert(store, ["a"], Matrix(rowArrays: [[3, 4]]))
    try store.read { snapshot in #expect(Array(snapshot.vector(id: 0)!) == [0.6, 0.8]) }
    #expect {
      try upsert(store, ["b", "zero"], Matrix(rowArrays: [[1, 0], [0, 0]]))
    } throws: { error in
      (error as? VectorStoreError)?.kind == .invalidItem && "\(error)".contains("'zero'")
    }
    #expect(try store.count() == 1)
  }

  @Test("a failing batch writes nothing")
  func atomicBatches() throws {
    struct Stop: Error {}
    let directory = TemporaryDirectory()
    let store = try newStore(in: directory, dimension: 2, metric: .l2)
    _ = try upsert(store, ["a"], Matrix(rowArrays: [[1, 1]]))
    #expect(throws: Stop.self) {
      try store.write { writer in
        _ = try [Float](arrayLiteral: 2, 2, 3, 3).withUnsafeBufferPointer { values in
          try writer.upsert(names: ["b", "c"], labels: [.none, .none], vectors: values)
        }
        _ = try writer.delete(name: "a")
        throw Stop()
      }
    }
    for names in [["x", "x"], [""], [String(repeating: "n", count: 600)]] {
      #expect(throws: VectorStoreError.self) {
        try upsert(store, names, Matrix(rows: names.count, columns: 2, repeating: 1))
      }
    }
    #expect(throws: VectorStoreError.self) {
      try upsert(store, ["nan"], Matrix(rowArrays: [[.nan, 1]]))
    }
    try store.read { snapshot throws in
      #expect(snapshot.count == 1)
      #expect(snapshot.nextID == 1)
      #expect(try snapshot.id(named: "a") == 0)
    }
  }

  @Test("metadata can be set and removed, but not the layout keys")
  func metadata() throws {
    let directory = TemporaryDirectory()
    let store = try newStore(in: directory, dimension: 2, metric: .l2)
    try store.setMetadata("model", "abc123")
    #expect(try store.metadata("model") == "abc123")
    try store.setMetadata("model", nil)
    #expect(try store.metadata("model") == nil)
    #expect(try store.metadata("dimension") == "2")
    #expect(throws: VectorStoreError.self) { try store.setMetadata("dimension", "3") }
  }
}
