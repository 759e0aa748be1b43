import CLinux
import Glibc

@testable import ProxyCore

/// Socket operations on raw descriptors for the reactor's tests, each one system call
/// (retried on EINTR), errors thrown as SocketCallError. EAGAIN is an answer (nil). The
/// data path itself uses NativeSyscalls, which returns errno values instead.
enum SocketCalls {
    private static let nonBlockingCloseOnExec = CInt(SOCK_NONBLOCK.rawValue) | CInt(SOCK_CLOEXEC.rawValue)

    /// Takes one pending connection: a non-blocking, close-on-exec descriptor, or nil when
    /// none is pending.
    static func acceptConnection(_ listenFD: CInt) throws -> CInt? {
        while true {
            let fd = accept4(listenFD, nil, nil, nonBlockingCloseOnExec)
            if fd >= 0 { return fd }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return nil
            case let code: throw SocketCallError.from("accept4", code)
            }
        }
    }

    /// Opens a non-blocking TCP socket and starts connecting it. `inProgress` means the
    /// reactor will report EPOLLOUT (or EPOLLERR) when the handshake ends; `connectResult`
    /// then tells how. A connect failing at once closes the socket and throws.
    static func startConnect(to address: sockaddr_storage, length: socklen_t) throws -> (fd: CInt, inProgress: Bool) {
        let fd = socket(CInt(address.ss_family), CInt(SOCK_STREAM.rawValue) | nonBlockingCloseOnExec, 0)
        guard fd >= 0 else { throw SocketCallError.from("socket", errno) }
        var address = address
        while true {
            let result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) }
            }
            if result == 0 { return (fd, false) }
            let code = errno
            if code == EINTR { continue }
            if code == EINPROGRESS { return (fd, true) }
            Glibc.close(fd)
            throw SocketCallError.from("connect", code)
        }
    }

    /// The outcome of a connect that was in progress: 0 when connected, else its errno
    /// (ECONNREFUSED, ETIMEDOUT, …).
    static func connectResult(_ fd: CInt) -> CInt {
        var code: CInt = 0
        var length = socklen_t(MemoryLayout<CInt>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &code, &length) == 0 else { return errno }
        return code
    }

    static func setNoDelay(_ fd: CInt) throws {
        try setIntOption(fd, CInt(IPPROTO_TCP), TCP_NODELAY, 1, "setsockopt(TCP_NODELAY)")
    }

    /// SO_LINGER with a zero timeout: the next close sends a reset instead of a FIN.
    static func setLinger0(_ fd: CInt) throws {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        guard setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size)) == 0 else {
            throw SocketCallError.from("setsockopt(SO_LINGER)", errno)
        }
    }

    /// Reads what is there: the byte count, 0 at end of stream, nil when nothing is
    /// pending (EAGAIN). Throws on a reset or another error.
    static func receive(_ fd: CInt, into buffer: UnsafeMutableRawBufferPointer) throws -> Int? {
        while true {
            let count = read(fd, buffer.baseAddress, buffer.count)
            if count >= 0 { return count }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return nil
            case let code: throw SocketCallError.from("read", code)
            }
        }
    }

    /// Writes what the socket takes: the byte count (maybe fewer than given), nil when the
    /// socket buffer is full (EAGAIN). MSG_NOSIGNAL: a closed peer is EPIPE, not SIGPIPE.
    static func send(_ fd: CInt, _ buffer: UnsafeRawBufferPointer) throws -> Int? {
        while true {
            let count = Glibc.send(fd, buffer.baseAddress, buffer.count, CInt(MSG_NOSIGNAL))
            if count >= 0 { return count }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return nil
            case let code: throw SocketCallError.from("send", code)
            }
        }
    }

    /// Writes several buffers in one call (sendmsg rather than writev: the same gather,
    /// plus MSG_NOSIGNAL). The caller keeps the iovec array (pooled, at most IOV_MAX).
    static func sendv(_ fd: CInt, _ buffers: UnsafeMutableBufferPointer<iovec>) throws -> Int? {
        var message = msghdr()
        message.msg_iov = buffers.baseAddress
        message.msg_iovlen = buffers.count
        while true {
            let count = sendmsg(fd, &message, CInt(MSG_NOSIGNAL))
            if count >= 0 { return count }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return nil
            case let code: throw SocketCallError.from("sendmsg", code)
            }
        }
    }

    /// Two buffers (a head and a body, say) in one call, the iovecs on the stack.
    static func sendv(_ fd: CInt, _ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer) throws -> Int? {
        try withUnsafeTemporaryAllocation(of: iovec.self, capacity: 2) { vectors in
            vectors[0] = iovec(iov_base: UnsafeMutableRawPointer(mutating: first.baseAddress), iov_len: first.count)
            vectors[1] = iovec(iov_base: UnsafeMutableRawPointer(mutating: second.baseAddress), iov_len: second.count)
            return try sendv(fd, vectors)
        }
    }

    /// Sends a FIN; reading stays open.
    static func shutdownOutput(_ fd: CInt) throws {
        guard shutdown(fd, CInt(SHUT_WR)) == 0 else {
            throw SocketCallError.from("shutdown", errno)
        }
    }

    // MARK: Set-up (not per connection)

    /// A non-blocking listening TCP socket bound to `address` (port 0: the kernel picks;
    /// `localAddress` tells which).
    static func listen(on address: sockaddr_storage, length: socklen_t, backlog: CInt = 1024,
                       reusePort: Bool = false) throws -> CInt {
        let fd = socket(CInt(address.ss_family), CInt(SOCK_STREAM.rawValue) | nonBlockingCloseOnExec, 0)
        guard fd >= 0 else { throw SocketCallError.from("socket", errno) }
        do {
            try setIntOption(fd, SOL_SOCKET, SO_REUSEADDR, 1, "setsockopt(SO_REUSEADDR)")
            if reusePort { try setIntOption(fd, SOL_SOCKET, SO_REUSEPORT, 1, "setsockopt(SO_REUSEPORT)") }
            var address = address
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
            }
            guard bound == 0 else { throw SocketCallError.from("bind", errno) }
            guard Glibc.listen(fd, backlog) == 0 else { throw SocketCallError.from("listen", errno) }
            return fd
        } catch {
            Glibc.close(fd)
            throw error
        }
    }

    /// The address a socket is bound to (getsockname).
    static func localAddress(_ fd: CInt) throws -> (address: sockaddr_storage, length: socklen_t) {
        var address = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard result == 0 else { throw SocketCallError.from("getsockname", errno) }
        return (address, length)
    }

    /// An IPv4 socket address (network byte order done here).
    static func ipv4Address(_ dottedQuad: String, port: UInt16) throws -> (address: sockaddr_storage, length: socklen_t) {
        var storage = sockaddr_storage()
        var ipv4 = sockaddr_in()
        ipv4.sin_family = sa_family_t(AF_INET)
        ipv4.sin_port = port.bigEndian
        guard inet_pton(AF_INET, dottedQuad, &ipv4.sin_addr) == 1 else {
            throw SocketCallError.failed(call: "inet_pton(\(dottedQuad))", errno: EINVAL)
        }
        withUnsafeMutableBytes(of: &storage) { raw in
            withUnsafeBytes(of: ipv4) { raw.copyMemory(from: $0) }
        }
        return (storage, socklen_t(MemoryLayout<sockaddr_in>.size))
    }

    /// The port of an IPv4 or IPv6 address, in host byte order.
    static func port(of address: sockaddr_storage) -> UInt16 {
        var address = address
        let family = CInt(address.ss_family)
        return withUnsafePointer(to: &address) { pointer -> UInt16 in
            switch family {
            case AF_INET:
                return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
            case AF_INET6:
                return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) }
            default:
                return 0
            }
        }
    }

    private static func setIntOption(_ fd: CInt, _ level: CInt, _ name: CInt, _ value: CInt, _ call: String) throws {
        var value = value
        guard setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<CInt>.size)) == 0 else {
            throw SocketCallError.from(call, errno)
        }
    }
}
