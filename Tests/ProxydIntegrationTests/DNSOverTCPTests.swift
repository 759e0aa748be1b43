import Foundation
import NIOConcurrencyHelpers
import XCTest

/// `nameserver NAME tcp@ADDR:PORT` (issue 15): DNS over TCP, side by side with HAProxy 2.6,
/// against a nameserver the test plays on TCP only (dnsmasq in the foreground serves one
/// TCP connection at a time, and its forked TCP children keep the records of their time):
/// the server follows the name as the answer changes, also after the nameserver closed
/// every connection, and `show resolvers` counts the queries and answers.
final class DNSOverTCPTests: XCTestCase {
    /// Answers A queries with `address`, other types with no record; each message behind
    /// its two-byte length. Counts the connections it accepted.
    final class TCPNameserver {
        let port: Int
        private let listener: Int32
        private let state = NIOLockedValueBox<(address: [UInt8], connections: [Int32], accepted: Int, stopped: Bool)>(
            ([127, 0, 0, 2], [], 0, false))
        private let done = DispatchSemaphore(value: 0)

        var address: [UInt8] {
            get { state.withLockedValue { $0.address } }
            set { state.withLockedValue { $0.address = newValue } }
        }
        var accepted: Int { state.withLockedValue { $0.accepted } }

        init() throws {
            let (fd, port) = try TCP.listenOnLoopback(name: "tcp nameserver")
            listener = fd
            self.port = port
            Thread { [self] in
                while !state.withLockedValue({ $0.stopped }) {
                    var ready = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
                    guard poll(&ready, 1, 100) > 0 else { continue }
                    let connection = accept(listener, nil, nil)
                    guard connection >= 0 else { continue }
                    state.withLockedValue {
                        $0.connections.append(connection)
                        $0.accepted += 1
                    }
                    Thread { [self] in serve(connection) }.start()
                }
                done.signal()
            }.start()
        }

        private func serve(_ connection: Int32) {
            var pending: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = recv(connection, &buffer, buffer.count, 0)
                guard n > 0 else { break }
                pending += buffer.prefix(n)
                while pending.count >= 2, pending.count >= 2 + (Int(pending[0]) << 8 | Int(pending[1])) {
                    let length = Int(pending[0]) << 8 | Int(pending[1])
                    let reply = answer(to: Array(pending[2..<(2 + length)]))
                    pending.removeFirst(2 + length)
                    let framed = [UInt8(reply.count >> 8), UInt8(reply.count & 0xFF)] + reply
                    _ = send(connection, framed, framed.count, Int32(MSG_NOSIGNAL))
                }
            }
            state.withLockedValue { $0.connections.removeAll { $0 == connection } }
            close(connection)
        }

        private func answer(to query: [UInt8]) -> [UInt8] {
            var end = 12
            while end < query.count, query[end] != 0 { end += Int(query[end]) + 1 }
            guard query.count >= 12, end + 5 <= query.count else { return [] }
            let question = Array(query[12..<(end + 5)])
            let isA = query[end + 1] == 0 && query[end + 2] == 1
            let records: [UInt8] = isA ? [0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4] + address : []
            return [query[0], query[1], 0x85, 0x80, 0, 1, 0, isA ? 1 : 0, 0, 0, 0, 0] + question + records
        }

        /// Closes every connection, as a nameserver going idle or restarting does.
        func dropConnections() {
            for connection in state.withLockedValue({ $0.connections }) { shutdown(connection, Int32(SHUT_RDWR)) }
        }

        func stop() {
            guard !state.withLockedValue({ $0.stopped }) else { return }
            state.withLockedValue { $0.stopped = true }
            done.wait()
            dropConnections()
            close(listener)
        }
        deinit { stop() }
    }

    func testServerFollowsANameAskedOverTCP() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dt-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let webPort = TCP.freePort()
        let two = try TestBackend(name: "two", port: webPort, host: "127.0.0.2")
        defer { two.stop() }
        let three = try TestBackend(name: "three", port: webPort, host: "127.0.0.3")
        defer { three.stop() }
        let nameserver = try TCPNameserver()
        defer { nameserver.stop() }

        func config(_ port: Int, _ socket: String) -> String {
            """
            global
                stats socket \(socket) level admin
            resolvers dns1
                nameserver ns1 tcp@127.0.0.1:\(nameserver.port)
                timeout resolve 300ms
                timeout retry 300ms
                hold valid 300ms
            defaults
                mode http
                timeout connect 1s
                timeout client 5s
                timeout server 5s
            frontend fe
                bind 127.0.0.1:\(port)
                default_backend web
            backend web
                server w1 web.example.local:\(webPort) resolvers dns1 init-addr none resolve-prefer ipv4

            """
        }
        let haproxyPort = TCP.freePort(), proxydPort = TCP.freePort()
        let haproxySocket = directory.appendingPathComponent("h.sock").path
        let proxydSocket = directory.appendingPathComponent("p.sock").path
        let reference = try ReferenceHAProxy(config: config(haproxyPort, haproxySocket), waitForPorts: [haproxyPort])
        defer { reference.stop() }
        let proxy = try ProxydProcess(config: config(proxydPort, proxydSocket), waitForPorts: [proxydPort])
        defer { proxy.stop() }

        func answer(_ port: Int) -> String {
            guard let response = try? ProxyFixture.get(port: port) else { return "no answer" }
            return response.status == 200 ? response.bodyText.trimmingCharacters(in: .whitespacesAndNewlines) : "\(response.status)"
        }
        func bothAnswer(_ expected: String, _ step: String) {
            for (name, port) in [("proxyd", proxydPort), ("haproxy", haproxyPort)] {
                var last = ""
                XCTAssertTrue(ControlClient.eventually(8) {
                    last = answer(port)
                    return last == expected
                }, "\(step), \(name): \(last)")
            }
        }
        bothAnswer("two", "first answer")
        XCTAssertEqual(nameserver.accepted, 2, "one connection from each proxy, kept for every query")
        nameserver.address = [127, 0, 0, 3]
        bothAnswer("three", "changed answer")
        // The nameserver closes the connections: the next queries open new ones.
        nameserver.dropConnections()
        nameserver.address = [127, 0, 0, 2]
        bothAnswer("two", "after the nameserver closed")
        XCTAssertGreaterThanOrEqual(nameserver.accepted, 4)

        for (name, socket) in [("proxyd", proxydSocket), ("haproxy", haproxySocket)] {
            let text = name + ": " + (try ControlClient.socat("show resolvers dns1", socket: socket))
            let figures = Dictionary(text.split(separator: "\n").compactMap { line -> (String, Int)? in
                let parts = line.split(separator: ":").map { $0.trimmingCharacters(in: .whitespaces) }
                guard parts.count == 2, let value = Int(parts[1]) else { return nil }
                return (parts[0], value)
            }, uniquingKeysWith: { first, _ in first })
            XCTAssertGreaterThanOrEqual(figures["sent"] ?? 0, 3, text)
            XCTAssertGreaterThanOrEqual(figures["valid"] ?? 0, 3, text)
            XCTAssertGreaterThanOrEqual(figures["update"] ?? 0, 3, text)
        }
    }
}
