import CLinux  // SOCK_STREAM: a clean build finds it in CLinux's module
import Glibc

/// A reload's hand-over, as HAProxy's old process does it: the soft-stopping process
/// connects to the local peer's address, where the new process listens by now, as the
/// local peer itself, and teaches it every live entry. Blocking, bounded by `timeout`:
/// it runs once, while the old process stops, and a process that exits right after must
/// not cut it short.
extension PeerSection {
    func teachSuccessor(timeoutMilliseconds: Int = 1000) {
        guard let port = configuration.bindPort, port > 0 else { return }
        let host = configuration.bindHost.flatMap { $0.isEmpty || $0 == "*" || $0 == "0.0.0.0" ? nil : $0 } ?? "127.0.0.1"
        guard let ip = AddressParser.numericIP(host), case .v4 = ip else { return }  // IPv6 peers: not handed over
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var timeout = timeval(tv_sec: timeoutMilliseconds / 1000, tv_usec: (timeoutMilliseconds % 1000) * 1000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        withUnsafeMutableBytes(of: &address.sin_addr) { raw in
            for (i, b) in ip.bytes.enumerated() { raw[i] = b }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0, sendAll(fd, PeerProtocol.hello(to: localName, from: localName, pid: pid)) else { return }
        var status = [UInt8](repeating: 0, count: 4)
        guard read(fd, &status, 4) == 4, status == Array("200\n".utf8) else { return }
        guard sendAll(fd, successorLesson()) else { return }
        // Done writing; the successor closes once it has read everything (or the timeout).
        shutdown(fd, Int32(SHUT_WR))
        var sink = [UInt8](repeating: 0, count: 4096)
        while read(fd, &sink, sink.count) > 0 {}
    }

    private func sendAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }
}
