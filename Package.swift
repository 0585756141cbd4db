// swift-tools-version: 6.0
import PackageDescription

/// `make test` builds with every warning an error (SWITCHBOARD_WARNINGS_AS_ERRORS=1). Only there:
/// a package that depends on this one (Benchmarks/) may not use unsafe flags.
let strict: [SwiftSetting] = Context.environment["SWITCHBOARD_WARNINGS_AS_ERRORS"] == "1" ? [.unsafeFlags(["-warnings-as-errors"])] : []

let package = Package(
    name: "switchboard",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "switchboard", targets: ["switchboard"]),
        // The bench stands beside the daemon, as pgbench beside postgres.
        .executable(name: "switchboard-bench", targets: ["switchboard-bench"]),
        .library(name: "SwitchboardClient", targets: ["SwitchboardClient"]),
        // For the micro-benchmarks in Benchmarks/ (a package of its own, so that make test never builds them).
        .library(name: "SwitchboardProtocol", targets: ["SwitchboardProtocol"]),
        .library(name: "SwitchboardCore", targets: ["SwitchboardCore"]),
        .library(name: "SwitchboardStore", targets: ["SwitchboardStore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.1.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CZeroMQ",
            providers: [.apt(["libzmq3-dev"])]
        ),
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        .target(name: "ZeroMQ", dependencies: ["CZeroMQ"], swiftSettings: strict),
        .target(name: "Postgres", dependencies: ["CLibPQ"], swiftSettings: strict),
        .target(name: "SwitchboardProtocol", swiftSettings: strict),
        .target(
            name: "SwitchboardCore",
            dependencies: [
                "SwitchboardProtocol",
                .product(name: "HeapModule", package: "swift-collections"),
            ], swiftSettings: strict),
        .target(
            name: "SwitchboardStore",
            dependencies: ["Postgres", "SwitchboardCore", "SwitchboardProtocol"],
            resources: [.embedInCode("Migrations")], swiftSettings: strict),
        // The configuration file's parser, apart from the hub so that the fuzz target needs no daemon.
        .target(
            name: "SwitchboardConfig",
            dependencies: ["SwitchboardCore", "SwitchboardProtocol", .product(name: "Yams", package: "Yams")], swiftSettings: strict),
        .target(
            name: "SwitchboardHub",
            dependencies: [
                "ZeroMQ", "Postgres", "SwitchboardConfig", "SwitchboardCore", "SwitchboardProtocol", "SwitchboardStore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ], swiftSettings: strict),
        .target(
            name: "SwitchboardClient",
            dependencies: ["ZeroMQ", "SwitchboardProtocol"], swiftSettings: strict),
        // Sample contacts for the demo and the bench.
        .target(name: "SwitchboardSampleTraffic", dependencies: ["SwitchboardProtocol"], swiftSettings: strict),
        .executableTarget(
            name: "switchboard",
            dependencies: [
                "SwitchboardHub", "SwitchboardConfig", "SwitchboardClient", "SwitchboardCore", "SwitchboardStore", "SwitchboardSampleTraffic",
                "SwitchboardProtocol",
                "Postgres", "ZeroMQ",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ], swiftSettings: strict),
        .executableTarget(
            name: "switchboard-bench",
            dependencies: [
                "SwitchboardHub", "SwitchboardClient", "SwitchboardCore", "SwitchboardStore", "SwitchboardSampleTraffic", "SwitchboardProtocol",
                "Postgres", "ZeroMQ",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ], swiftSettings: strict),
        // libFuzzer target (make fuzz); built normally, it replays a corpus.
        .executableTarget(name: "switchboard-fuzz", dependencies: ["SwitchboardProtocol", "SwitchboardConfig"], swiftSettings: strict),
        .testTarget(name: "SwitchboardProtocolTests", dependencies: ["SwitchboardProtocol"], swiftSettings: strict),
        .testTarget(name: "SwitchboardCoreTests", dependencies: ["SwitchboardCore", "SwitchboardProtocol"], swiftSettings: strict),
        // The hub loop's state machines, without sockets or a database.
        .testTarget(
            name: "SwitchboardHubTests",
            dependencies: ["SwitchboardHub", "SwitchboardCore", "SwitchboardStore", "SwitchboardProtocol", "SwitchboardConfig"],
            swiftSettings: strict),
        // The bench's own arithmetic (the executable's module, imported @testable).
        .testTarget(name: "SwitchboardBenchTests", dependencies: ["switchboard-bench", "SwitchboardProtocol"], swiftSettings: strict),
        .testTarget(
            name: "SwitchboardIntegrationTests",
            dependencies: [
                "SwitchboardHub", "SwitchboardConfig", "SwitchboardClient", "SwitchboardCore", "SwitchboardStore", "SwitchboardProtocol",
                "Postgres", "ZeroMQ", .product(name: "Logging", package: "swift-log"),
            ], swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)
