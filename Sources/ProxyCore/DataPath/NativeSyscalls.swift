#if canImport(Glibc)
import Glibc
#endif
import CLinux
import NIOCore

// epoll's event bits, as plain numbers (Glibc imports them as an enum type).
let EPOLLIN_: UInt32 = 0x001
let EPOLLOUT_: UInt32 = 0x004
let EPOLLERR_: UInt32 = 0x008
let EPOLLHUP_: UInt32 = 0x010
let EPOLLRDHUP_: UInt32 = 0x2000
let EAGAIN_ = Int(EAGAIN)

/// The system calls of data path v2's connections, one call each, errors as negative
/// errno values (no Swift error thrown on the hot path).
enum NativeSyscalls {
    /// Bytes read, 0 at the end of input, or -errno.
    static func receive(_ fd: CInt, into buffer: UnsafeMutableRawBufferPointer) -> Int {
        while true {
            let count = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if count >= 0 { return count }
            if errno == EINTR { continue }
            return -Int(errno == EWOULDBLOCK ? EAGAIN : errno)
        }
    }

    /// Writes as much of `buffers` as the socket takes, in one call: bytes written or -errno.
    static func send(_ fd: CInt, _ buffers: [ByteBuffer]) -> Int {
        if buffers.count == 1 {
            return buffers[0].withUnsafeReadableBytes { bytes in
                while true {
                    let count = Glibc.send(fd, bytes.baseAddress, bytes.count, CInt(MSG_NOSIGNAL))
                    if count >= 0 { return count }
                    if errno == EINTR { continue }
                    return -Int(errno == EWOULDBLOCK ? EAGAIN : errno)
                }
            }
        }
        return sendVector(fd, buffers)
    }

    /// Up to 16 buffers in one sendmsg; the rest go with the next call.
    private static func sendVector(_ fd: CInt, _ buffers: [ByteBuffer]) -> Int {
        let count = min(buffers.count, 16)
        return withUnsafeTemporaryAllocation(of: iovec.self, capacity: count) { vectors in
            // The buffers' storage stays alive: `buffers` holds them for the whole call.
            for index in 0..<count {
                buffers[index].withUnsafeReadableBytes { bytes in
                    vectors[index] = iovec(iov_base: UnsafeMutableRawPointer(mutating: bytes.baseAddress),
                                           iov_len: bytes.count)
                }
            }
            var message = msghdr()
            message.msg_iov = vectors.baseAddress
            message.msg_iovlen = count
            while true {
                let written = sendmsg(fd, &message, CInt(MSG_NOSIGNAL))
                if written >= 0 { return written }
                if errno == EINTR { continue }
                return -Int(errno == EWOULDBLOCK ? EAGAIN : errno)
            }
        }
    }

    /// SO_LINGER 0: the close resets the connection (no FIN exchange, no TIME_WAIT).
    static func setLinger0(_ fd: CInt) {
        var option = linger(l_onoff: 1, l_linger: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &option, socklen_t(MemoryLayout<linger>.size))
    }

    static func shutdownOutput(_ fd: CInt) {
        _ = Glibc.shutdown(fd, CInt(SHUT_WR))
    }

    /// SO_ERROR: 0 once a non-blocking connect succeeded, else its errno.
    static func pendingError(_ fd: CInt) -> CInt {
        var error: CInt = 0
        var length = socklen_t(MemoryLayout<CInt>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 else { return errno }
        return error
    }

    static func peerAddress(_ fd: CInt) -> SocketAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ok = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &length) == 0 }
        }
        return ok ? socketAddress(storage) : nil
    }

    static func localAddress(_ fd: CInt) -> SocketAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ok = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) == 0 }
        }
        return ok ? socketAddress(storage) : nil
    }

    /// NIO's SocketAddress of a raw address (the sessions' type for addresses).
    static func socketAddress(_ storage: sockaddr_storage) -> SocketAddress? {
        var storage = storage
        switch CInt(storage.ss_family) {
        case AF_INET:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { SocketAddress($0.pointee, host: "") }
            }
        case AF_INET6:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { SocketAddress($0.pointee, host: "") }
            }
        case AF_UNIX:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_un.self, capacity: 1) { SocketAddress($0.pointee) }
            }
        default:
            return nil
        }
    }

    /// A non-blocking socket connecting to `address`: the descriptor and whether the
    /// connect is still in progress, or -errno.
    ///
    /// `delayedAck`: TCP_QUICKACK off before the connect, as HAProxy does for checks
    /// (CONNECT_DELACK_ALWAYS). The handshake's last ACK then waits for our first bytes and
    /// travels with them, or never goes when we close first: a connect-only check leaves
    /// the server a half-open request that our reset removes, instead of an established
    /// connection to accept, queue and reset (on loopback, that work was charged to us).
    /// `source`: the local address to bind first (`source`/`usesrc`), transparent when it
    /// is not this host's (IP_TRANSPARENT, as HAProxy's TPROXY mode; needs CAP_NET_ADMIN).
    static func startConnect(to address: SocketAddress, delayedAck: Bool = false,
                             source: (address: SocketAddress, transparent: Bool)? = nil) -> (fd: CInt, inProgress: Bool, error: CInt) {
        let family: CInt
        switch address {
        case .v4: family = AF_INET
        case .v6: family = AF_INET6
        case .unixDomainSocket: family = AF_UNIX
        }
        let fd = socket(family, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_NONBLOCK.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return (-1, false, errno) }
        if family != AF_UNIX {
            var on: CInt = 1
            _ = setsockopt(fd, CInt(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<CInt>.size))
            if delayedAck {
                var off: CInt = 0
                _ = setsockopt(fd, CInt(IPPROTO_TCP), TCP_QUICKACK, &off, socklen_t(MemoryLayout<CInt>.size))
            }
        }
        if let source {
            var on: CInt = 1
            _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<CInt>.size))
            if source.transparent {
                // IP_TRANSPARENT (19) at SOL_IP, IPV6_TRANSPARENT (75) at SOL_IPV6.
                let v6 = family == AF_INET6
                _ = setsockopt(fd, v6 ? CInt(IPPROTO_IPV6) : CInt(IPPROTO_IP), v6 ? 75 : 19, &on,
                               socklen_t(MemoryLayout<CInt>.size))
            }
            let bound = source.address.withSockAddr { pointer, length in Glibc.bind(fd, pointer, socklen_t(length)) }
            if bound != 0 {
                let error = errno
                Glibc.close(fd)
                return (-1, false, error)
            }
        }
        let result = address.withSockAddr { pointer, length in
            Glibc.connect(fd, pointer, socklen_t(length))
        }
        if result == 0 { return (fd, false, 0) }
        let error = errno
        if error == EINPROGRESS || error == EAGAIN { return (fd, true, 0) }
        Glibc.close(fd)
        return (-1, false, error)
    }

    /// One accepted connection (non-blocking, close-on-exec) with its peer's address,
    /// nil when none is waiting, or -errno.
    static func accept(_ listener: CInt) -> (fd: CInt, remote: SocketAddress?, error: CInt)? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        while true {
            let fd = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    accept4(listener, $0, &length, CInt(SOCK_NONBLOCK.rawValue) | CInt(SOCK_CLOEXEC.rawValue))
                }
            }
            if fd >= 0 { return (fd, socketAddress(storage), 0) }
            switch errno {
            case EINTR, ECONNABORTED: continue
            case EAGAIN, EWOULDBLOCK: return nil
            default: return (-1, nil, errno)
            }
        }
    }
}
