import Foundation
import NIOConcurrencyHelpers

/// An HTTP/1.1 server that answers each request with the bytes given for its path
/// (status line, headers, body and framing written by the test), keeping connections
/// alive; unknown paths get a 404. One thread per connection; `stop` ends them.
final class CannedHTTPServer {
    let port: Int
    private let fd: Int32
    private let answers: [String: [UInt8]]
    private let state = NIOLockedValueBox<(stopped: Bool, heads: [String])>((false, []))

    /// The request heads received, in order.
    var heads: [String] { state.withLockedValue { $0.heads } }

    init(answers: [String: String]) throws {
        self.answers = answers.mapValues { Array($0.utf8) }
        // Accepts time out every 200 ms, so that `stop` ends the thread.
        (fd, port) = try TCP.listenOnLoopback(backlog: 64, name: "canned server")
        Thread { [self] in
            while !state.withLockedValue({ $0.stopped }) {
                let client = accept(fd, nil, nil)
                if client >= 0 { Thread { [self] in serve(client) }.start() }
            }
        }.start()
    }

    private func serve(_ client: Int32) {
        defer { close(client) }
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var pending: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while !state.withLockedValue({ $0.stopped }) {
            // One head (no request bodies here), then its answer.
            guard let end = CannedHTTPServer.headEnd(pending) else {
                let n = chunk.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
                if n <= 0 { return }
                pending += chunk[0..<n]
                continue
            }
            let head = String(decoding: pending[0..<end], as: UTF8.self)
            pending.removeFirst(end)
            state.withLockedValue { $0.heads.append(head) }
            let path = head.split(separator: " ").dropFirst().first.map(String.init) ?? "/"
            let answer = answers[path] ?? Array("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".utf8)
            var sent = 0
            while sent < answer.count {
                let n = answer[sent...].withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if n <= 0 { return }
                sent += n
            }
        }
    }

    private static func headEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for i in 0...(bytes.count - 4) where bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13 && bytes[i + 3] == 10 {
            return i + 4
        }
        return nil
    }

    func stop() {
        state.withLockedValue { $0.stopped = true }
        usleep(250_000)
        close(fd)
    }
}
