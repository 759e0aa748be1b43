#if canImport(Glibc)
import CLinux  // IPPROTO_TCP: <netinet/in.h> belongs to CLinux's module since it includes it
import Glibc
#endif
import NIOCore

/// Listeners that drop new connections without refusing them: a classic BPF program,
/// attached to each listening socket (SO_ATTACH_FILTER), that drops the SYNs opening new
/// connections. The kernel runs a listener's filter on every packet that reaches it, so
/// those SYNs are dropped silently and the client retransmits a second later; sockets
/// already accepted were cloned before the filter and keep working. Only a SYN is dropped:
/// the ACK that completes a handshake already under way also reaches the listener, and
/// dropping it would strand that connection until the listener closes and the client's
/// data is answered with a reset. A refused SYN (a closed listener) would fail the client
/// at once instead.
extension ProxyRuntime {
    /// `struct sock_filter` and `struct sock_fprog` of <linux/filter.h>, laid out as the
    /// kernel reads them.
    private struct SockFilter { var code: UInt16; var jt: UInt8; var jf: UInt8; var k: UInt32 }
    private struct SockFprog: @unchecked Sendable { var length: UInt16; var filter: UnsafeMutablePointer<SockFilter> }

    private static let soAttachFilter: CInt = 26   // SO_ATTACH_FILTER
    private static let soDetachFilter: CInt = 27   // SO_DETACH_FILTER

    /// A TCP socket's filter sees the segment from its TCP header: byte 13 holds the
    /// flags. Keep the segment when ACK (0x10) is set, drop it otherwise (a SYN opening a
    /// connection is the only segment without it). Allocated once and never freed: the
    /// kernel copies it during setsockopt.
    private static let dropOpeningSYNsLength: UInt16 = 4
    nonisolated(unsafe) private static let dropOpeningSYNs: UnsafeMutablePointer<SockFilter> = {
        let p = UnsafeMutablePointer<SockFilter>.allocate(capacity: Int(dropOpeningSYNsLength))
        p[0] = SockFilter(code: 0x30 /* BPF_LD | BPF_B | BPF_ABS */, jt: 0, jf: 0, k: 13)
        p[1] = SockFilter(code: 0x45 /* BPF_JMP | BPF_JSET | BPF_K */, jt: 1, jf: 0, k: 0x10)
        p[2] = SockFilter(code: 0x06 /* BPF_RET | BPF_K */, jt: 0, jf: 0, k: 0)            // drop
        p[3] = SockFilter(code: 0x06 /* BPF_RET | BPF_K */, jt: 0, jf: 0, k: 0xffff_ffff)  // keep
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
                var program = SockFprog(length: Self.dropOpeningSYNsLength, filter: Self.dropOpeningSYNs)
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
        let start = ProcessClock.milliseconds
        let deadline = start + limit
        // A handshake under way when the filter went on completes a moment later (its
        // ACK is let through) and only then joins the accept queue, which is not counted
        // before: the queue must stay empty a little while, not be seen empty once.
        var emptySince: Int?
        while ProcessClock.milliseconds < deadline {
            let now = ProcessClock.milliseconds
            if unacceptedConnections() > 0 {
                emptySince = nil
            } else if let since = emptySince {
                if now - since >= Self.quietQueueMilliseconds { break }
            } else {
                emptySince = now
            }
            usleep(2_000)
        }
        stopListening()
    }

    /// How long the accept queue stays empty before the listeners close: many round trips
    /// on a local network, and a handshake's last ACK is sent as soon as the SYN-ACK comes.
    static let quietQueueMilliseconds = 20
}
