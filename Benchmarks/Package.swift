// swift-tools-version: 6.1
// Micro-benchmarks of the hub's hot paths (ordo-one/benchmark): `make microbench`, or
// `swift package --package-path Benchmarks benchmark`. A package of its own so that the
// benchmark framework is built only when asked for.
import PackageDescription

let package = Package(
    name: "switchboard-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "switchboard", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "Hot",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "SwitchboardProtocol", package: "switchboard"),
                .product(name: "SwitchboardCore", package: "switchboard"),
                .product(name: "SwitchboardStore", package: "switchboard"),
            ],
            path: "Benchmarks/Hot",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    ]
)
