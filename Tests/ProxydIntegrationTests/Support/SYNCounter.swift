import Foundation
import Glibc

/// Counts the TCP connection attempts (SYNs without ACK) that reach a port on this host,
/// seen by a raw IPv4 socket (root only). A server counts only the connections it
/// accepts; health checks that never complete their handshake (HAProxy's plain checks,
/// whose last ACK is delayed and then reset) are counted here.
final class SYNCounter: @unchecked Sendable {
    private let fd: Int32
    private let port: UInt16
    private let lock = NSLock()
    private var seen = 0
    private var stopping = false
    private let finished = DispatchSemaphore(value: 0)

    init(port: Int) throws {
        self.port = UInt16(port)
        fd = socket(AF_INET, Int32(SOCK_RAW.rawValue), Int32(IPPROTO_TCP))
        guard fd >= 0 else {
            throw NSError(domain: "SYNCounter", code: Int(errno),
                          userInfo: [NSLocalizedDescriptionKey: "raw socket: \(String(cString: strerror(errno)))"])
        }
        // Wakes the reader every 100 ms so that `stop` never waits on a quiet port.
        var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        Thread.detachNewThread { [self] in read() }
    }

    var count: Int { lock.withLock { seen } }

    func stop() {
        lock.withLock { stopping = true }
        finished.wait()
        close(fd)
    }

    private func read() {
        var packet = [UInt8](repeating: 0, count: 2048)
        while !lock.withLock({ stopping }) {
            let n = recv(fd, &packet, packet.count, 0)
            guard n > 0 else { continue }
            // IPv4 header (its length in the low nibble, in words), then the TCP header:
            // destination port at bytes 2-3, flags at byte 13 (SYN 0x02, ACK 0x10).
            let ipLength = Int(packet[0] & 0x0f) * 4
            guard n >= ipLength + 14 else { continue }
            let destination = UInt16(packet[ipLength + 2]) << 8 | UInt16(packet[ipLength + 3])
            let flags = packet[ipLength + 13]
            if destination == port && flags & 0x02 != 0 && flags & 0x10 == 0 {
                lock.withLock { seen += 1 }
            }
        }
        finished.signal()
    }
}
