import Foundation
import XCTest

/// The runtime API's `add server` and `del server` (issue 15), through Debian's HAProxy 2.6
/// and proxyd on the same config: the same answers, word for word, and the same effect on
/// traffic and on `show servers state`.
final class DynamicServerComparisonTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ru-dyn-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: directory)
    }

    /// Each proxy with its port and its admin socket.
    private struct Side {
        let port: Int
        let socket: String
        func cli(_ command: String) throws -> String { try ControlClient.socat(command, socket: socket) }
        /// `show servers state BACKEND` without the seconds since the last change (column 10).
        func state(_ backend: String) throws -> String {
            try cli("show servers state \(backend)").split(separator: "\n").map { line -> String in
                var fields = line.split(separator: " ").map(String.init)
                if !line.hasPrefix("#"), fields.count > 9 { fields[9] = "T" }
                return fields.joined(separator: " ")
            }.joined(separator: "\n")
        }
        /// One field of a `show stat` row (`"backend,server"`).
        func statField(_ name: String, of row: String) throws -> String {
            let lines = try cli("show stat").split(separator: "\n")
            guard let header = lines.first?.dropFirst(2).split(separator: ",", omittingEmptySubsequences: false),
                  let column = header.firstIndex(of: Substring(name)),
                  let line = lines.first(where: { $0.hasPrefix(row + ",") }) else { return "(none)" }
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            return column < fields.count ? String(fields[column]) : "(none)"
        }
        /// Which server answered each of `count` requests, each on its own connection.
        func answers(_ count: Int) throws -> [String] {
            try (0..<count).map { _ in
                let client = try TCP.Connection(port: port, timeout: 5)
                try client.send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                guard let response = try? client.receiveResponse() else { return "(no response)" }
                return response.status == 200 ? response.bodyText : String(response.status)
            }
        }
    }

    private func sides(_ config: (Int, String) -> String) throws -> (proxyd: Side, haproxy: Side, stop: () -> Void) {
        let haproxy = Side(port: TCP.freePort(), socket: directory.appendingPathComponent("haproxy.sock").path)
        let proxyd = Side(port: TCP.freePort(), socket: directory.appendingPathComponent("proxyd.sock").path)
        let reference = try ReferenceHAProxy(config: config(haproxy.port, haproxy.socket), waitForPorts: [haproxy.port])
        let process: ProxydProcess
        do {
            process = try ProxydProcess(config: config(proxyd.port, proxyd.socket), waitForPorts: [proxyd.port])
        } catch {
            reference.stop()
            throw error
        }
        return (proxyd, haproxy, { process.stop(); reference.stop() })
    }

    func testAddedServerServesOnceEnabledAndLeavesWhenDeleted() throws {
        let first = try TestBackend(name: "first"), second = try TestBackend(name: "second")
        let (proxyd, haproxy, stop) = try sides { port, socket in
            ProxyFixture.preamble(extraGlobal: "stats socket \(socket) level admin") + """
            frontend fe
                bind 127.0.0.1:\(port)
                default_backend app
            backend app
                balance roundrobin
                server s1 127.0.0.1:\(first.port)
            """
        }
        defer { stop() }
        for side in [proxyd, haproxy] {
            XCTAssertEqual(try side.cli("add server app/s2 127.0.0.1:\(second.port)"), "New server registered.\n\n")
            // A dynamic server starts in maintenance.
            XCTAssertEqual(try side.answers(4), Array(repeating: "first", count: 4))
            XCTAssertEqual(try side.cli("enable server app/s2"), "\n")
            XCTAssertEqual(try side.answers(4).sorted(), ["first", "first", "second", "second"])
        }
        XCTAssertEqual(try proxyd.state("app"), try haproxy.state("app"))
        let state = try proxyd.state("app")
        XCTAssertTrue(state.contains(" 2 s2 127.0.0.1 2 0 1 1 T "), state)

        for side in [proxyd, haproxy] {
            // HAProxy ends every `del server` answer without the usual empty line.
            XCTAssertEqual(try side.cli("del server app/s2"), "Only servers in maintenance mode can be deleted.\n")
            XCTAssertEqual(try side.cli("disable server app/s2"), "\n")
            XCTAssertEqual(try side.cli("del server app/s2"), "Server deleted.\n")
            XCTAssertEqual(try side.cli("del server app/s2"), "No such server.\n")
            XCTAssertEqual(try side.answers(4), Array(repeating: "first", count: 4))
            // The name is free again, with the smallest free id.
            XCTAssertEqual(try side.cli("add server app/s2 127.0.0.1:\(second.port) weight 3"), "New server registered.\n\n")
            XCTAssertEqual(try side.cli("enable server app/s2"), "\n")
            XCTAssertEqual(try side.answers(8).filter { $0 == "second" }.count, 6)
        }
        XCTAssertEqual(try proxyd.state("app"), try haproxy.state("app"))
        XCTAssertTrue(try proxyd.cli("show stat").contains("\napp,s2,"))

        // `enabled` makes the server ready at once. HAProxy 2.6.12 says so in `show servers
        // state` but never sends it a request (503 with it alone); proxyd does what it says.
        XCTAssertEqual(try proxyd.cli("set server app/s1 state maint; set server app/s2 state maint"), "\n\n")
        XCTAssertEqual(try proxyd.cli("add server app/s3 127.0.0.1:\(second.port) enabled"), "New server registered.\n\n")
        XCTAssertEqual(try proxyd.answers(2), ["second", "second"])
        XCTAssertTrue(try proxyd.state("app").contains(" 3 s3 127.0.0.1 2 0 1 1 T 1 0 2 0 "))
    }

    /// `add server … check`: the checks wait for `enable health`, then judge the server as
    /// a configured one's do.
    func testAddedServerIsCheckedOnceHealthIsEnabled() throws {
        let alive = try TestBackend(name: "alive")
        let closedPort = TCP.freePort()
        let (proxyd, haproxy, stop) = try sides { port, socket in
            ProxyFixture.preamble(extraGlobal: "stats socket \(socket) level admin") + """
            frontend fe
                bind 127.0.0.1:\(port)
                default_backend app
            backend app
                balance roundrobin
                option httpchk GET /health
            """
        }
        defer { stop() }
        for side in [proxyd, haproxy] {
            XCTAssertEqual(try side.cli("add server app/up 127.0.0.1:\(alive.port) check inter 100 rise 1 fall 1"),
                           "New server registered.\n\n")
            XCTAssertEqual(try side.cli("add server app/gone 127.0.0.1:\(closedPort) check inter 100 rise 1 fall 1"),
                           "New server registered.\n\n")
        }
        // Configured, not enabled, in maintenance: nothing checked yet.
        XCTAssertEqual(try proxyd.state("app"), try haproxy.state("app"))
        let checksBefore = alive.requestCount
        usleep(400_000)
        XCTAssertEqual(alive.requestCount, checksBefore, "no check before enable health")
        for side in [proxyd, haproxy] {
            XCTAssertEqual(try side.cli("enable health app/up; enable server app/up; enable health app/gone; enable server app/gone"),
                           "\n\n\n\n")
        }
        // The server that refuses connections goes DOWN on both; the other stays UP.
        for side in [proxyd, haproxy] {
            var state = ""
            XCTAssertTrue(try ControlClient.eventually(5) {
                state = try side.state("app")
                return state.contains(" gone 127.0.0.1 0 0 ")
            }, state)
            XCTAssertEqual(try side.answers(3), ["alive", "alive", "alive"])
        }
        XCTAssertGreaterThan(alive.requestCount, checksBefore)
        let mask = { (text: String) in text.replacingOccurrences(of: #" (up|gone) 127\.0\.0\.1 (\d) (\d) (\d) (\d) T \d+ \d+"#,
                                                                   with: " $1 127.0.0.1 $2 $3 $4 $5 T", options: .regularExpression) }
        XCTAssertEqual(mask(try proxyd.state("app")), mask(try haproxy.state("app")))
    }

    /// `add server … agent-check`: the agent waits for `enable agent`, then its word counts.
    func testAddedServersAgentWaitsForEnableAgent() throws {
        let alive = try TestBackend(name: "alive")
        let agent = try OneLineServer(reply: "drain\n")
        defer { agent.stop() }
        let (proxyd, haproxy, stop) = try sides { port, socket in
            ProxyFixture.preamble(extraGlobal: "stats socket \(socket) level admin") + """
            frontend fe
                bind 127.0.0.1:\(port)
                default_backend app
            backend app
                balance roundrobin
            """
        }
        defer { stop() }
        for side in [proxyd, haproxy] {
            XCTAssertEqual(try side.cli("add server app/a 127.0.0.1:\(alive.port) agent-check agent-port \(agent.port) agent-inter 100"),
                           "New server registered.\n\n")
            XCTAssertEqual(try side.cli("enable server app/a"), "\n")
            func status() throws -> String { try side.statField("status", of: "app,a") }
            usleep(400_000)
            XCTAssertEqual(try status(), "no check", "no agent before enable agent")
            XCTAssertEqual(try side.cli("enable health app/a"), "Health check was not configured on this server, cannot enable.\n\n")
            XCTAssertEqual(try side.cli("enable agent app/a"), "\n")
            var last = ""
            XCTAssertTrue(try ControlClient.eventually(5) {
                last = try status()
                return last == "DRAIN (agent)"
            }, "the agent's drain: \(last)")
            // `get weight` says the weight set, which a drain keeps.
            XCTAssertEqual(try side.cli("get weight app/a"), "1 (initial 1)\n\n")
        }
        // Not `agent_health`: HAProxy 2.6.12 leaves a dynamic server's agent counter at 0
        // (a configured server's starts at its rise, 1), while proxyd starts both at rise.
        for field in ["agent_status", "agent_code", "agent_desc", "agent_rise", "agent_fall", "last_agt"] {
            XCTAssertEqual(try proxyd.statField(field, of: "app,a"), try haproxy.statField(field, of: "app,a"), field)
        }
    }

    func testRefusalsAreHAProxys() throws {
        let (proxyd, haproxy, stop) = try sides { port, socket in
            ProxyFixture.preamble(extraGlobal: "stats socket \(socket) level admin") + """
            frontend fe
                bind 127.0.0.1:\(port)
                default_backend app
            backend app
                balance roundrobin
                server s1 127.0.0.1:9
            backend hashed
                balance source
                server s1 127.0.0.1:9
            backend pinned
                use-server s1 if { path /one }
                server s1 127.0.0.1:9
            """
        }
        defer { stop() }
        let commands = [
            "add server app/s1 127.0.0.1:10", "add server hashed/s2 127.0.0.1:10", "add server nowhere/s2 127.0.0.1:10",
            "add server app/s2", "add server app", "add server app/", "add server app/s2 127.0.0.1:10 cookie c",
            "add server app/s2 127.0.0.1:10 resolvers r", "add server app/s2 127.0.0.1:10 bogus",
            "add server app/s2 127.0.0.1:10 id 1", "del server app/s1", "del server app/none", "del server app",
            "del server nowhere/s1", "disable server pinned/s1", "del server pinned/s1",
            "user; add server app/s3 127.0.0.1:10", "operator; del server app/s1",
        ]
        for command in commands {
            let expected = try haproxy.cli(command)
            // HAProxy says the id is taken with its place in the config, which a CLI line has not.
            if command.hasSuffix("id 1") {
                XCTAssertTrue(try proxyd.cli(command).hasPrefix("'id' : custom id 1 already used"), command)
                continue
            }
            XCTAssertEqual(try proxyd.cli(command), expected, command)
        }
        XCTAssertEqual(try proxyd.state("app"), try haproxy.state("app"))
    }

    /// A dynamic server's connections are pooled like any other's, and `del server` closes
    /// the idle ones (proxyd alone: which connections HAProxy keeps idle differs).
    func testDeletedServerLeavesNoIdleConnection() throws {
        let added = try TestBackend(name: "added")
        let socket = directory.appendingPathComponent("proxyd.sock").path
        let port = TCP.freePort()
        let proxy = try ProxydProcess(config: ProxyFixture.preamble(extraGlobal: "stats socket \(socket) level admin") + """
            frontend fe
                bind 127.0.0.1:\(port)
                default_backend app
            backend app
                balance roundrobin
            """, waitForPorts: [port])
        defer { proxy.stop() }
        func cli(_ command: String) throws -> String { try ControlClient.socat(command, socket: socket) }
        XCTAssertEqual(try cli("add server app/s1 127.0.0.1:\(added.port) enabled"), "New server registered.\n\n")
        // Kept-alive clients leave their server connections in the pool.
        var clients: [TCP.Connection] = []
        for _ in 0..<3 {
            let client = try TCP.Connection(port: port, timeout: 5)
            try client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            XCTAssertEqual(try client.receiveResponse().bodyText, "added")
            clients.append(client)
        }
        defer { for client in clients { client.close() } }
        let pool = try cli("show servers conn app").split(separator: "\n").last.map { $0.split(separator: " ") } ?? []
        XCTAssertEqual(pool.count > 12 ? pool[12] : "", "3", "idle_cur of app/s1")
        XCTAssertEqual(added.openConnections, 3)
        XCTAssertEqual(try cli("disable server app/s1"), "\n")
        XCTAssertEqual(try cli("del server app/s1"), "Server deleted.\n")
        XCTAssertTrue(ControlClient.eventually(5) { added.openConnections == 0 }, "\(added.openConnections) still open")
        XCTAssertEqual(try cli("show servers conn app").split(separator: "\n").count, 1)
        // The clients are still there; their next request finds no server.
        try clients[0].send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(try clients[0].receiveResponse().status, 503)
    }

    func testServerInUseIsNotDeleted() throws {
        let slow = try TestBackend(name: "slow", behaviour: .slow(.seconds(2)))
        let (proxyd, haproxy, stop) = try sides { port, socket in
            ProxyFixture.preamble(extraGlobal: "stats socket \(socket) level admin") + """
            frontend fe
                bind 127.0.0.1:\(port)
                default_backend hold
            backend hold
                balance leastconn
            """
        }
        defer { stop() }
        for side in [proxyd, haproxy] {
            XCTAssertEqual(try side.cli("add server hold/h 127.0.0.1:\(slow.port)"), "New server registered.\n\n")
            XCTAssertEqual(try side.cli("enable server hold/h"), "\n")
            let client = try TCP.Connection(port: side.port, timeout: 5)
            try client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            XCTAssertTrue(ControlClient.eventually(5) { slow.openConnections > 0 })
            XCTAssertEqual(try side.cli("disable server hold/h"), "\n")
            XCTAssertEqual(try side.cli("del server hold/h"), "Server still has connections attached to it, cannot remove it.\n")
            XCTAssertEqual(try client.receiveResponse().bodyText, "slow")
            client.close()
            var last = ""
            XCTAssertTrue(try ControlClient.eventually(10) {
                last = try side.cli("del server hold/h")
                return last == "Server deleted.\n"
            }, last)
            XCTAssertTrue(ControlClient.eventually(5) { slow.openConnections == 0 })
            XCTAssertEqual(try side.answers(1), ["503"])
        }
    }
}
