#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// One connection to proxyd's control socket, subscribed with `subscribe ha hold`: a
/// non-blocking Unix stream socket read by the daemon's poll loop. It knows nothing of VRRP:
/// it turns bytes into `ProxydEvent`s and keeps the `ProxydView` they build.
final class ProxydLink {
    let path: String
    private(set) var fd: Int32 = -1
    private(set) var view = ProxydView()
    let openedAt: Nanos
    /// When the last ping went out and no pong came back yet.
    var pingSentAt: Nanos?
    var nextPing: Nanos = 0
    private var pending: [UInt8] = []
    private var unsent: [UInt8] = []

    /// A line longer than this is not proxyd talking.
    static let maxLine = 4096
    /// Bytes read per poll round: a flood of events never holds the loop (and adverts) up.
    static let readBudget = 64 * 1024

    enum Failure: Error, CustomStringConvertible {
        case system(String, Int32)
        case closed
        case protocolViolation(String)

        var description: String {
            switch self {
            case .system(let what, let e):
                let text = String(cString: strerror(e))
                switch e {
                case ENOENT: return "\(what): no such socket (is proxyd running, with this 'stats socket'?)"
                case ECONNREFUSED: return "\(what): connection refused (proxyd is not running)"
                default: return "\(what): \(text)"
                }
            case .closed: return "proxyd closed the connection"
            case .protocolViolation(let why): return why
            }
        }
    }

    /// Connect and subscribe. A Unix connect completes or fails at once, so an error here
    /// is final for this attempt.
    init(path: String, now: Nanos) throws {
        self.path = path
        openedAt = now
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw Failure.system("socket", errno) }
        var sa = sockaddr_un()
        sa.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: sa.sun_path) else {
            Glibc.close(fd); fd = -1
            throw Failure.system(path, ENAMETOOLONG)
        }
        withUnsafeMutableBytes(of: &sa.sun_path) { p in for (i, b) in bytes.enumerated() { p[i] = b } }
        let r = withUnsafePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if r != 0 && errno != EINPROGRESS && errno != EAGAIN {
            let e = errno
            Glibc.close(fd); fd = -1
            throw Failure.system(path, e)
        }
        send("subscribe ha hold")
    }

    deinit { close() }

    var isOpen: Bool { fd >= 0 }
    var wantsWrite: Bool { !unsent.isEmpty }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    /// Queue a line and write what the socket takes now.
    func send(_ line: String) {
        unsent += Array((line + "\n").utf8)
        flush()
    }

    func flush() {
        while fd >= 0 && !unsent.isEmpty {
            let n = unsent.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
            if n > 0 { unsent.removeFirst(n); continue }
            // EAGAIN: the poll loop asks for POLLOUT; anything else shows up as a failed read.
            break
        }
    }

    /// Read what is there (at most `readBudget` bytes) and return the events it completes.
    /// Throws when the connection ended or carried something that is not proxyd's protocol.
    func readEvents() throws -> [ProxydEvent] {
        var events: [ProxydEvent] = []
        var budget = ProxydLink.readBudget
        var buf = [UInt8](repeating: 0, count: 4096)
        while budget > 0 && fd >= 0 {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n == 0 { throw Failure.closed }
            if n < 0 {
                if errno == EAGAIN || errno == EINTR { break }
                throw Failure.system("read \(path)", errno)
            }
            budget -= n
            pending += buf[0..<n]
            while let nl = pending.firstIndex(of: 10) {
                let line = String(decoding: pending[..<nl], as: UTF8.self)
                pending.removeSubrange(...nl)
                do {
                    if let e = try view.apply(Substring(line)) { events.append(e) }
                } catch let v as ProxydView.Violation {
                    switch v {
                    case .notProxyd(let said): throw Failure.protocolViolation("\(path) is not proxyd's control socket (it answered '\(said)')")
                    case .unsupportedVersion(let version): throw Failure.protocolViolation("proxyd at \(path) speaks ha protocol version \(version); vrrpd knows version 1")
                    case .outOfOrder(let what): throw Failure.protocolViolation("proxyd at \(path) sent \(what)")
                    }
                }
            }
            if pending.count > ProxydLink.maxLine {
                throw Failure.protocolViolation("\(path) sent a line longer than \(ProxydLink.maxLine) bytes: not proxyd's control socket")
            }
        }
        return events
    }
}
