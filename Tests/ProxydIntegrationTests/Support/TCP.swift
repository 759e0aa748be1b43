import Foundation

/// Blocking TCP client helpers for tests: raw bytes in, raw bytes out.
enum TCP {
    /// Every port `freePort` has handed out in this process.
    private static let portsGiven = NSLock()
    nonisolated(unsafe) private static var given = Set<Int>()

    /// A port nobody listens on right now (bound to 0, then released), and one this
    /// process has not handed out before. The kernel may give the same port to two
    /// binds in a row (about one set of eight in 300 here); HAProxy binds with
    /// SO_REUSEPORT, so two listeners would then share a port without an error, each
    /// taking some of the other's connections.
    static func freePort() -> Int {
        for _ in 0..<1000 {
            let port = kernelPickedPort()
            if portsGiven.withLock({ given.insert(port).inserted }) { return port }
        }
        fatalError("freePort: 1000 ports in a row were handed out before")
    }

    private static func kernelPickedPort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    /// A listening socket on 127.0.0.1 at a port the kernel picks, for the tests' own
    /// servers; its accepts time out every 200 ms, so that a server's accept loop sees its
    /// stop. `name` goes into the error.
    static func listenOnLoopback(backlog: Int32 = 16, name: String) throws -> (fd: Int32, port: Int) {
        let sock = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(sock, $0, len) } }
        guard bound == 0, listen(sock, backlog) == 0 else { close(sock); throw TestFailure("\(name): errno \(errno)") }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(sock, $0, &len) } }
        var tv = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        return (sock, Int(UInt16(bigEndian: addr.sin_port)))
    }

    static func waitUntilListening(port: Int, timeout: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let c = try? Connection(port: port) { c.close(); return true }
            usleep(20_000)
        }
        return false
    }

    /// One client connection with a receive timeout.
    final class Connection {
        let fd: Int32
        private(set) var isClosed = false

        init(port: Int, host: String = "127.0.0.1", timeout: TimeInterval = 10) throws {
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_addr.s_addr = inet_addr(host)
            addr.sin_port = UInt16(port).bigEndian
            let rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Foundation.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            if rc != 0 { Foundation.close(fd); throw TestFailure("connect to \(port): errno \(errno)") }
            setTimeout(timeout)
        }

        func setTimeout(_ seconds: TimeInterval) {
            var tv = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1e6))
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        }

        func send(_ text: String) throws { try send(Array(text.utf8)) }

        func send(_ bytes: [UInt8]) throws {
            var offset = 0
            while offset < bytes.count {
                let n = bytes[offset...].withUnsafeBytes { Foundation.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if n <= 0 { throw TestFailure("send failed: errno \(errno)") }
                offset += n
            }
        }

        /// Half-close: no more bytes from us.
        func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }

        /// Reads once; empty means EOF; nil means timeout or error.
        func receiveSome(max: Int = 65536) -> [UInt8]? {
            var buffer = [UInt8](repeating: 0, count: max)
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, max, 0) }
            if n < 0 { return nil }
            return Array(buffer[0..<n])
        }

        /// Reads until EOF (or timeout); returns what came.
        func receiveAll() -> [UInt8] {
            var all: [UInt8] = []
            while let chunk = receiveSome(), !chunk.isEmpty { all += chunk }
            return all
        }

        /// Reads until `count` bytes came (or EOF/timeout).
        func receive(count: Int) -> [UInt8] {
            var all: [UInt8] = []
            while all.count < count, let chunk = receiveSome(max: count - all.count), !chunk.isEmpty { all += chunk }
            return all
        }

        /// Reads one HTTP/1.1 response (head + Content-Length or chunked body).
        func receiveResponse() throws -> HTTPTestResponse {
            var data: [UInt8] = []
            while true {
                if let response = HTTPTestResponse.parse(data) { return response }
                guard let chunk = receiveSome(), !chunk.isEmpty else {
                    throw TestFailure("connection ended before a full response; got \(String(decoding: data, as: UTF8.self).debugDescription)")
                }
                data += chunk
            }
        }

        /// Closes with a reset (SO_LINGER 0) instead of a FIN.
        func reset() {
            var linger = Foundation.linger(l_onoff: 1, l_linger: 0)
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Foundation.linger>.size))
            close()
        }

        func close() {
            guard !isClosed else { return }
            isClosed = true
            Foundation.close(fd)
        }

        deinit { close() }
    }
}

/// A parsed HTTP response, for assertions.
struct HTTPTestResponse {
    var status: Int
    var headers: [(String, String)]
    var body: [UInt8]
    var bodyText: String { String(decoding: body, as: UTF8.self) }
    var byteCount: Int

    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    /// Parses a complete response from the start of `data`, or nil if incomplete.
    static func parse(_ data: [UInt8]) -> HTTPTestResponse? {
        guard let headEnd = find([13, 10, 13, 10], in: data, from: 0) else { return nil }
        let head = String(decoding: data[0..<headEnd], as: UTF8.self)
        var lines = head.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { return nil }
        let headers = lines.compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        var response = HTTPTestResponse(status: status, headers: headers, body: [], byteCount: 0)
        let bodyStart = headEnd + 4
        if (100..<200).contains(status) && status != 101 {
            // Interim response: the caller reads the next one from the remaining bytes.
            response.byteCount = bodyStart
            return response
        }
        if let te = response.header("transfer-encoding"), te.lowercased().contains("chunked") {
            var offset = bodyStart
            var body: [UInt8] = []
            while true {
                guard let lineEnd = find([13, 10], in: data, from: offset) else { return nil }
                let sizeText = String(decoding: data[offset..<lineEnd], as: UTF8.self).split(separator: ";")[0]
                guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else { return nil }
                offset = lineEnd + 2
                if size == 0 {
                    guard let end = find([13, 10, 13, 10], in: data, from: offset - 2) else { return nil }
                    response.body = body
                    response.byteCount = end + 4
                    return response
                }
                guard data.count >= offset + size + 2 else { return nil }
                body += data[offset..<offset + size]
                offset += size + 2
            }
        }
        let length = Int(response.header("content-length") ?? "0") ?? 0
        guard data.count >= bodyStart + length else { return nil }
        response.body = Array(data[bodyStart..<bodyStart + length])
        response.byteCount = bodyStart + length
        return response
    }

    static func find(_ needle: [UInt8], in data: [UInt8], from: Int) -> Int? {
        guard data.count >= needle.count else { return nil }
        var i = from
        while i + needle.count <= data.count {
            if data[i] == needle[0], Array(data[i..<i + needle.count]) == needle { return i }
            i += 1
        }
        return nil
    }
}
