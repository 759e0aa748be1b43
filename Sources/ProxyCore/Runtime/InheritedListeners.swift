#if canImport(Glibc)
import Glibc
#endif

/// Listening sockets this process did not open itself: handed over by the master (`-W`),
/// by the process it replaces (`-x`, HAProxy's `_getsocks`), or named by `fd@N`. A `bind`
/// takes the one listening on its address instead of binding a new socket, so the socket
/// (and the connections queued in it) lives on across the reload: nothing is refused or
/// reset while the old process stops.
public final class InheritedListeners {
    /// Descriptor by address key (`key(of:)`), not yet taken by a `bind`.
    private var available: [String: Int32] = [:]

    public init() {}

    /// Takes `descriptors` (they become ours to close), keyed by the address each one
    /// listens on. One that is not a listening socket is closed at once.
    public init(descriptors: [Int32]) {
        for fd in descriptors {
            if let key = Self.key(ofSocket: fd), available[key] == nil {
                available[key] = fd
            } else {
                close(fd)
            }
        }
    }

    public var isEmpty: Bool { available.isEmpty }
    public var count: Int { available.count }

    /// The socket listening on `address`, removed from the pool; nil when none was handed over.
    public func take(_ address: BindAddress) -> Int32? {
        guard let key = Self.key(of: address), let fd = available.removeValue(forKey: key) else { return nil }
        // A filter is the socket's, not a process's: one a predecessor attached to drain for
        // vrrpd (ListenerDrain) and could not lift before it went would leave us deaf.
        var none: CInt = 0
        _ = setsockopt(fd, SOL_SOCKET, 27 /* SO_DETACH_FILTER */, &none, socklen_t(MemoryLayout<CInt>.size))
        return fd
    }

    /// Closes what no `bind` took: addresses the new configuration no longer listens on.
    public func closeUnused() {
        for fd in available.values { close(fd) }
        available.removeAll()
    }

    /// `tcp4 a.b.c.d:port`, `tcp6 [..]:port` or `unix PATH`, as a `bind` writes it.
    public static func key(of address: BindAddress) -> String? {
        switch address {
        case let .inet(host, port):
            guard let host else { return "tcp4 0.0.0.0:\(port)" }
            return host.isIPv6 ? "tcp6 [\(host)]:\(port)" : "tcp4 \(host):\(port)"
        case let .unix(path):
            return "unix \(path)"
        case .abstract, .fileDescriptor:
            return nil
        }
    }

    /// The same key for a listening stream socket, from `getsockname`. A Unix socket is
    /// bound under `PATH.<pid>.tmp` then renamed (UnixSocketFile): the kernel still
    /// reports the temporary name, so that suffix is taken off.
    public static func key(ofSocket fd: Int32) -> String? {
        var accepting: CInt = 0
        var length = socklen_t(MemoryLayout<CInt>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &length) == 0, accepting != 0 else { return nil }
        var storage = sockaddr_storage()
        var size = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let status = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &size) }
        }
        guard status == 0 else { return nil }
        switch Int32(storage.ss_family) {
        case AF_INET:
            let a = withUnsafeBytes(of: &storage) { $0.load(as: sockaddr_in.self) }
            let b = withUnsafeBytes(of: a.sin_addr) { Array($0) }
            return "tcp4 \(IPAddress.v4(b[0], b[1], b[2], b[3])):\(UInt16(bigEndian: a.sin_port))"
        case AF_INET6:
            let a = withUnsafeBytes(of: &storage) { $0.load(as: sockaddr_in6.self) }
            let b = withUnsafeBytes(of: a.sin6_addr) { Array($0) }
            return "tcp6 [\(IPAddress.v6(b))]:\(UInt16(bigEndian: a.sin6_port))"
        case AF_UNIX:
            let pathBytes = withUnsafeBytes(of: &storage) { raw -> [UInt8] in
                let offset = MemoryLayout<sa_family_t>.size
                let end = min(Int(size), raw.count)
                guard end > offset else { return [] }
                return Array(raw[offset..<end].prefix { $0 != 0 })
            }
            guard !pathBytes.isEmpty else { return nil }  // abstract or unnamed
            var path = String(decoding: pathBytes, as: UTF8.self)
            if path.hasSuffix(".tmp"), let dot = path.dropLast(4).lastIndex(of: "."),
               path[path.index(after: dot)..<path.index(path.endIndex, offsetBy: -4)].allSatisfy(\.isNumber) {
                path = String(path[..<dot])
            }
            return "unix \(path)"
        default:
            return nil
        }
    }
}
