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

/// Where a frontend's failed handshakes are written: one line per connection, as HAProxy
/// writes them (`IP:PORT [DATE] FRONTEND/BIND: MESSAGE`), at `info`, to the frontend's log
/// targets. Set by the logging engine (RuntimeLogging); a frontend without log targets
/// writes to `TLSLog.sink` (stderr), where HAProxy would write nothing.
public struct ConnectionErrorLog: Sendable {
    var logger: ProxyLogger?
    /// `option dontlognull`: as HAProxy 2.6, connections closed or timed out in their
    /// handshake are not logged then; refused handshakes (garbage, a reset, a bad
    /// certificate) still are.
    var dontLogNull = false

    /// The frontend's `ssl_failed_handshake`: every failed handshake, logged or not.
    var failures: CounterCell?

    public init(logger: ProxyLogger? = nil, dontLogNull: Bool = false, failures: CounterCell? = nil) {
        self.logger = logger
        self.dontLogNull = dontLogNull
        self.failures = failures
    }

    func shouldLog(_ error: TLSHandshakeError) -> Bool {
        guard dontLogNull else { return true }
        switch error {
        case .failure, .certificateNotTrusted: return true
        case .closed, .aborted, .timeout: return false
        }
    }

    func write(client address: SocketAddress?, label: String, _ error: TLSHandshakeError) {
        failures?.increment()
        guard shouldLog(error) else { return }
        var client = "-:-"
        if let address {
            client = "\(address.ipAddress ?? "unix"):\(address.port ?? 0)"
        }
        let line = "\(client) [\(TLSLog.timestamp())] \(label): \(error)"
        if let logger { logger.log(.info, line) } else { TLSLog.sink(line) }
    }
}

/// The fallback for connection errors of frontends that do not log.
public enum TLSLog {
    nonisolated(unsafe) public static var sink: @Sendable (String) -> Void = { line in
        fputs(line + "\n", stderr)
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
