#if canImport(Glibc)
import Glibc
#endif

/// Which machinery carries client and server connections.
///
/// - `native`: data path v2 (Sources/ProxyCore/DataPath, Engine/): proxyd's own reactors
///   over raw descriptors, one epoll per thread.
/// - `nio`: SwiftNIO's channels and pipelines. The `mode tcp` content inspection
///   (`tcp-request inspect-delay`, `req.ssl_sni`) still needs it, so a configuration that
///   uses it runs on it whole. TLS (bind or server `ssl`) runs on either: TLSTransport on
///   the native path, TLSHandler on NIO, both over one TLSEngine.
///
/// `PROXYD_DATAPATH=nio|native` in the environment overrides the choice (benchmarks
/// compare the two; `native` is refused for a configuration that needs NIO).
public enum DataPath: String, Sendable {
    case native
    case nio

    static func choose(frontends: [RuntimeFrontend], backends: [RuntimeBackend],
                       environment: [String: String] = overrideFromEnvironment()) -> DataPath {
        let needsNIO = frontends.contains { $0.tcpInspection != nil }
        if needsNIO { return .nio }
        return DataPath(rawValue: environment["PROXYD_DATAPATH"] ?? "") ?? .native
    }

    /// `PROXYD_DATAPATH` from the environment, through getenv: Foundation's ProcessInfo
    /// would link Foundation and ICU's tables (~50 MB) into the static release binary.
    static func overrideFromEnvironment() -> [String: String] {
        guard let value = getenv("PROXYD_DATAPATH") else { return [:] }
        return ["PROXYD_DATAPATH": String(cString: value)]
    }
}
