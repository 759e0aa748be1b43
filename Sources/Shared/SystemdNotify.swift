#if canImport(Glibc)
import Glibc
#endif
import CSystemd

/// Readiness and status reports to systemd (`Type=notify` units).
/// Without `$NOTIFY_SOCKET` these are no-ops, as sd_notify itself is.
public enum SystemdNotify {
    /// A datagram socket already connected to `$NOTIFY_SOCKET`, opened by
    /// `connectBeforeChroot()`: once chrooted, the socket's path is out of reach and
    /// sd_notify (which opens it by name at every call) can no longer tell systemd
    /// anything, so a `Type=notify` unit would time out waiting for READY=1.
    private static var connected: Int32 = -1

    public static func ready() { send("READY=1") }

    /// Says nothing on purpose. The process a reload replaces (`-sf`) stops too, and
    /// systemd would take its STOPPING=1 (or its status line) for the whole service's:
    /// STOPPING=1 stops the unit, new process included. systemd learns of a real stop
    /// anyway (it sent the SIGTERM, or it sees the main process exit).
    public static func stopping() {}

    public static func status(_ text: String) { send("STATUS=\(text)") }

    /// Any state line(s) as is (`RELOADING=1`, `READY=1\nSTATUS=…`, `STOPPING=1`): for the
    /// master of `-Ws`, which speaks for the whole service.
    public static func notify(_ message: String) { send(message) }

    /// Connects to `$NOTIFY_SOCKET` now (before `chroot`); later messages go through that
    /// connection. Does nothing without `$NOTIFY_SOCKET` or when it cannot connect (the
    /// messages then go through sd_notify, as before).
    public static func connectBeforeChroot() {
        guard connected < 0, let value = getenv("NOTIFY_SOCKET") else { return }
        var path = Array(String(cString: value).utf8)
        guard let first = path.first, first == UInt8(ascii: "/") || first == UInt8(ascii: "@") else { return }
        if first == UInt8(ascii: "@") { path[0] = 0 }  // an abstract socket
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.count < capacity else { return }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.enumerated() { raw[i] = byte }
        }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + path.count)
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) }
        }
        guard status == 0 else {
            close(fd)
            return
        }
        connected = fd
    }

    private static func send(_ message: String) {
        guard connected >= 0 else {
            _ = sd_notify(0, message)
            return
        }
        _ = message.withCString { Glibc.send(connected, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
    }
}
