// swift-tools-version:6.1
import PackageDescription

let package = Package(
  name: "tripindex",
  platforms: [.macOS(.v13)],
  products: [
    .executable(name: "tripindex", targets: ["TripIndexCLI"]),
    .executable(name: "tripindex-fuzz", targets: ["TripIndexFuzz"]),
    .library(name: "TripIndex", targets: ["TripIndex"]),
    .library(name: "VectorStore", targets: ["VectorStore"]),
    .library(name: "Evaluation", targets: ["Evaluation"]),
    .library(name: "RankedLists", targets: ["RankedLists"]),
    .library(name: "Embedding", targets: ["Embedding"]),
    .library(name: "LSHIndex", targets: ["LSHIndex"]),
    .library(name: "VectorIO", targets: ["VectorIO"]),
    .library(name: "VectorMath", targets: ["VectorMath"]),
    .library(name: "LMDB", targets: ["LMDB"]),
    .library(name: "StorageBackend", targets: ["StorageBackend"]),
    .library(name: "RedisCluster", targets: ["RedisCluster"]),
    .library(name: "RedisStore", targets: ["RedisStore"]),
    .library(name: "HDF5", targets: ["HDF5"]),
    .library(name: "Plumbing", targets: ["Plumbing"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    .package(url: "https://github.com/apple/swift-numerics.git", from: "1.1.1"),
    .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
    // The HTTP server (`serve`, the TripIndexServer module only): the core depends on none of these.
    // Without its default traits Hummingbird needs neither full Foundation nor ICU (about 40 MB
    // of address space that the address-space-limit tests would notice).
    .package(
      url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
    .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
    .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
    .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    // Documentation only (`make docs`): the DocC plugin adds no code to the products.
    .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
  ],
  targets: [
    .systemLibrary(
      name: "CLMDB", pkgConfig: "lmdb", providers: [.apt(["liblmdb-dev"])]),
    .systemLibrary(
      name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
    .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
    .systemLibrary(
      name: "CHiredis", pkgConfig: "hiredis", providers: [.apt(["libhiredis-dev"])]),
    .target(name: "StorageBackend"),
    .target(name: "LMDB", dependencies: ["CLMDB", "StorageBackend"]),
    .target(name: "StorageEngines", dependencies: ["LMDB", "StorageBackend"]),
    .target(name: "RedisCluster", dependencies: ["CHiredis", "Plumbing"]),
    .target(
      name: "RedisStore",
      dependencies: [
        "CKernels", "Plumbing", "RedisCluster", "StorageBackend", "VectorMath", "VectorStore",
      ]),
    // libhdf5 is loaded with dlopen on first use, not linked (see Sources/CHDF5/hdf5_loader.c).
    .target(name: "CHDF5", linkerSettings: [.linkedLibrary("dl", .when(platforms: [.linux]))]),
    .target(name: "HDF5", dependencies: ["CHDF5"]),
    .target(name: "Plumbing"),
    .target(name: "VectorIO", dependencies: ["HDF5", "Plumbing", "VectorMath"]),
    .target(
      name: "VectorMath",
      dependencies: [
        "COpenBLAS", "Plumbing", .product(name: "RealModule", package: "swift-numerics"),
      ]),
    .target(
      name: "VectorStore",
      dependencies: ["CKernels", "StorageBackend", "StorageEngines", "VectorMath"]),
    .target(name: "Evaluation", dependencies: ["Plumbing", "VectorMath"]),
    .target(name: "RankedLists", dependencies: ["CZlib", "Evaluation", "Plumbing", "VectorMath"]),
    .target(name: "CKernels"),
    .target(
      name: "LSHIndex",
      dependencies: ["CKernels", "Plumbing", "StorageBackend", "VectorMath", "VectorStore"]),
    .target(
      name: "Embedding",
      dependencies: [
        "CKernels", "Plumbing", "VectorMath",
        .product(name: "RealModule", package: "swift-numerics"),
      ]),
    .target(
      name: "TripIndex",
      dependencies: [
        "HDF5", "Plumbing", "VectorIO", "VectorMath", "VectorStore", "Evaluation",
        "Embedding", "LSHIndex", "RankedLists", "RedisCluster", "RedisStore",
      ]),
    .target(
      name: "TripIndexTools",
      dependencies: [
        "Evaluation", "LSHIndex", "Plumbing", "TripIndex", "VectorIO", "VectorMath", "VectorStore",
      ]),
    .target(
      name: "TripIndexServer",
      dependencies: [
        "Plumbing", "TripIndex", "VectorMath", "VectorStore",
        .product(name: "Hummingbird", package: "hummingbird"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "Metrics", package: "swift-metrics"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "Prometheus", package: "swift-prometheus"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ]),
    .executableTarget(
      name: "TripIndexCLI",
      dependencies: [
        "Embedding", "Evaluation", "LSHIndex", "Plumbing", "RankedLists", "StorageBackend", "TripIndex",
        "TripIndexServer", "TripIndexTools", "VectorIO", "VectorMath", "VectorStore",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
      ]),
    .executableTarget(
      name: "TripIndexFuzz",
      dependencies: [
        "Embedding", "LMDB", "LSHIndex", "Plumbing", "RedisCluster", "RedisStore", "TripIndex",
        "VectorIO", "VectorMath", "VectorStore",
      ]),
    .target(
      name: "TestSupport",
      dependencies: ["CZlib", "Plumbing", "VectorIO", "VectorMath", "VectorStore"],
      path: "Tests/TestSupport"),
    .testTarget(
      name: "LMDBTests", dependencies: ["LMDB", "StorageBackend", "TestSupport", "VectorMath"]),
    .testTarget(
      name: "PlumbingTests",
      dependencies: [
        "Plumbing", "TestSupport", .product(name: "PropertyBased", package: "swift-property-based"),
      ]),
    .testTarget(
      name: "VectorIOTests",
      dependencies: [
        "VectorIO", "VectorMath", "HDF5", "TestSupport",
        .product(name: "PropertyBased", package: "swift-property-based"),
      ], exclude: ["Fixtures"]),
    .testTarget(
      name: "VectorMathTests",
      dependencies: [
        "VectorMath", "TestSupport", .product(name: "PropertyBased", package: "swift-property-based"),
      ]),
    .testTarget(
      name: "VectorStoreTests",
      dependencies: ["CKernels", "StorageBackend", "StorageEngines", "TestSupport", "VectorStore"]),
    .testTarget(
      name: "EvaluationTests", dependencies: ["Evaluation", "TestSupport"], exclude: ["Fixtures"]),
    .testTarget(name: "EmbeddingTests", dependencies: ["Embedding", "Plumbing", "TestSupport"]),
    .testTarget(
      name: "LSHIndexTests",
      dependencies: ["CKernels", "LSHIndex", "StorageBackend", "TestSupport", "VectorStore"]),
    .testTarget(
      name: "TripIndexServerTests",
      dependencies: [
        "TestSupport", "TripIndex", "TripIndexServer", "VectorMath", "VectorStore",
        .product(name: "Hummingbird", package: "hummingbird"),
        .product(name: "HummingbirdTesting", package: "hummingbird"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "NIOCore", package: "swift-nio"),
      ]),
    .testTarget(name: "RedisClusterTests", dependencies: ["RedisCluster", "TestSupport"]),
    .testTarget(
      name: "RedisStoreTests",
      dependencies: [
        "LSHIndex", "RedisCluster", "RedisStore", "TestSupport", "VectorMath", "VectorStore",
      ]),
    .testTarget(
      name: "RankedListsTests",
      dependencies: ["Evaluation", "Plumbing", "RankedLists", "TestSupport", "VectorMath"]),
    .testTarget(
      name: "TripIndexTests",
      dependencies: [
        "Embedding", "Evaluation", "LMDB", "LSHIndex", "Plumbing", "RankedLists", "RedisCluster",
        "RedisStore", "StorageBackend", "TestSupport", "TripIndex", "TripIndexCLI", "TripIndexTools", "VectorIO", "VectorMath", "VectorStore",
      ]),
  ]
)
