// swift-tools-version:6.1
// The benchmarks live in their own package so the main build stays fast.
// Run them with `swift package benchmark` from this folder (or `make bench` at the top).
import PackageDescription

let package = Package(
  name: "tripindex-benchmarks",
  platforms: [.macOS(.v13)],
  dependencies: [
    .package(name: "tripindex", path: ".."),
    .package(
      url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1",
      traits: ["MallocInterposer"]),
  ],
  targets: [
    // A plain program (not a Benchmark suite): it needs a running cluster, which
    // Benchmarks/scripts/redis_store_throughput.sh starts.
    .executableTarget(
      name: "RedisStoreThroughput",
      dependencies: [
        .product(name: "RedisCluster", package: "tripindex"),
        .product(name: "RedisStore", package: "tripindex"),
        .product(name: "VectorMath", package: "tripindex"),
        .product(name: "VectorStore", package: "tripindex"),
      ],
      path: "Benchmarks/RedisStoreThroughput"),
    .target(
      name: "BenchmarkSupport",
      dependencies: [
        .product(name: "VectorMath", package: "tripindex"),
        .product(name: "TripIndex", package: "tripindex"),
      ],
      path: "Benchmarks/BenchmarkSupport"),
    .executableTarget(
      name: "StoreBenchmarks",
      dependencies: [
        .product(name: "Benchmark", package: "benchmark"),
        .product(name: "VectorMath", package: "tripindex"),
        .product(name: "VectorStore", package: "tripindex"),
        .product(name: "TripIndex", package: "tripindex"), "BenchmarkSupport",
      ],
      path: "Benchmarks/StoreBenchmarks",
      plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]),
    .executableTarget(
      name: "LSHBenchmarks",
      dependencies: [
        .product(name: "Benchmark", package: "benchmark"),
        .product(name: "LSHIndex", package: "tripindex"),
        .product(name: "VectorMath", package: "tripindex"),
        .product(name: "VectorStore", package: "tripindex"),
        .product(name: "TripIndex", package: "tripindex"), "BenchmarkSupport",
      ],
      path: "Benchmarks/LSHBenchmarks",
      plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]),
    .executableTarget(
      name: "TrainingBenchmarks",
      dependencies: [
        .product(name: "Benchmark", package: "benchmark"),
        .product(name: "Embedding", package: "tripindex"),
        .product(name: "VectorMath", package: "tripindex"),
        .product(name: "TripIndex", package: "tripindex"),
      ],
      path: "Benchmarks/TrainingBenchmarks",
      plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]),
    .executableTarget(
      name: "EvaluationBenchmarks",
      dependencies: [
        .product(name: "Benchmark", package: "benchmark"),
        .product(name: "Evaluation", package: "tripindex"),
        .product(name: "VectorMath", package: "tripindex"),
        .product(name: "TripIndex", package: "tripindex"),
      ],
      path: "Benchmarks/EvaluationBenchmarks",
      plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]),
  ]
)
