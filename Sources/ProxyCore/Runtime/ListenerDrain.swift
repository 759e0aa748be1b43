#if canImport(Glibc)
import CLinux  // IPPROTO_TCP: <netinet/in.h> belongs to CLinux's module since it includes it
import Glibc
#endif
import NIOCore

/// Listeners that drop new connections without refusing them: a classic BPF program that
/// accepts nothing, attached to each listening socket (SO_ATTACH_FILTER). The kernel runs a
/// listener's filter on the SYNs that reach it, so they are dropped silently and the client
/// retransmits a second later; sockets already accepted were cloned before the filter and
/// keep working. A refused SYN (a closed listener) would fail the client at once instead.
extension ProxyRuntime {
    /// `struct sock_filter` and `struct sock_fprog` of <linux/filter.h>, laid out as the
    /// kernel reads them.
    private struct SockFilter { var code: UInt16; var jt: UInt8; var jf: UInt8; var k: UInt32 }
    private struct SockFprog: @unchecked Sendable { var length: UInt16; var filter: UnsafeMutablePointer<SockFilter> }

    private static let soAttachFilter: CInt = 26   // SO_ATTACH_FILTER
    private static let soDetachFilter: CInt = 27   // SO_DETACH_FILTER

    /// `ret #0`: keep no byte of any packet. Allocated once and never freed: the kernel
    /// copies it during setsockopt.
    nonisolated(unsafe) private static let dropEverything: UnsafeMutablePointer<SockFilter> = {
        let p = UnsafeMutablePointer<SockFilter>.allocate(capacity: 1)
        p.initialize(to: SockFilter(code: 0x06 /* BPF_RET | BPF_K */, jt: 0, jf: 0, k: 0))
        return p
    }()

    /// `includingShared` false (a soft stop): only the listeners no other process holds, as
    /// a filter on a shared socket would drop the SYNs meant for the process that goes on
    /// serving it. vrrpd's `drain` (HAHub) includes them: it comes when no other process
    /// takes over on this node (a reload is followed, not drained), and a worker that
    /// inherits a socket lifts any filter left on it (InheritedListeners.take).
    public func setListenersDropNewConnections(_ drop: Bool, includingShared: Bool = false) {
        for listener in includingShared ? activeListeners : exclusiveListeners {
            let fd = listener.descriptor
            if drop {
                var program = SockFprog(length: 1, filter: Self.dropEverything)
                _ = setsockopt(fd, SOL_SOCKET, Self.soAttachFilter, &program, socklen_t(MemoryLayout<SockFprog>.size))
            } else {
                var none: CInt = 0
                _ = setsockopt(fd, SOL_SOCKET, Self.soDetachFilter, &none, socklen_t(MemoryLayout<CInt>.size))
            }
        }
    }

    /// Connections the kernel completed on our TCP listeners that nobody accepted yet (for a
    /// listening socket, TCP_INFO's `tcpi_unacked` is its accept queue's length).
    func unacceptedConnections() -> Int {
        var total = 0
        for listener in exclusiveListeners {
            var info = tcp_info()
            var length = socklen_t(MemoryLayout<tcp_info>.size)
            guard getsockopt(listener.descriptor, CInt(IPPROTO_TCP), TCP_INFO, &info, &length) == 0 else { continue }
            total += Int(info.tcpi_unacked)
        }
        return total
    }

    /// Closes the listeners without resetting a connection: closing a listening socket
    /// resets every connection still in its accept queue (with `-sf`, the new process's
    /// socket beside it takes only the SYNs that come after). So first no new SYN enters
    /// the queue (dropped: the client retries a second later, to the new process), then
    /// the event loops accept what is queued, then the sockets close. Bounded by `limit`
    /// milliseconds. Blocks the caller: not for an event loop. A socket shared with
    /// another process (handed over, inherited) just closes here: the other process keeps
    /// it, queue included, so nothing is reset.
    func closeListenersWithoutLoss(limit: Int = 500) {
        setListenersDropNewConnections(true)
        let deadline = ProcessClock.milliseconds + limit
        while unacceptedConnections() > 0, ProcessClock.milliseconds < deadline {
            usleep(2_000)
        }
        stopListening()
    }
}
