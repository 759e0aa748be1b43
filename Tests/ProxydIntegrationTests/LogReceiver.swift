import Foundation
import NIOConcurrencyHelpers

/// A syslog server for tests: a Unix datagram socket that keeps every line it receives,
/// as `/dev/log` would. Lines are kept as sent (with their `<PRI>` header).
final class LogReceiver: @unchecked Sendable {
    let path: String
    private let fd: Int32
    private let lines = NIOLockedValueBox<[String]>([])
    private let stopped = NIOLockedValueBox(false)
    private var thread: Thread?

    /// `reading` false: bind the socket but never read it, like a stuck syslog daemon.
    /// `path`: where to listen (a syslog appearing where a running proxyd sends).
    init(reading: Bool = true, path: String? = nil) throws {
        let path = path ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("proxyd-log-\(UUID().uuidString.prefix(8)).sock").path
        self.path = path
        unlink(path)
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        self.fd = fd
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in path.utf8.enumerated() { raw[i] = b }
        }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else { throw TestFailure("bind \(path): errno \(errno)") }
        var tv = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let lines = self.lines, stopped = self.stopped
        let thread = Thread {
            var buffer = [UInt8](repeating: 0, count: 65536)
            while !stopped.withLockedValue({ $0 }) {
                let n = recv(fd, &buffer, buffer.count, 0)
                if n > 0 {
                    let line = String(decoding: buffer[0..<n], as: UTF8.self)
                    lines.withLockedValue { $0.append(line) }
                }
            }
        }
        self.thread = thread
        if reading { thread.start() }
    }

    var all: [String] { lines.withLockedValue { $0 } }

    /// Messages without their syslog header (`<PRI>Mon DD HH:MM:SS [host ]tag[pid]: `) nor newline.
    var messages: [String] {
        all.map { line in
            var text = line.hasSuffix("\n") ? String(line.dropLast()) : line
            if let range = text.range(of: "]: ") { text = String(text[range.upperBound...]) }
            return text
        }
    }

    /// Waits (bounded) until a message contains `text`; returns it.
    @discardableResult
    func wait(for text: String, timeout: TimeInterval = 5) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let found = messages.first(where: { $0.contains(text) }) { return found }
            usleep(20_000)
        }
        return nil
    }

    func stop() {
        stopped.withLockedValue { $0 = true }
        usleep(150_000)
        close(fd)
        unlink(path)
    }

    deinit { if !stopped.withLockedValue({ $0 }) { stop() } }
}

/// A TCP port that takes no connection: its accept queue is full, so SYNs are dropped and
/// connecting times out, as with a server whose address stopped answering.
final class BlackHole {
    let port: Int
    private let listener: Int32
    private var fillers: [Int32] = []

    init() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.listener = listener
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, len) } }
        listen(listener, 0)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &len) } }
        port = Int(UInt16(bigEndian: addr.sin_port))
        // Fill the accept queue with connections nobody accepts.
        for _ in 0..<3 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            _ = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            fillers.append(fd)
        }
        usleep(50_000)
    }

    private var closed = false
    func close() {
        guard !closed else { return }
        closed = true
        for fd in fillers { Foundation.close(fd) }
        Foundation.close(listener)
    }

    deinit { close() }
}
