import Foundation
import NIOConcurrencyHelpers
import XCTest

/// Answers that must not be trusted, sent by a nameserver the test plays itself, to
/// HAProxy 2.6 and proxyd on the same config: a compression pointer that loops, a record
/// cut short, an answer to a query nobody asked (wrong id), no answer at all. Both drop
/// them and count them
/// in `show resolvers`; the server stays in MAINT (resolution) until a good answer comes.
final class DNSBadAnswerTests: XCTestCase {
    enum Mode { case compressionLoop, cutShort, wrongID, silent, nxdomain, good }

    /// A UDP nameserver answering every query as `mode` says (A queries get the address
    /// 127.0.0.2 when good; other types an empty NOERROR answer).
    final class FakeNameserver {
        let port: Int
        private let fd: Int32
        private let state = NIOLockedValueBox<(mode: Mode, stopped: Bool)>((.compressionLoop, false))
        private let done = DispatchSemaphore(value: 0)
        /// The port SRV answers carry.
        var srvPort = 0

        var mode: Mode {
            get { state.withLockedValue { $0.mode } }
            set { state.withLockedValue { $0.mode = newValue } }
        }

        init() throws {
            let sock = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(sock, $0, length) } }
            guard bound == 0 else { close(sock); throw TestFailure("fake nameserver: bind errno \(errno)") }
            _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(sock, $0, &length) } }
            port = Int(UInt16(bigEndian: address.sin_port))
            fd = sock
            var tv = timeval(tv_sec: 0, tv_usec: 100_000)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            Thread { [self] in
                var buffer = [UInt8](repeating: 0, count: 1500)
                while !state.withLockedValue({ $0.stopped }) {
                    var peer = sockaddr_in()
                    var peerLength = socklen_t(MemoryLayout<sockaddr_in>.size)
                    let n = withUnsafeMutablePointer(to: &peer) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, &buffer, buffer.count, 0, $0, &peerLength) }
                    }
                    guard n > 12, mode != .silent else { continue }
                    let reply = answer(to: Array(buffer.prefix(n)))
                    _ = withUnsafePointer(to: &peer) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, reply, reply.count, 0, $0, peerLength) }
                    }
                }
                done.signal()
            }.start()
        }

        /// The reply to one query: its id and question, then what the mode says.
        func answer(to query: [UInt8]) -> [UInt8] {
            // The question: from byte 12 to the end of the name, plus type and class.
            var end = 12
            while end < query.count, query[end] != 0 { end += Int(query[end]) + 1 }
            let question = Array(query[12..<min(query.count, end + 5)])
            let type = end + 2 < query.count ? UInt16(query[end + 1]) << 8 | UInt16(query[end + 2]) : 0
            var id = [query[0], query[1]]
            let isA = type == 1
            var answers: [UInt8] = []
            var count: UInt8 = isA ? 1 : 0
            if type == 33 {
                // SRV: one record (priority 0, weight 300, port srvPort, target
                // tgt.example.local) and no additional record: its address takes a query.
                let target: [UInt8] = [3] + Array("tgt".utf8) + [7] + Array("example".utf8) + [5] + Array("local".utf8) + [0]
                let data: [UInt8] = [0, 0, 0x01, 0x2C, UInt8(srvPort >> 8), UInt8(srvPort & 0xFF)] + target
                answers = [0xC0, 0x0C, 0, 33, 0, 1, 0, 0, 0, 0, 0, UInt8(data.count)] + data
                return id + [0x85, 0x80, 0, 1, 0, 1, 0, 0, 0, 0] + question + answers
            }
            switch mode {
            case .compressionLoop where isA:
                // The answer's name points at itself.
                let at = 12 + question.count
                answers = [0xC0 | UInt8(at >> 8), UInt8(at & 0xFF), 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 127, 0, 0, 2]
            case .cutShort where isA:
                answers = [0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 127]  // 1 byte of 4
            case .wrongID:
                id[1] ^= 0x5A
                fallthrough
            case .good where isA:
                answers = [0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 127, 0, 0, 2]
            default:
                count = 0
            }
            if answers.isEmpty { count = 0 }
            let rcode: UInt8 = mode == .nxdomain ? 3 : 0
            return id + [0x85, 0x80 | rcode, 0, 1, 0, count, 0, 0, 0, 0] + question + answers
        }

        func stop() {
            guard !state.withLockedValue({ $0.stopped }) else { return }
            state.withLockedValue { $0.stopped = true }
            done.wait()
            close(fd)
        }
        deinit { stop() }
    }

    private func config(dnsPort: Int, frontend: Int, socket: String, webPort: Int) -> String {
        """
        global
            stats socket \(socket) level admin
        resolvers dns1
            nameserver ns1 127.0.0.1:\(dnsPort)
            resolve_retries 1
            timeout resolve 300ms
            timeout retry 300ms
            hold valid 300ms
        defaults
            mode http
            timeout connect 1s
            timeout client 5s
            timeout server 5s
        frontend fe
            bind 127.0.0.1:\(frontend)
            default_backend app
        backend app
            server s1 app.example.local:\(webPort) resolvers dns1 resolve-prefer ipv4 init-addr none

        """
    }

    private func counters(_ socket: String) throws -> [String: Int] {
        var found: [String: Int] = [:]
        for line in try ControlClient.socat("show resolvers dns1", socket: socket).split(separator: "\n") {
            let parts = line.split(separator: ":")
            guard parts.count == 2, let value = Int(parts[1].trimmingCharacters(in: .whitespaces)) else { continue }
            found[parts[0].trimmingCharacters(in: .whitespaces), default: 0] += value  // summed over nameservers
        }
        return found
    }

    private func serverRow(_ socket: String) throws -> String {
        let rows = try ControlClient.socat("show servers state app", socket: socket).split(separator: "\n")
        guard let row = rows.first(where: { $0.contains(" s1 ") }) else { return "" }
        var fields = row.split(separator: " ").map(String.init)
        fields[9] = "T"
        return fields.joined(separator: " ")
    }

    /// Two nameservers, one saying NXDOMAIN, the other giving the address: the valid answer
    /// wins on both proxies, whichever comes first (a round fails only when all fail).
    func testOneNameserverSayingNXDoesNotHideAnothersAnswer() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dn2-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let webPort = TCP.freePort()
        let web = try TestBackend(name: "two", port: webPort, host: "127.0.0.2")
        defer { web.stop() }
        let liar = try FakeNameserver(), honest = try FakeNameserver()
        defer { liar.stop(); honest.stop() }
        liar.mode = .nxdomain
        honest.mode = .good
        let haproxyPort = TCP.freePort(), proxydPort = TCP.freePort()
        let haproxySocket = directory.appendingPathComponent("h.sock").path
        let proxydSocket = directory.appendingPathComponent("p.sock").path
        func twoServers(frontend: Int, socket: String) -> String {
            config(dnsPort: liar.port, frontend: frontend, socket: socket, webPort: webPort)
                .replacingOccurrences(of: "    nameserver ns1 127.0.0.1:\(liar.port)\n",
                                      with: "    nameserver ns1 127.0.0.1:\(liar.port)\n    nameserver ns2 127.0.0.1:\(honest.port)\n"
                                          + "    hold nx 0s\n")  // an NX round would empty the server at once
        }
        let reference = try ReferenceHAProxy(config: twoServers(frontend: haproxyPort, socket: haproxySocket),
                                             waitForPorts: [haproxyPort])
        defer { reference.stop() }
        let proxy = try ProxydProcess(config: twoServers(frontend: proxydPort, socket: proxydSocket), waitForPorts: [proxydPort])
        defer { proxy.stop() }
        var last = ("", "")
        let agreed = ControlClient.eventually(6) {
            last = ((try? serverRow(haproxySocket)) ?? "", (try? serverRow(proxydSocket)) ?? "")
            return last.1.contains(" 127.0.0.2 2 0 ") && last.0 == last.1
        }
        XCTAssertTrue(agreed, "haproxy: \(last.0)\nproxyd: \(last.1)")
        // It stays so over several rounds, whichever nameserver answers first.
        for _ in 0..<20 {
            usleep(50_000)
            XCTAssertTrue(try serverRow(proxydSocket).contains(" 127.0.0.2 2 0 "))
            XCTAssertTrue(try serverRow(haproxySocket).contains(" 127.0.0.2 2 0 "))
        }
        XCTAssertGreaterThan(try counters(proxydSocket)["nx"] ?? 0, 0, "ns1's NXDOMAIN is counted")
    }

    /// An SRV answer without the target's address: both proxies ask for it, then fill the
    /// server with the SRV record's port and weight.
    func testSRVTargetsWithoutAdditionalRecordsAreResolved() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dns-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let srvPort = TCP.freePort()
        let web = try TestBackend(name: "two", port: srvPort, host: "127.0.0.2")
        defer { web.stop() }
        let nameserver = try FakeNameserver()
        defer { nameserver.stop() }
        nameserver.srvPort = srvPort
        nameserver.mode = .good
        let haproxyPort = TCP.freePort(), proxydPort = TCP.freePort()
        let haproxySocket = directory.appendingPathComponent("h.sock").path
        let proxydSocket = directory.appendingPathComponent("p.sock").path
        func srvConfig(frontend: Int, socket: String) -> String {
            config(dnsPort: nameserver.port, frontend: frontend, socket: socket, webPort: srvPort)
                .replacingOccurrences(of: "server s1 app.example.local:\(srvPort) resolvers dns1 resolve-prefer ipv4 init-addr none",
                                      with: "server-template s 2 _http._tcp.example.local resolvers dns1 resolve-prefer ipv4 init-addr none")
        }
        let reference = try ReferenceHAProxy(config: srvConfig(frontend: haproxyPort, socket: haproxySocket),
                                             waitForPorts: [haproxyPort])
        defer { reference.stop() }
        let proxy = try ProxydProcess(config: srvConfig(frontend: proxydPort, socket: proxydSocket), waitForPorts: [proxydPort])
        defer { proxy.stop() }
        func rows(_ socket: String) -> [String] {
            ((try? ControlClient.socat("show servers state app", socket: socket)) ?? "").split(separator: "\n")
                .filter { $0.contains(" s1 ") || $0.contains(" s2 ") }
                .map { line in
                    var fields = line.split(separator: " ").map(String.init)
                    fields[9] = "T"
                    return fields.joined(separator: " ")
                }
        }
        var last: ([String], [String]) = ([], [])
        let agreed = ControlClient.eventually(8) {
            last = (rows(haproxySocket), rows(proxydSocket))
            return last.1.first?.contains(" 127.0.0.2 2 64 2 ") == true && last.0 == last.1
        }
        XCTAssertTrue(agreed, "haproxy:\n\(last.0.joined(separator: "\n"))\nproxyd:\n\(last.1.joined(separator: "\n"))")
        XCTAssertTrue(last.1.first?.contains(" tgt.example.local \(srvPort) _http._tcp.example.local ") == true)
        let connection = try TCP.Connection(port: proxydPort)
        defer { connection.close() }
        try connection.send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        XCTAssertEqual(try connection.receiveResponse().bodyText.trimmingCharacters(in: .whitespacesAndNewlines), "two")
    }

    func testBadAnswersAreDroppedAndCountedAsHAProxyDoes() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dnb-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let webPort = TCP.freePort()
        let web = try TestBackend(name: "two", port: webPort, host: "127.0.0.2")
        defer { web.stop() }
        let nameserver = try FakeNameserver()
        defer { nameserver.stop() }
        let haproxyPort = TCP.freePort(), proxydPort = TCP.freePort()
        let haproxySocket = directory.appendingPathComponent("h.sock").path
        let proxydSocket = directory.appendingPathComponent("p.sock").path
        let reference = try ReferenceHAProxy(config: config(dnsPort: nameserver.port, frontend: haproxyPort,
                                                            socket: haproxySocket, webPort: webPort), waitForPorts: [haproxyPort])
        defer { reference.stop() }
        let proxy = try ProxydProcess(config: config(dnsPort: nameserver.port, frontend: proxydPort,
                                                     socket: proxydSocket, webPort: webPort), waitForPorts: [proxydPort])
        defer { proxy.stop() }

        // Silence: HAProxy 2.6 never counts `timeout` (it stays 0 while queries go out);
        // proxyd counts each resolution that timed out.
        for (mode, counter, theirs) in [(Mode.compressionLoop, "invalid", "invalid"), (.cutShort, "invalid", "invalid"),
                                        (.wrongID, "outdated", "outdated"), (.silent, "timeout", "sent")] {
            nameserver.mode = mode
            let before = (try counters(haproxySocket)[theirs] ?? 0, try counters(proxydSocket)[counter] ?? 0)
            var last: ([String: Int], [String: Int]) = ([:], [:])
            let counted = ControlClient.eventually(6) {
                last = ((try? counters(haproxySocket)) ?? [:], (try? counters(proxydSocket)) ?? [:])
                return (last.0[theirs] ?? 0) > before.0 + 1 && (last.1[counter] ?? 0) > before.1 + 1
            }
            XCTAssertTrue(counted, "\(mode): \(counter) should grow\nhaproxy: \(last.0)\nproxyd: \(last.1)")
            XCTAssertEqual(try serverRow(proxydSocket), try serverRow(haproxySocket), "\(mode)")
            XCTAssertTrue(try serverRow(proxydSocket).contains(" - 0 32 "), "\(mode): still waiting for an address")
            XCTAssertEqual(last.1["valid"], 0, "\(mode): nothing counted valid")
        }
        nameserver.mode = .good
        XCTAssertTrue(ControlClient.eventually(6) { (try? serverRow(proxydSocket))?.contains(" 127.0.0.2 2 0 ") == true })
        XCTAssertTrue(ControlClient.eventually(6) { (try? serverRow(proxydSocket)) == (try? serverRow(haproxySocket)) })
        XCTAssertGreaterThan(try counters(proxydSocket)["valid"] ?? 0, 0)
        // The process lived through it all and serves.
        let connection = try TCP.Connection(port: proxydPort)
        defer { connection.close() }
        try connection.send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        XCTAssertEqual(try connection.receiveResponse().status, 200)
    }
}
