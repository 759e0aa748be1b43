#if canImport(Glibc)
import Glibc
#endif

/// Logging as keepalived does it: syslog (daemon facility, or local0..7 with -S) and,
/// with -l, the console with keepalived's `Wed Nov 25 09:03:59 2026: ` prefix.
public final class VRRPLog: @unchecked Sendable {
    public var console = false
    public var detail = false
    public var syslogEnabled = true
    /// Where console lines go (stderr by default, as keepalived -l writes).
    public var consoleFD: Int32 = 2
    /// Test hook: every line also lands here.
    public var sink: ((String) -> Void)?

    public init() {}

    public func openSyslog(ident: String, facility: Int?) {
        guard syslogEnabled else { return }
        let fac: Int32
        if let f = facility, (0...7).contains(f) { fac = (16 + Int32(f)) << 3 } else { fac = LOG_DAEMON }
        openlog(strdup(ident), LOG_PID | LOG_NDELAY, fac)
    }

    public func info(_ s: String) { write(LOG_INFO, s) }
    public func notice(_ s: String) { write(LOG_NOTICE, s) }
    public func warning(_ s: String) { write(LOG_WARNING, s) }
    public func error(_ s: String) { write(LOG_ERR, s) }
    /// Only with -D/--log-detail.
    public func debug(_ s: String) { if detail { write(LOG_INFO, s) } }

    static func timestamp() -> String {
        var t = time(nil)
        var tmv = tm()
        localtime_r(&t, &tmv)
        var buf = [CChar](repeating: 0, count: 64)
        let n = strftime(&buf, buf.count, "%a %b %e %H:%M:%S %Y", &tmv)
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    func write(_ prio: Int32, _ s: String) {
        if syslogEnabled {
            s.withCString { cs in withVaList([cs]) { vsyslog(prio, "%s", $0) } }
        }
        if console {
            let line = "\(VRRPLog.timestamp()): \(s)\n"
            _ = line.withCString { Glibc.write(consoleFD, $0, strlen($0)) }
        }
        sink?(s)
    }
}
