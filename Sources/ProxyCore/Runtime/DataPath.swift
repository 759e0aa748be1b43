import Foundation

/// Which machinery carries client and server connections.
///
/// - `native`: data path v2 (Sources/ProxyCore/DataPath, Engine/): proxyd's own reactors
///   over raw descriptors, one epoll per thread.
/// - `nio`: SwiftNIO's channels and pipelines. TLS (bind or server `ssl`) and the
///   `mode tcp` content inspection (`tcp-request inspect-delay`, `req.ssl_sni`) still need
///   it, so a configuration that uses them runs on it whole.
///
/// `PROXYD_DATAPATH=nio|native` in the environment overrides the choice (benchmarks
/// compare the two; `native` is refused for a configuration that needs NIO).
public enum DataPath: String, Sendable {
    case native
    case nio

    static func choose(frontends: [RuntimeFrontend], backends: [RuntimeBackend],
                       environment: [String: String] = ProcessInfo.processInfo.environment) -> DataPath {
        let needsNIO = frontends.contains { frontend in
            frontend.tcpInspection != nil || frontend.binds.contains { frontend.tlsContext(for: $0) != nil }
        } || backends.contains { backend in backend.servers.contains { $0.tls != nil } }
        if needsNIO { return .nio }
        return DataPath(rawValue: environment["PROXYD_DATAPATH"] ?? "") ?? .native
    }
}
