#if canImport(Glibc)
import Glibc
#endif
import CLinux  // SOCK_*, IPPROTO_*: a clean build finds them in CLinux's module (which includes their headers)
import Atomics

/// Where log lines go: a syslog socket (Unix datagram such as `/dev/log`, or UDP) or a
/// standard stream. Sending never blocks: a socket that is gone, refuses, or whose buffer
/// is full loses the line, and the loss is counted in `show info`'s `DroppedLogs`. HAProxy
/// 2.6 counts only a full buffer there and prints a missing or refusing socket once on
/// stderr; proxyd counts every lost line (an operator reading `DroppedLogs: 0` must be
/// able to trust that nothing was lost) and prints the first failure as HAProxy does.
///
/// One sink per destination, shared by every proxy and event loop that logs there: one
/// `sendto` per line is atomic for datagrams, so no lock is needed.
public final class LogSink: @unchecked Sendable {
    public let destination: LogTarget.Destination
    /// Lines sent whole.
    public let sent = ManagedAtomic<Int>(0)
    /// Lines lost (socket missing, refused, full, or a stream that would block).
    public let dropped = ManagedAtomic<Int>(0)
    /// HAProxy's logger number in its alert (`failed in logger #1`): this sink's rank.
    public let number: Int
    private let failureReported = ManagedAtomic(false)

    private enum Kind {
        case datagram(fd: Int32, address: [UInt8])
        /// A stream socket (stdout under systemd is one): `send` with MSG_DONTWAIT.
        case streamSocket(fd: Int32)
        case stream(fd: Int32)
        case none
    }
    private let kind: Kind

    public init(destination: LogTarget.Destination, number: Int = 1) {
        self.destination = destination
        self.number = number
        switch destination {
        case .unixSocket(let path):
            let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            kind = fd >= 0 ? .datagram(fd: fd, address: Self.unixAddress(path)) : .none
        case .udp(let host, let port):
            if let (family, address) = Self.resolve(host: host, port: port) {
                let fd = socket(family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
                kind = fd >= 0 ? .datagram(fd: fd, address: address) : .none
            } else {
                kind = .none
            }
        case .stdout:
            kind = Self.streamKind(1)
        case .stderr:
            kind = Self.streamKind(2)
        case .fileDescriptor(let fd):
            kind = Self.streamKind(fd)
        case .tcp:
            // HAProxy sends TCP syslog through a ring buffer; not supported: lines are lost.
            kind = .none
        }
    }

    deinit {
        if case .datagram(let fd, _) = kind { close(fd) }
    }

    /// Sends one complete line (header, message and, for streams, the newline).
    public func send(_ bytes: UnsafeRawBufferPointer) {
        let ok: Bool
        switch kind {
        case .datagram(let fd, let address):
            ok = address.withUnsafeBytes { a in
                sendto(fd, bytes.baseAddress, bytes.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL),
                       a.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(a.count))
            } == bytes.count
        case .streamSocket(let fd):
            ok = Glibc.send(fd, bytes.baseAddress, bytes.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) == bytes.count
        case .stream(let fd):
            ok = write(fd, bytes.baseAddress, bytes.count) == bytes.count
        case .none:
            ok = false
        }
        if ok {
            sent.wrappingIncrement(ordering: .relaxed)
        } else {
            let error = errno
            dropped.wrappingIncrement(ordering: .relaxed)
            // A full buffer is passing load; anything else (no socket at the path, no
            // syslog listening, a chroot without dev/log) stays until fixed: said once.
            if error != EAGAIN && error != EWOULDBLOCK,
               failureReported.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged {
                reportFailure(error)
            }
        }
    }

    private func reportFailure(_ error: Int32) {
        if case .none = kind {
            ConsoleEcho.alert("logger #\(number): no socket to send lines to (TCP syslog is not supported, or the host did not resolve): lines are lost.")
        } else {
            ConsoleEcho.alert("sendmsg()/writev() failed in logger #\(number): \(String(cString: strerror(error))) (errno=\(error))")
        }
    }

    /// A socket is written with MSG_DONTWAIT; a pipe or file is made non-blocking; a
    /// terminal is left as it is (its flags are the shell's too).
    private static func streamKind(_ fd: Int32) -> Kind {
        var info = stat()
        guard fstat(fd, &info) == 0 else { return .none }
        if info.st_mode & S_IFMT == S_IFSOCK { return .streamSocket(fd: fd) }
        if isatty(fd) == 0 {
            let flags = fcntl(fd, F_GETFL)
            if flags >= 0 { _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK) }
        }
        return .stream(fd: fd)
    }

    private static func unixAddress(_ path: String) -> [UInt8] {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8.prefix(MemoryLayout.size(ofValue: address.sun_path) - 1))
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        let length = MemoryLayout<sa_family_t>.size + bytes.count + 1
        return withUnsafeBytes(of: &address) { Array($0.prefix(length)) }
    }

    /// Resolves a syslog host once, at start-up (as HAProxy does when parsing).
    private static func resolve(host: String, port: Int) -> (Int32, [UInt8])? {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_DGRAM.rawValue)
        hints.ai_family = AF_UNSPEC
        var result: UnsafeMutablePointer<addrinfo>?
        let name = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        guard getaddrinfo(name.isEmpty ? "127.0.0.1" : name, String(port), &hints, &result) == 0,
              let first = result else { return nil }
        defer { freeaddrinfo(result) }
        let bytes = Array(UnsafeRawBufferPointer(start: first.pointee.ai_addr, count: Int(first.pointee.ai_addrlen)))
        return (first.pointee.ai_family, bytes)
    }
}
