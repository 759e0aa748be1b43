#if canImport(Glibc)
import CLinux  // SOL_SOCKET, SO_KEEPALIVE
import Glibc
#endif

/// `option tcpka`/`clitcpka`/`srvtcpka` (issue 15): the kernel's TCP keep-alive probes on
/// a proxied socket, so that a peer that vanished without a word (a rebooted firewall,
/// a cable pulled) is found even on a connection idle for hours. The probes' timings are
/// the system's (net.ipv4.tcp_keepalive_*), as in HAProxy without `*tcpka-idle/intvl/cnt`.
enum KeepAliveProbes {
    static func enable(on descriptor: CInt) {
        var on: CInt = 1
        _ = setsockopt(descriptor, SOL_SOCKET, SO_KEEPALIVE, &on, socklen_t(MemoryLayout<CInt>.size))
    }
}
