#if canImport(Glibc)
import Glibc
#endif
import CLinux  // SOCK_*, IPPROTO_*: a clean build finds them in CLinux's module (which includes their headers)

/// HAProxy's `_getsocks` exchange on a `stats socket ... expose-fd listeners`, by which a
/// new process (`-x SOCKET`) takes the old one's listening sockets instead of binding new
/// ones, so that no connection is refused or reset while the old one stops.
///
/// The wire format is HAProxy 2.6's, so either program can take over from the other: the
/// client sends `_getsocks\n`; the server answers the number of sockets (a native `int`),
/// then sends them in batches of at most 253 (`SCM_RIGHTS`), each message's bytes
/// describing its sockets in order: a namespace name (one length byte, then the name), an
/// interface name (the same) and four bytes of options, unused since HAProxy 2.3. The
/// client acknowledges each batch with an `int`. It matches the sockets to its binds by
/// their address (`getsockname`), not by these names.
public enum ListenerHandover {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        init(_ text: String) { description = text }
    }

    /// HAProxy's MAX_SEND_FD: how many descriptors one message carries.
    static let batchSize = 253
    private static let headerSize = MemoryLayout<cmsghdr>.size
    private static let ackTimeout: Int32 = 1000

    /// Server side: sends `descriptors` over the connected `socket` (which may be
    /// non-blocking: each step waits, bounded, for the socket to be ready).
    public static func send(_ descriptors: [Int32], over socket: Int32) throws {
        var count = Int32(descriptors.count)
        try withUnsafeBytes(of: &count) { try sendAll(socket, Array($0)) }
        var start = 0
        while start < descriptors.count {
            let batch = Array(descriptors[start..<min(start + batchSize, descriptors.count)])
            start += batch.count
            // No namespace, no interface, no options for each socket.
            var payload = [UInt8](repeating: 0, count: batch.count * 6)
            var control = [UInt8](repeating: 0, count: headerSize + align(batch.count * 4))
            control.withUnsafeMutableBytes { raw in
                let header = raw.baseAddress!.assumingMemoryBound(to: cmsghdr.self)
                header.pointee.cmsg_len = headerSize + batch.count * 4
                header.pointee.cmsg_level = SOL_SOCKET
                header.pointee.cmsg_type = Int32(SCM_RIGHTS)
                for (i, fd) in batch.enumerated() {
                    raw.storeBytes(of: fd, toByteOffset: headerSize + i * 4, as: Int32.self)
                }
            }
            let sent = payload.withUnsafeMutableBytes { data -> Int in
                control.withUnsafeMutableBytes { controlBytes -> Int in
                    var vector = iovec(iov_base: data.baseAddress, iov_len: data.count)
                    return withUnsafeMutablePointer(to: &vector) { vectorPointer -> Int in
                        var message = msghdr()
                        message.msg_iov = vectorPointer
                        message.msg_iovlen = 1
                        message.msg_control = controlBytes.baseAddress
                        message.msg_controllen = headerSize + batch.count * 4
                        guard wait(socket, for: Int16(POLLOUT), milliseconds: ackTimeout) else { return -1 }
                        return sendmsg(socket, &message, Int32(MSG_NOSIGNAL))
                    }
                }
            }
            guard sent == payload.count else { throw Failure("cannot send the listening sockets: \(errnoText())") }
            // The receiver acknowledges each batch; the next one waits for it so that two
            // batches never arrive as one read.
            var ack: Int32 = 0
            guard wait(socket, for: Int16(POLLIN), milliseconds: ackTimeout),
                  recv(socket, &ack, 4, Int32(MSG_WAITALL)) == 4 else {
                if start < descriptors.count { throw Failure("no acknowledgement from the new process") }
                return
            }
        }
    }

    /// Client side (`-x PATH`): connects to a running process's stats socket and takes its
    /// listening sockets (close-on-exec, ours to close).
    public static func fetch(from path: String) throws -> [Int32] {
        let socket = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard socket >= 0 else { throw Failure("socket: \(errnoText())") }
        defer { close(socket) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        guard path.utf8.count < MemoryLayout.size(ofValue: address.sun_path) else { throw Failure("socket path too long: \(path)") }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.enumerated() { raw[i] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { throw Failure("Failed to connect to the old process socket '\(path)' (\(errnoText()))") }
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        try sendAll(socket, Array("_getsocks\n".utf8))
        var expected: Int32 = 0
        guard recv(socket, &expected, 4, Int32(MSG_WAITALL)) == 4, expected >= 0 else {
            throw Failure("Failed to get the number of sockets to be transferred ! (is 'expose-fd listeners' set on '\(path)'?)")
        }
        var received: [Int32] = []
        var data = [UInt8](repeating: 0, count: batchSize * 6 + 64)
        var control = [UInt8](repeating: 0, count: headerSize + batchSize * 4 + 64)
        while received.count < Int(expected) {
            let n = data.withUnsafeMutableBytes { dataBytes -> Int in
                control.withUnsafeMutableBytes { controlBytes -> Int in
                    var vector = iovec(iov_base: dataBytes.baseAddress, iov_len: dataBytes.count)
                    return withUnsafeMutablePointer(to: &vector) { vectorPointer -> Int in
                        var message = msghdr()
                        message.msg_iov = vectorPointer
                        message.msg_iovlen = 1
                        message.msg_control = controlBytes.baseAddress
                        message.msg_controllen = controlBytes.count
                        let n = recvmsg(socket, &message, Int32(MSG_CMSG_CLOEXEC))
                        guard n > 0 else { return n }
                        // One SCM_RIGHTS header, as the sender writes it.
                        let header = controlBytes.load(as: cmsghdr.self)
                        if message.msg_controllen >= headerSize, header.cmsg_level == SOL_SOCKET,
                           header.cmsg_type == Int32(SCM_RIGHTS) {
                            let count = (header.cmsg_len - headerSize) / 4
                            for i in 0..<count {
                                received.append(controlBytes.load(fromByteOffset: headerSize + i * 4, as: Int32.self))
                            }
                        }
                        return n
                    }
                }
            }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { break }
            var ack = Int32(received.count)
            _ = Glibc.send(socket, &ack, 4, Int32(MSG_NOSIGNAL))
        }
        guard received.count == Int(expected) else {
            received.forEach { close($0) }
            throw Failure("We didn't get the expected number of sockets (expecting \(expected) got \(received.count))")
        }
        return received
    }

    private static func align(_ n: Int) -> Int { (n + 7) & ~7 }

    private static func sendAll(_ socket: Int32, _ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            guard wait(socket, for: Int16(POLLOUT), milliseconds: ackTimeout) else { throw Failure("socket not writable") }
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0, errno == EINTR || errno == EAGAIN { continue }
            guard n > 0 else { throw Failure("send: \(errnoText())") }
            offset += n
        }
    }

    private static func wait(_ socket: Int32, for events: Int16, milliseconds: Int32) -> Bool {
        var entry = pollfd(fd: socket, events: events, revents: 0)
        while true {
            let n = poll(&entry, 1, milliseconds)
            if n < 0, errno == EINTR { continue }
            return n > 0
        }
    }

    private static func errnoText() -> String { String(cString: strerror(errno)) }
}
