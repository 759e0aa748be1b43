#if canImport(Glibc)
import CLinux  // SOL_SOCKET, SO_KEEPALIVE
import Glibc
#endif

/// `option tcpka`/`clitcpka`/`srvtcpka` (issue 15): the kernel's TCP keep-alive probes on
/// a proxied socket, so that a peer that vanished without a word (a rebooted firewall,
/// a cable pulled) is found even on a connection idle for hours. The probes' timings are
/// the system's (net.ipv4.tcp_keepalive_*), as in HAProxy without `*tcpka-idle/intvl/cnt`.
enum KeepAliveProbes {
    static func enable(on descriptor: CInt, _ timings: KeepAliveTimings) {
        func set(_ level: CInt, _ name: CInt, _ value: Int) {
            var v = CInt(clamping: value)
            _ = setsockopt(descriptor, level, name, &v, socklen_t(MemoryLayout<CInt>.size))
        }
        set(SOL_SOCKET, SO_KEEPALIVE, 1)
        // The kernel refuses 0 for these: HAProxy's `…-idle 0` leaves the system's.
        if let idle = timings.idleSeconds, idle > 0 { set(CInt(IPPROTO_TCP), TCP_KEEPIDLE, idle) }
        if let interval = timings.intervalSeconds, interval > 0 { set(CInt(IPPROTO_TCP), TCP_KEEPINTVL, interval) }
        if let count = timings.count, count > 0 { set(CInt(IPPROTO_TCP), TCP_KEEPCNT, count) }
    }
}
