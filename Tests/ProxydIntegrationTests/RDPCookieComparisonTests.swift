import Foundation
import XCTest

/// `balance rdp-cookie` and `persist rdp-cookie` (issue 15) side by side with Debian's
/// HAProxy 2.6: real X.224 Connection Requests (TPKT header, COTP CR, the cookie line, an
/// RDP negotiation request) sent to a `listen` that waits for `RDP_COOKIE`, and which of
/// three echoing servers each one reaches.
final class RDPCookieComparisonTests: XCTestCase {
    /// A Remote Desktop client's first packet with `cookie` as its cookie line.
    static func connectionRequest(cookie: String?) -> [UInt8] {
        let line = cookie.map { Array("Cookie: \($0)\r\n".utf8) } ?? []
        let negotiation: [UInt8] = [0x01, 0x00, 0x08, 0x00, 0x03, 0x00, 0x00, 0x00]  // RDP_NEG_REQ, TLS|CredSSP
        // COTP: length indicator (what follows it), CR code, DST-REF, SRC-REF, class 0.
        let cotp: [UInt8] = [UInt8(6 + line.count + negotiation.count), 0xE0, 0, 0, 0, 0, 0]
        let length = 4 + cotp.count + line.count + negotiation.count
        return [0x03, 0x00, UInt8(length >> 8), UInt8(length & 255)] + cotp + line + negotiation
    }

    /// `msts=ADDRESS.PORT.0000` for 127.0.0.1:`port`: the address's and the port's network
    /// order bytes read as little-endian numbers (Microsoft's encoding).
    static func persistenceCookie(port: Int) -> String {
        let address: UInt32 = 127 | 1 << 24
        let encodedPort = (port & 255) << 8 | port >> 8
        return "msts=\(address).\(encodedPort).0000"
    }

    func testRDPCookieChoosesTheServerAsHAProxy() throws {
        let servers = try ["a", "b", "c"].map { try TestBackend(name: $0, behaviour: .tcpEcho) }
        defer { servers.forEach { $0.stop() } }
        let haproxyPort = TCP.freePort(), proxydPort = TCP.freePort()
        let haproxyLog = try LogReceiver(), proxydLog = try LogReceiver()
        defer { haproxyLog.stop(); proxydLog.stop() }
        func config(_ port: Int) -> String {
            """
            defaults
                mode tcp
                timeout connect 2s
                timeout client 5s
                timeout server 5s
            listen rdp
                bind 127.0.0.1:\(port)
                log \((port == haproxyPort ? haproxyLog : proxydLog).path) local0
                log-format "rdp user=%[var(sess.user)] %b/%s"
                tcp-request inspect-delay 2s
                tcp-request content set-var(sess.user) req.rdp_cookie(mstshash)
                tcp-request content accept if RDP_COOKIE
                persist rdp-cookie
                balance rdp-cookie
            \(servers.map { "    server \($0.name) 127.0.0.1:\($0.port)" }.joined(separator: "\n"))

            """
        }
        let reference = try ReferenceHAProxy(config: config(haproxyPort), waitForPorts: [haproxyPort])
        defer { reference.stop() }
        let proxy = try ProxydProcess(config: config(proxydPort), waitForPorts: [proxydPort])
        defer { proxy.stop() }
        // The probes that saw each port listen closed without a byte; let their sessions end
        // before counting connections.
        usleep(300_000)

        /// Which server got the packet: the one whose connection count grew.
        func serverReached(_ port: Int, _ packet: [UInt8], split: Bool = false) throws -> String {
            let before = servers.map(\.connectionCount)
            let client = try TCP.Connection(port: port, timeout: 3)
            defer { client.close() }
            if split {  // the cookie line arrives later: the proxy must wait for it
                try client.send(Array(packet.prefix(14)))
                usleep(150_000)
                try client.send(Array(packet.dropFirst(14)))
            } else {
                try client.send(packet)
            }
            XCTAssertEqual(client.receive(count: packet.count), packet, "echo through port \(port)")
            let after = servers.map(\.connectionCount)
            let grown = servers.indices.filter { after[$0] > before[$0] }.map { servers[$0].name }
            return grown.count == 1 ? grown[0] : "\(grown)"
        }

        // persist rdp-cookie: the cookie names the server, whatever the balance says.
        for server in servers.reversed() {
            let packet = Self.connectionRequest(cookie: Self.persistenceCookie(port: server.port))
            XCTAssertEqual(try serverReached(haproxyPort, packet), server.name)
            XCTAssertEqual(try serverReached(proxydPort, packet), server.name)
        }
        // balance rdp-cookie: mstshash=USER hashed, as HAProxy hashes it (map-based sdbm).
        let users = (1...12).map { "mstshash=user\($0)" }
        let expected = try users.map { try serverReached(haproxyPort, Self.connectionRequest(cookie: $0)) }
        let actual = try users.map { try serverReached(proxydPort, Self.connectionRequest(cookie: $0)) }
        XCTAssertEqual(actual, expected)
        XCTAssertGreaterThan(Set(expected).count, 1, "different cookies spread over servers: \(expected)")
        // The log reads the cookie through a variable set by a content rule.
        let line = "rdp user=user7 rdp/\(expected[6])"
        XCTAssertNotNil(haproxyLog.wait(for: line), "\(haproxyLog.messages)")
        XCTAssertNotNil(proxydLog.wait(for: line), "\(proxydLog.messages)")
        // Again, and with the packet cut before its cookie: the same servers.
        for (i, user) in users.prefix(4).enumerated() {
            let packet = Self.connectionRequest(cookie: user)
            XCTAssertEqual(try serverReached(haproxyPort, packet, split: true), expected[i])
            XCTAssertEqual(try serverReached(proxydPort, packet, split: true), expected[i])
        }
    }
}
