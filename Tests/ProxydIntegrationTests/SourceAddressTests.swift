import Foundation
import XCTest

/// `source ADDR [usesrc client|clientip|ADDR]`: the address a server sees proxyd's
/// connections come from, side by side with HAProxy 2.6 on the same config. On the
/// loopback every 127/8 address is this host's, so the transparent (`usesrc`) binds need
/// no TPROXY routing here; `usesrc client` (the client's port too) cannot be shown so: the
/// client's own socket holds that address and port on this host, for HAProxy as for us.
final class SourceAddressTests: XCTestCase {
    func testServersSeeTheConfiguredSourceAsHAProxy() throws {
        let server = try PeerReportingServer()
        defer { server.stop() }
        let frontends = [
            ("backend", "source 127.0.0.3", ""),
            ("server", "source 127.0.0.3", " source 127.0.0.4"),
            ("clientip", "source 0.0.0.0 usesrc clientip", ""),
            ("fixed", "source 0.0.0.0 usesrc 127.0.0.6", ""),
        ]
        var ports: [String: (haproxy: Int, proxyd: Int)] = [:]
        func config(_ side: String) -> String {
            var text = """
                global
                    nbthread 1
                defaults
                    mode tcp
                    timeout connect 1s
                    timeout client 5s
                    timeout server 5s

                """
            for (name, proxySource, serverSource) in frontends {
                let port = side == "haproxy" ? ports[name]!.haproxy : ports[name]!.proxyd
                text += """
                    listen \(name)
                        bind 127.0.0.1:\(port)
                        \(proxySource)
                        server s 127.0.0.1:\(server.port)\(serverSource)

                    """
            }
            return text
        }
        for (name, _, _) in frontends { ports[name] = (TCP.freePort(), TCP.freePort()) }
        let reference = try ReferenceHAProxy(config: config("haproxy"), waitForPorts: ports.values.map(\.haproxy))
        defer { reference.stop() }
        let proxy = try ProxydProcess(config: config("proxyd"), waitForPorts: ports.values.map(\.proxyd))
        defer { proxy.stop() }
        for (name, _, _) in frontends {
            let viaHAProxy = try peerSeen(through: ports[name]!.haproxy, from: "127.0.0.5")
            let viaProxyd = try peerSeen(through: ports[name]!.proxyd, from: "127.0.0.5")
            // The client's port differs between the two connections: compare the address,
            // and whether the server saw the client's port.
            XCTAssertEqual(viaProxyd.address, viaHAProxy.address, "\(name)")
            XCTAssertEqual(viaProxyd.keptClientPort, viaHAProxy.keptClientPort, "\(name)")
        }
        let clientIP = try peerSeen(through: ports["clientip"]!.proxyd, from: "127.0.0.5")
        XCTAssertEqual(clientIP.address, "127.0.0.5")
        XCTAssertEqual(try peerSeen(through: ports["server"]!.proxyd, from: "127.0.0.5").address, "127.0.0.4")
    }

    /// What the server saw: the peer's address, and whether its port was the client's.
    private func peerSeen(through port: Int, from clientAddress: String) throws -> (address: String, keptClientPort: Bool) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var local = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        local.sin_addr.s_addr = inet_addr(clientAddress)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        var remote = sockaddr_in()
        remote.sin_family = sa_family_t(AF_INET)
        remote.sin_addr.s_addr = inet_addr("127.0.0.1")
        remote.sin_port = UInt16(port).bigEndian
        let connected = withUnsafePointer(to: &remote) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) } }
        guard connected == 0 else { throw TestFailure("connect to \(port): errno \(errno)") }
        _ = withUnsafeMutablePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        let clientPort = Int(UInt16(bigEndian: local.sin_port))
        var tv = timeval(tv_sec: 3, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8](repeating: 0, count: 128)
        let n = recv(fd, &buffer, buffer.count, 0)
        guard n > 0 else { throw TestFailure("no answer through \(port)") }
        let line = String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let parts = line.split(separator: " ")
        return (String(parts.first ?? ""), parts.count > 1 && Int(parts[1]) == clientPort)
    }
}

/// Answers each connection with "ADDRESS PORT\n" of its peer, then closes it.
private final class PeerReportingServer: @unchecked Sendable {
    let port: Int
    private let fd: Int32
    private let stopped = NSLock()
    private var isStopped = false

    init() throws {
        (fd, port) = try TCP.listenOnLoopback(name: "peer-reporting server")
        Thread { [self] in
            while !stopped.withLock({ isStopped }) {
                var peer = sockaddr_in()
                var length = socklen_t(MemoryLayout<sockaddr_in>.size)
                let client = withUnsafeMutablePointer(to: &peer) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { accept(fd, $0, &length) }
                }
                guard client >= 0 else { continue }
                var text = [CChar](repeating: 0, count: 64)
                var address = peer.sin_addr
                inet_ntop(AF_INET, &address, &text, socklen_t(text.count))
                let line = "\(String(cString: text)) \(UInt16(bigEndian: peer.sin_port))\n"
                _ = line.withCString { send(client, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
                close(client)
            }
        }.start()
    }

    func stop() {
        stopped.withLock { isStopped = true }
        close(fd)
    }
}
