import Foundation

/// A line-oriented client of a Unix stream socket (the control socket), with timeouts:
/// what vrrpd does when it subscribes, reduced to what tests need.
final class UnixLineClient {
    enum Event: Equatable {
        case line(String)
        case eof
        case timeout
    }

    let fd: Int32
    private var pending: [UInt8] = []
    private var sawEOF = false

    init(path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.prefix(raw.count - 1).enumerated() { raw[i] = byte }
        }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        if rc != 0 {
            let code = errno
            Foundation.close(fd)
            throw TestFailure("connect to \(path): errno \(code)")
        }
    }

    func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Foundation.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { throw TestFailure("send failed: errno \(errno)") }
            offset += n
        }
    }

    /// The next complete line (without its newline), EOF, or nothing within `timeout`.
    func next(timeout: TimeInterval = 5) -> Event {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                return .line(line)
            }
            if sawEOF { return .eof }
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { return .timeout }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(max(1, left * 1000)))
            if ready < 0, errno == EINTR { continue }
            if ready <= 0 { return .timeout }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { sawEOF = true } else { pending += chunk[0..<n] }
        }
    }

    /// The next line, or a failure naming what came instead.
    func line(timeout: TimeInterval = 5) throws -> String {
        switch next(timeout: timeout) {
        case .line(let text): return text
        case .eof: throw TestFailure("EOF instead of a line")
        case .timeout: throw TestFailure("no line within \(timeout) s")
        }
    }

    /// Lines up to and including `last`.
    func lines(through last: String, timeout: TimeInterval = 5) throws -> [String] {
        var lines: [String] = []
        while true {
            let text = try line(timeout: timeout)
            lines.append(text)
            if text == last { return lines }
        }
    }

    private var closed = false
    func close() {
        guard !closed else { return }
        closed = true
        Foundation.close(fd)
    }
    deinit { close() }
}
