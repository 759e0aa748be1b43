#if canImport(Glibc)
import Glibc
#endif
import NIOCore

/// Process-wide TLS counters, for `show info` and the stats page (HAProxy's
/// `CurrSslConns`, `CumSslConns`, …). Relaxed atomics, as the other counters.
public enum TLSStatistics {
    /// TLS connections open now, both sides (`CurrSslConns`).
    public static let currentConnections = CounterCell()
    /// TLS connections ever opened, both sides (`CumSslConns`).
    public static let totalConnections = CounterCell()
    /// Handshakes completed with clients; of them, resumed ones (`SslFrontendSessionReuse_pct`).
    public static let frontendHandshakes = CounterCell()
    public static let frontendResumed = CounterCell()
    /// Handshakes completed with servers; of them, resumed ones.
    public static let backendHandshakes = CounterCell()
    public static let backendResumed = CounterCell()
    /// Handshakes that failed, both sides.
    public static let handshakeFailures = CounterCell()

    /// TLS connections accepted per second (`SslRate`, `MaxSslRate`). HAProxy counts them
    /// at accept, so a connection whose handshake fails counts too.
    public static let frontendConnectionRate = RateCounter()
    /// Full handshakes (a new key, not a resumption) per second with clients
    /// (`SslFrontendKeyRate`, `SslFrontendMaxKeyRate`) and with servers (`SslBackend…`).
    public static let frontendKeyRate = RateCounter()
    public static let backendKeyRate = RateCounter()

    /// `SslFrontendSessionReuse_pct` as HAProxy 2.6 computes it: from this second's rates
    /// (not since start), the share of accepted TLS connections that needed no new key,
    /// rounded; 0 when nothing was resumed.
    public static var frontendReusePercent: Int {
        reusePercent(keys: frontendKeyRate.perSecond, connections: frontendConnectionRate.perSecond)
    }

    static func reusePercent(keys: Int, connections: Int) -> Int {
        guard keys < connections else { return 0 }
        return 100 - (100 * keys + (connections - 1) / 2) / connections
    }
}

/// Where connection-level TLS errors are written. HAProxy logs them as one line per
/// connection: `IP:PORT [DATE] FRONTEND/BIND: MESSAGE`. The logging engine may replace
/// `sink`; by default the line goes to stderr.
public enum TLSLog {
    nonisolated(unsafe) public static var sink: @Sendable (String) -> Void = { line in
        fputs(line + "\n", stderr)
    }

    static func connectionError(_ channel: Channel, label: String, _ error: TLSHandshakeError) {
        var client = "-:-"
        if let address = channel.remoteAddress {
            client = "\(address.ipAddress ?? "unix"):\(address.port ?? 0)"
        }
        sink("\(client) [\(timestamp())] \(label): \(error)")
    }

    /// HAProxy's accept date: `25/Nov/2026:09:30:00.123`, local time.
    static func timestamp() -> String {
        var now = timeval()
        gettimeofday(&now, nil)
        var seconds = now.tv_sec
        var parts = tm()
        localtime_r(&seconds, &parts)
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let millis = Int(now.tv_usec / 1000)
        let ms = millis < 10 ? "00\(millis)" : millis < 100 ? "0\(millis)" : "\(millis)"
        return "\(two(parts.tm_mday))/\(months[Int(parts.tm_mon)])/\(parts.tm_year + 1900):"
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(ms)"
    }
}
