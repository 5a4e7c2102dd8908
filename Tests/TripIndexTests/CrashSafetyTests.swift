import Foundation
import TestSupport
import Testing
import TripIndex
import VectorIO
import VectorStore

@Suite struct CrashSafetyTests {
  @Test("a build killed mid-way leaves whole batches whose vectors equal their source rows")
  func killedBuild() throws {
    let directory = TemporaryDirectory()
    let rows = 100_000
    let batch = 500
    let source = Fixtures.randomMatrix(rows: rows, columns: 32, seed: 99)
    try FileManager.default.createDirectory(
      atPath: directory.file("in"), withIntermediateDirectories: true)
    let writer = try VectorFileWriter(path: directory.file("in/big.npy"), dimension: 32)
    try writer.write(source.values)
    try writer.finish()
    let store = directory.file("s.lmdb")

    let process = Process()
    process.executableURL = URL(fileURLWithPath: try TripIndexExecutable.path)
    process.arguments = [
      "build", directory.file("in"), "--store", store, "--batch", String(batch), "--quiet",
    ]
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    // Wait until a few batches are committed, then kill without warning.
    var committed = 0
    let deadline = Date().addingTimeInterval(60)
    while committed < 4 * batch && Date() < deadline && process.isRunning {
      if VectorStore.exists(at: store),
        let count = try? VectorStore.open(path: store, readOnly: true).count()
      {
        committed = count
      }
      usleep(2_000)
    }
    kill(process.processIdentifier, SIGKILL)
    process.waitUntilExit()
    #expect(
      process.terminationReason == .uncaughtSignal, "the build finished before it could be killed")

    let reopened = try VectorStore.open(path: store)
    let count = try reopened.count()
    #expect(count >= 4 * batch && count < rows)
    #expect(count % batch == 0, "\(count) is not a batch boundary")
    try reopened.read { snapshot in
      var checked = 0
      try snapshot.forEachItem { item, vector in
        let row = try #require(Int(item.name.dropFirst("big#".count)))
        #expect(Array(vector) == source.row(row))
        checked += 1
      }
      #expect(checked == count)
    }
    // Building again finishes the job: the committed part is unchanged, the rest is added.
    let resumed = try Build.run(
      Build.Options(input: directory.file("in"), storePath: store, batchRows: 50_000),
      progress: SilentProgress())
    #expect(resumed.unchanged == count && resumed.added == rows - count)
  }
}
