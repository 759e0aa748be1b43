#if canImport(Glibc)
import CLinux  // IPPROTO_TCP: <netinet/in.h> belongs to CLinux's module since it includes it
import Glibc
#endif

/// A listening socket opened without an event loop: by the master process (`-W`), which
/// holds its workers' listeners and has no NIO of its own. The options are those the
/// worker's own bind uses (ProxyRuntime.bind), so a worker cannot tell the difference.
public enum ListenerSocket {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// The listen queue HAProxy gives a bind: its `backlog`, else the frontend's `maxconn`
    /// (the global one by default), so that a burst of connects waits in the kernel
    /// instead of being dropped. The kernel caps it at net.core.somaxconn.
    public static func backlog(of bind: BindSettings, frontendMaxConnections: Int?) -> Int32 {
        Int32(clamping: max(1, bind.backlog ?? frontendMaxConnections ?? 1024))
    }

    /// A listening socket for `bind`, close-on-exec (the master passes it on explicitly),
    /// with the socket file's record for `bind /path`.
    public static func open(_ bind: BindSettings, backlog: Int32) throws -> (fd: Int32, file: UnixSocketFile?) {
        switch bind.address {
        case let .inet(host, port):
            return (try openTCP(host: host, port: port, backlog: backlog), nil)
        case let .unix(path):
            let ownership = UnixSocketFile.Ownership(mode: bind.unixMode, uid: bind.unixUID, gid: bind.unixGID,
                                                     user: bind.unixUser, group: bind.unixGroup)
            do {
                let (fd, file) = try UnixSocketFile.listen(path: path, backlog: backlog, ownership: ownership)
                return (fd, file)
            } catch {
                throw Failure(description: "\(error)")
            }
        case .abstract, .fileDescriptor:
            throw Failure(description: "listening on \(bind.address) is not supported yet")
        }
    }

    private static func openTCP(host: IPAddress?, port: Int, backlog: Int32) throws -> Int32 {
        let family = host?.isIPv6 == true ? AF_INET6 : AF_INET
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: String(cString: strerror(errno))) }
        var one: CInt = 1
        // As the worker's bind: SO_REUSEPORT lets a `-sf` process bind beside this one.
        for (level, name) in [(SOL_SOCKET, SO_REUSEADDR), (SOL_SOCKET, SO_REUSEPORT), (Int32(IPPROTO_TCP), TCP_NODELAY)] {
            _ = setsockopt(fd, level, name, &one, socklen_t(MemoryLayout<CInt>.size))
        }
        let bytes = host?.bytes ?? [0, 0, 0, 0]
        var status: Int32
        if family == AF_INET6 {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = UInt16(port).bigEndian
            withUnsafeMutableBytes(of: &address.sin6_addr) { raw in for (i, b) in bytes.enumerated() { raw[i] = b } }
            status = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        } else {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = UInt16(port).bigEndian
            withUnsafeMutableBytes(of: &address.sin_addr) { raw in for (i, b) in bytes.enumerated() { raw[i] = b } }
            status = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }
        if status == 0 { status = listen(fd, backlog) }
        guard status == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw Failure(description: reason)
        }
        return fd
    }
}
