// swift-tools-version:6.0
import PackageDescription

// Release builds of our own targets skip runtime exclusivity checks: FACTS.md measured
// them at ~25% of user instructions on the data path. scripts/build-release passes the
// same flag to every dependency too.
// `scripts/fuzz` sets PROXYD_FUZZ (in its own scratch path, .build-fuzz): our modules are
// then built optimised with libFuzzer's coverage and AddressSanitizer, and testable (the
// fuzz targets reach internal parsers), and the `proxyd-fuzz` executable (Fuzz/) joins
// the package. Ordinary builds never see either.
let fuzzing = Context.environment["PROXYD_FUZZ"] != nil
let fuzzFlags = ["-sanitize=fuzzer,address", "-O", "-enable-testing"]

let lean: [SwiftSetting] = [
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
] + (fuzzing ? [.unsafeFlags(fuzzFlags)] : [])

let package = Package(
    name: "proxyd",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "proxyd", targets: ["proxyd"]),
        .executable(name: "vrrpd", targets: ["vrrpd"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-atomics.git", from: "1.3.0"),
    ],
    targets: [
        // C libraries, each through a small system-library target.
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl",
                       providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CSystemd", pkgConfig: "libsystemd",
                       providers: [.apt(["libsystemd-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),
        // Linux kernel headers Glibc does not expose (netlink, packet sockets).
        .target(name: "CLinux"),
        // The build date `proxyd -vv` prints.
        .target(name: "CBuildInfo"),

        // What both daemons need and nothing daemon-specific.
        .target(name: "Shared",
                dependencies: ["CSystemd"],
                swiftSettings: lean),

        // The HAProxy dialect and everything behind it.
        .target(name: "ProxyCore",
                dependencies: [
                    "Shared",
                    "COpenSSL",  // TLS (issue 5): Sources/ProxyCore/TLS wraps the system libssl
                    "CZlib",  // `compression` (issue 15): Sources/ProxyCore/Compression wraps the system zlib
                    "CBuildInfo",
                    "CLinux",  // epoll, eventfd, accept4 for the data path's reactor (Engine/)
                    .product(name: "NIOCore", package: "swift-nio"),
                    .product(name: "NIOPosix", package: "swift-nio"),
                    .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                    .product(name: "Atomics", package: "swift-atomics"),
                ],
                swiftSettings: lean),
        .executableTarget(name: "proxyd", dependencies: ["ProxyCore", "Shared"],
                          swiftSettings: lean),

        // The keepalived dialect, VRRP, and the Linux side of it.
        .target(name: "VRRPCore",
                dependencies: [
                    "Shared", "CLinux",
                    .product(name: "NIOCore", package: "swift-nio"),
                    .product(name: "NIOPosix", package: "swift-nio"),
                ],
                swiftSettings: lean),
        .executableTarget(name: "vrrpd", dependencies: ["VRRPCore", "Shared"],
                          swiftSettings: lean),

        .testTarget(name: "ProxyCoreTests", dependencies: ["ProxyCore", "Shared", "CLinux", "CZlib"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "ProxydIntegrationTests",
                    dependencies: [
                        "ProxyCore", "Shared",
                        .product(name: "NIOCore", package: "swift-nio"),
                        .product(name: "NIOPosix", package: "swift-nio"),
                        .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                    ]),
        .testTarget(name: "VRRPCoreTests", dependencies: ["VRRPCore", "Shared"]),
    ],
    swiftLanguageModes: [.v5]
)

if fuzzing {
    package.products.append(.executable(name: "proxyd-fuzz", targets: ["proxyd-fuzz"]))
    package.targets.append(
        .executableTarget(name: "proxyd-fuzz", dependencies: ["ProxyCore", "VRRPCore", "Shared"],
                          path: "Fuzz/Sources",
                          swiftSettings: [.unsafeFlags(fuzzFlags)],
                          linkerSettings: [.unsafeFlags(["-sanitize=fuzzer,address", "-use-ld=lld"])]))
}
