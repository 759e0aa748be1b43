#if canImport(Glibc)
import Glibc
#endif
import CBuildInfo
import COpenSSL
import NIOCore

/// `proxyd -vv`: the build options, laid out as `haproxy -vv` lays out its own, so that
/// whoever reads both finds the same lines in the same places.
public enum BuildOptions {
    public static func report() -> String {
        var lines: [String] = []
        lines.append("proxyd version \(ProxyCoreVersion.string) \(ShowInfo.releaseDate) - HAProxy 2.6 configurations")
        lines.append("Build date: \(String(cString: proxyd_build_date()))")
        lines.append("Running on: \(runningOn())")
        lines.append("Build options :")
        lines.append("  TARGET  = \(target())")
        lines.append("  SWIFT   = \(swiftVersion())")
        lines.append("  MODE    = \(mode())")
        lines.append("  OPTIONS = USE_OPENSSL=1 USE_SYSTEMD=1 USE_THREAD=1")
        lines.append("")
        lines.append("Feature list : " + features.map { ($0.1 ? "+" : "-") + $0.0 }.joined(separator: " "))
        lines.append("")
        lines.append("Built with multi-threading support (MAX_THREADS=\(Validation.maxThreads), default=\(System.coreCount)).")
        lines.append("Built with OpenSSL version : \(String(cString: proxyd_openssl_built_version()))")
        lines.append("Running on OpenSSL version : \(String(cString: OpenSSL_version(OPENSSL_VERSION)))")
        lines.append("OpenSSL library supports TLS extensions : yes")
        lines.append("OpenSSL library supports SNI : yes")
        lines.append("OpenSSL library supports : \(tlsVersions())")
        lines.append("Built with libsystemd: sd_notify READY=1 for Type=notify units.")
        lines.append("")
        lines.append("Available polling systems :")
        lines.append("      epoll : pref=300,  test result OK")
        lines.append("Total: 1 (1 usable), will use epoll.")
        lines.append("")
        lines.append("Available multiplexer protocols :")
        lines.append("(protocols marked as <default> cannot be specified using 'proto' keyword)")
        lines.append("  <default> : mode=HTTP  side=FE|BE  mux=H1    flags=")
        lines.append("  <default> : mode=TCP   side=FE|BE  mux=PASS  flags=")
        lines.append("")
        lines.append("Available balancing algorithms : " + KeywordCatalog.balanceAlgorithms().joined(separator: " "))
        lines.append("")
        lines.append("Available services : none")
        lines.append("Available filters : none")
        return lines.joined(separator: "\n") + "\n"
    }

    /// HAProxy's feature names, + for what proxyd has (NIO polls with epoll on Linux).
    static let features: [(String, Bool)] = [
        ("EPOLL", true), ("OPENSSL", true), ("SYSTEMD", true), ("THREAD", true), ("KQUEUE", false), ("LUA", false),
        ("PCRE2", false), ("PROMEX", false), ("QUIC", false), ("ZLIB", false),
    ]

    static func runningOn() -> String {
        var u = utsname()
        guard uname(&u) == 0 else { return "unknown" }
        func field<T>(_ value: T) -> String {
            withUnsafeBytes(of: value) { raw in String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self) }
        }
        return "\(field(u.sysname)) \(field(u.release)) \(field(u.version)) \(field(u.machine))"
    }

    static func target() -> String {
        #if arch(x86_64)
        return "linux-x86_64"
        #elseif arch(arm64)
        return "linux-aarch64"
        #else
        return "linux"
        #endif
    }

    static func mode() -> String {
        #if DEBUG
        return "debug"
        #else
        return "release"
        #endif
    }

    static func swiftVersion() -> String {
        #if compiler(>=6.3)
        return "6.3 or later"
        #elseif compiler(>=6.2)
        return "6.2"
        #elseif compiler(>=6.1)
        return "6.1"
        #elseif compiler(>=6.0)
        return "6.0"
        #else
        return "5"
        #endif
    }

    /// The protocol versions the running library can speak (TLS 1.0 and later: OpenSSL 3
    /// has no SSLv3).
    static func tlsVersions() -> String {
        let names: [(String, Int32)] = [("TLSv1.0", TLS1_VERSION), ("TLSv1.1", TLS1_1_VERSION),
                                        ("TLSv1.2", TLS1_2_VERSION), ("TLSv1.3", TLS1_3_VERSION)]
        guard let context = SSL_CTX_new(TLS_method()) else { return "unknown" }
        defer { SSL_CTX_free(context) }
        return names.filter { proxyd_SSL_CTX_set_max_proto_version(context, $0.1) == 1 }.map(\.0).joined(separator: " ")
    }
}
