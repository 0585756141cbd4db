// swift-tools-version: 6.0
import PackageDescription

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
        .target(name: "ZeroMQ", dependencies: ["CZeroMQ"]),
        .target(name: "Postgres", dependencies: ["CLibPQ"]),
        .target(name: "SwitchboardProtocol"),
        .target(
            name: "SwitchboardCore",
            dependencies: [
                "SwitchboardProtocol",
                .product(name: "HeapModule", package: "swift-collections"),
            ]
        ),
        .target(
            name: "SwitchboardStore",
            dependencies: [
                "Postgres", "SwitchboardCore", "SwitchboardProtocol",
                .product(name: "Logging", package: "swift-log"),
            ],
            resources: [.embedInCode("Migrations")]
        ),
        .target(
            name: "SwitchboardHub",
            dependencies: [
                "ZeroMQ", "SwitchboardCore", "SwitchboardProtocol", "SwitchboardStore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .target(
            name: "SwitchboardClient",
            dependencies: ["ZeroMQ", "SwitchboardProtocol"]
        ),
        // Sample contacts for the demo and the bench.
        .target(name: "SwitchboardSampleTraffic", dependencies: ["SwitchboardProtocol"]),
        .executableTarget(
            name: "switchboard",
            dependencies: [
                "SwitchboardHub", "SwitchboardClient", "SwitchboardStore", "SwitchboardSampleTraffic", "SwitchboardProtocol", "SwitchboardCore",
                "Postgres", "ZeroMQ",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        .executableTarget(
            name: "switchboard-bench",
            dependencies: [
                "SwitchboardHub", "SwitchboardClient", "SwitchboardCore", "SwitchboardStore", "SwitchboardSampleTraffic", "SwitchboardProtocol",
                "Postgres", "ZeroMQ",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        // libFuzzer target (make fuzz); built normally, it replays a corpus.
        .executableTarget(name: "switchboard-fuzz", dependencies: ["SwitchboardProtocol", "SwitchboardHub"]),
        .testTarget(name: "SwitchboardProtocolTests", dependencies: ["SwitchboardProtocol"]),
        .testTarget(name: "SwitchboardCoreTests", dependencies: ["SwitchboardCore"]),
        // The bench's own arithmetic (the executable's module, imported @testable).
        .testTarget(name: "SwitchboardBenchTests", dependencies: ["switchboard-bench", "SwitchboardProtocol"]),
        .testTarget(
            name: "SwitchboardIntegrationTests",
            dependencies: [
                "SwitchboardHub", "SwitchboardClient", "SwitchboardCore", "SwitchboardStore", "SwitchboardProtocol", "Postgres", "ZeroMQ",
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
