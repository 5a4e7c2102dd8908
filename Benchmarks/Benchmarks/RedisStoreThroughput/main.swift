// Write throughput, read time and memory of a store on a Redis Cluster beside the LMDB store of
// the same items (issue 26's floors: >= 20k vectors/s acknowledged, masters' used_memory <= 2x
// the LMDB store's bytes). Run through Benchmarks/scripts/redis_store_throughput.sh, which
// starts a local cluster:
//
//   RedisStoreThroughput SEEDS COUNT DIMENSION BATCH REPLICAS LMDB_DIR
import Foundation
import RedisCluster
import RedisStore
import VectorMath
import VectorStore

let arguments = CommandLine.arguments
guard arguments.count == 7, let count = Int(arguments[2]), let dimension = Int(arguments[3]),
  let batch = Int(arguments[4]), let replicas = Int(arguments[5])
else {
  print("usage: RedisStoreThroughput SEEDS COUNT DIMENSION BATCH REPLICAS LMDB_DIR")
  exit(2)
}
let seeds = arguments[1]
let lmdbPath = arguments[6]

/// The same deterministic batches for both stores.
func batches(_ body: ([String], Matrix) throws -> Void) rethrows {
  var random = SeededRandom(seed: 7)
  var done = 0
  while done < count {
    let rows = min(batch, count - done)
    let names = (0..<rows).map { "v\(done + $0)" }
    let values = (0..<(rows * dimension)).map { _ in Float(random.normal()) }
    try body(names, Matrix(rows: rows, columns: dimension, values: values))
    done += rows
  }
}

let client = try RedisClusterClient(
  seeds: seeds.split(separator: ",").compactMap { RedisEndpoint($0) }, timeout: 10)
let address = try RedisStoreAddress("redis://\(seeds)/throughput")
try RedisStore.openOrCreate(address, dimension: dimension, metric: .l2, client: client)
  .removeEverything()
let store = try RedisStore.openOrCreate(address, dimension: dimension, metric: .l2, client: client)
var started = Date()
try batches { names, vectors in
  _ = try store.upsert(
    names: names, labels: Array(repeating: .none, count: names.count), vectors: vectors,
    replicas: replicas)
}
let writeSeconds = Date().timeIntervalSince(started)
started = Date()
let snapshot = try store.snapshot()
let readSeconds = Date().timeIntervalSince(started)
var usedMemory = 0
for node in client.masters {
  let info = try RedisClusterClient.direct(node, RedisCommand("INFO", "memory", keyIndex: nil))
  let line = (info.text ?? "").split(whereSeparator: \.isNewline).first {
    $0.hasPrefix("used_memory:")
  }
  usedMemory += line.flatMap { Int($0.dropFirst("used_memory:".count)) } ?? 0
}

try? FileManager.default.removeItem(atPath: lmdbPath)
let lmdb = try VectorStore.openOrCreate(path: lmdbPath, dimension: dimension, metric: .l2)
started = Date()
try batches { names, vectors in
  _ = try vectors.values.withUnsafeBufferPointer { values in
    try lmdb.write {
      try $0.upsert(
        names: names, labels: Array(repeating: .none, count: names.count), vectors: values)
    }
  }
}
let lmdbSeconds = Date().timeIntervalSince(started)
let lmdbBytes = try lmdb.databaseStatistics().reduce(0) { $0 + $1.statistics.bytes }

func mebibytes(_ bytes: Int) -> String { String(format: "%.1f MiB", Double(bytes) / 1_048_576) }
print("\(count) x \(dimension), batches of \(batch), WAIT for \(replicas) replica(s)")
print(
  "redis: \(String(format: "%.2f", writeSeconds)) s, \(Int(Double(count) / writeSeconds)) vectors/s acknowledged; snapshot of \(snapshot.count) in \(String(format: "%.2f", readSeconds)) s; masters' used_memory \(mebibytes(usedMemory))"
)
print(
  "lmdb:  \(String(format: "%.2f", lmdbSeconds)) s, \(Int(Double(count) / lmdbSeconds)) vectors/s; databases \(mebibytes(lmdbBytes))"
)
print(
  "memory ratio redis / lmdb: \(String(format: "%.2f", Double(usedMemory) / Double(lmdbBytes)))x")
