import Foundation
import NIOConcurrencyHelpers

/// A server that takes each connection's bytes until the client is quiet for a moment,
/// keeps them, and answers `200` with `Connection: close`.
final class RecordingServer {
    let port: Int
    private let fd: Int32
    private let state = NIOLockedValueBox<(stopped: Bool, received: [[UInt8]])>((false, []))
    private let done = DispatchSemaphore(value: 0)

    var received: [[UInt8]] { state.withLockedValue { $0.received } }
    func reset() { state.withLockedValue { $0.received = [] } }

    /// How long a connection must be quiet before its bytes count as all it sends.
    private let quiet: Int

    init(quietMilliseconds: Int = 300) throws {
        quiet = quietMilliseconds
        // Accepts time out every 200 ms, so that `stop` ends the thread.
        (fd, port) = try TCP.listenOnLoopback(backlog: 16, name: "recording server")
        Thread { [self] in
            while !state.withLockedValue({ $0.stopped }) {
                let client = accept(fd, nil, nil)
                if client >= 0 { serve(client) }
            }
            done.signal()
        }.start()
    }

    private func serve(_ client: Int32) {
        defer { close(client) }
        // The first bytes may take a while on a busy machine (the proxy connected, then
        // lost the CPU); after them, `quiet` ends the request.
        var tv = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while bytes.count < 1 << 20 {
            let n = chunk.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            if bytes.isEmpty {
                tv = timeval(tv_sec: quiet / 1000, tv_usec: (quiet % 1000) * 1000)
                setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            }
            bytes += chunk[0..<n]
        }
        guard !bytes.isEmpty else { return }
        state.withLockedValue { $0.received.append(bytes) }
        let answer = Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".utf8)
        _ = answer.withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    func stop() {
        let wasStopped = state.withLockedValue { s -> Bool in defer { s.stopped = true }; return s.stopped }
        guard !wasStopped else { return }
        _ = done.wait(timeout: .now() + 2)
        close(fd)
    }
}
