import Foundation
import XCTest

/// The runtime API on `stats socket`, driven by the clients operators use with HAProxy.
final class ControlSocketTests: XCTestCase {
    struct Setup {
        let proxy: ProxydProcess
        let port: Int
        let socket: String
        var directory: String { proxy.directory.path }
    }

    private func start(_ servers: [TestBackend], serverOptions: String = "") throws -> Setup {
        let port = TCP.freePort()
        let proxy = try ProxydProcess(config: """
            global
                nbthread 1
                stats socket {DIR}/admin.sock mode 600 level admin expose-fd listeners
                stats socket {DIR}/operator.sock level operator
                stats socket {DIR}/user.sock mode 666 level user
                stats timeout 30s

            defaults
                mode http
                timeout connect 2s
                timeout client 10s
                timeout server 10s

            frontend http-in
                bind 127.0.0.1:\(port)
                default_backend app

            backend app
                balance roundrobin
            \(ProxyFixture.serverLines(servers, options: serverOptions))

            """, waitForPorts: [port])
        return Setup(proxy: proxy, port: port, socket: proxy.directory.path + "/admin.sock")
    }

    private func csvRows(_ text: String) -> [[String]] {
        text.split(separator: "\n").filter { !$0.hasPrefix("#") }.map {
            $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        }
    }

    func testSocatShowInfoAndShowStatLineUpWithHAProxy() throws {
        let a = try TestBackend(name: "a"), b = try TestBackend(name: "b")
        let setup = try start([a, b])
        defer { setup.proxy.stop() }
        for _ in 0..<4 { XCTAssertEqual(try ProxyFixture.get(port: setup.port).status, 200) }

        let info = try ControlClient.socat("show info", socket: setup.socket)
        XCTAssertTrue(info.hasPrefix("Name: proxyd\nVersion: "), info)
        XCTAssertTrue(info.contains("\nPid: \(setup.proxy.pid)\n"), info)
        // The readiness probe (a connection closed before its first byte) counts as a bad
        // request, as in HAProxy: CumReq is 4 and the probes.
        let cumReq = info.split(separator: "\n").first { $0.hasPrefix("CumReq: ") }.flatMap { Int($0.dropFirst(8)) }
        XCTAssertGreaterThanOrEqual(cumReq ?? 0, 4, info)
        XCTAssertTrue(info.hasSuffix("\n\n"), "an empty line ends every answer")
        let keys = info.split(separator: "\n").map { $0.split(separator: ":").first.map(String.init) ?? "" }
        XCTAssertEqual(Array(keys.prefix(9)), ["Name", "Version", "Release_date", "Nbthread", "Nbproc",
                                                "Process_num", "Pid", "Uptime", "Uptime_sec"])

        let stat = try ControlClient.socat("show stat", socket: setup.socket)
        XCTAssertEqual(String(stat.split(separator: "\n")[0]), ControlClient.haproxyHeader)
        let rows = csvRows(stat)
        XCTAssertEqual(rows.map { "\($0[0])/\($0[1])" }, ["http-in/FRONTEND", "app/a", "app/b", "app/BACKEND"])
        for row in rows {
            XCTAssertEqual(row.count, 129, "127 fields, the '-' column and the trailing empty one")
            XCTAssertEqual(row[103], "-")
        }
        let column = Dictionary(uniqueKeysWithValues: ControlClient.haproxyHeader.dropFirst(2)
            .split(separator: ",").enumerated().map { (String($1), $0) })
        let frontend = rows[0], serverA = rows[1], backend = rows[3]
        // The readiness probe of the test was a connection too.
        XCTAssertGreaterThanOrEqual(Int(frontend[column["stot"]!]) ?? 0, 4)
        XCTAssertEqual(frontend[column["conn_tot"]!], frontend[column["stot"]!])
        XCTAssertEqual(frontend[column["req_tot"]!], frontend[column["stot"]!], "one request per connection, probes too")
        XCTAssertEqual(Int(frontend[column["req_tot"]!]), cumReq)
        XCTAssertEqual(Int(frontend[column["ereq"]!]), (cumReq ?? 0) - 4, "the probes are bad requests")
        XCTAssertEqual(frontend[column["hrsp_2xx"]!], "4")
        XCTAssertEqual(frontend[column["status"]!], "OPEN")
        XCTAssertEqual(serverA[column["stot"]!], "2", "round robin: two of four requests")
        XCTAssertEqual(serverA[column["status"]!], "no check")
        XCTAssertEqual(serverA[column["addr"]!], "127.0.0.1:\(a.port)")
        XCTAssertEqual(serverA[column["qlimit"]!], "", "empty where HAProxy leaves it empty")
        XCTAssertEqual(backend[column["status"]!], "UP")
        XCTAssertEqual(backend[column["act"]!], "2")
        XCTAssertEqual(backend[column["req_tot"]!], "4")
        XCTAssertEqual(backend[column["algo"]!], "roundrobin")
        XCTAssertNotEqual(backend[column["bout"]!], "0")

        // The socket file gets the configured mode.
        let attributes = try FileManager.default.attributesOfItem(atPath: setup.socket)
        XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o600)
        let userAttributes = try FileManager.default.attributesOfItem(atPath: setup.directory + "/user.sock")
        XCTAssertEqual((userAttributes[.posixPermissions] as? NSNumber)?.intValue, 0o666)
    }

    /// qtime/ctime/rtime/ttime: a server that takes 300 ms to answer shows it in its
    /// response and total times, averaged as HAProxy does, with the maxima beside.
    func testShowStatAveragesTheTimesOfExchanges() throws {
        let slow = try TestBackend(name: "slow", behaviour: .slow(.milliseconds(300)))
        let setup = try start([slow])
        defer { setup.proxy.stop() }
        for _ in 0..<3 { XCTAssertEqual(try ProxyFixture.get(port: setup.port).status, 200) }

        let stat = try ControlClient.socat("show stat", socket: setup.socket)
        let column = Dictionary(uniqueKeysWithValues: ControlClient.haproxyHeader.dropFirst(2)
            .split(separator: ",").enumerated().map { (String($1), $0) })
        let rows = csvRows(stat)
        XCTAssertEqual(rows.map { $0[1] }, ["FRONTEND", "slow", "BACKEND"])
        for row in rows.dropFirst() {
            func value(_ name: String) -> Int { Int(row[column[name]!]) ?? -1 }
            XCTAssertEqual(value("qtime"), 0, row[1])
            XCTAssertLessThan(value("ctime"), 100, row[1])
            XCTAssertGreaterThanOrEqual(value("rtime"), 300, row[1])
            XCTAssertLessThan(value("rtime"), 600, row[1])
            XCTAssertGreaterThanOrEqual(value("ttime"), value("rtime"), row[1])
            XCTAssertGreaterThanOrEqual(value("rtime_max"), 300, row[1])
            XCTAssertGreaterThanOrEqual(value("ttime_max"), value("ttime"), row[1])
        }
        XCTAssertEqual(rows[0][column["rtime"]!], "", "a frontend has no times, as in HAProxy")

        XCTAssertEqual(try ControlClient.socat("clear counters", socket: setup.socket), "\n")
        let cleared = csvRows(try ControlClient.socat("show stat", socket: setup.socket))
        XCTAssertEqual(cleared[1][column["rtime_max"]!], "0", "clear counters resets the maxima")
        XCTAssertNotEqual(cleared[1][column["rtime"]!], "0", "and keeps the averages")
    }

    /// In `mode tcp` an exchange is the whole connection: ttime is how long it lasted,
    /// rtime stays 0 (HAProxy has no response time there).
    func testShowStatTimesInTCPModeCoverTheConnection() throws {
        let echo = try TestBackend(name: "echo", behaviour: .tcpEcho)
        let port = TCP.freePort()
        let proxy = try ProxydProcess(config: """
            global
                nbthread 1
                stats socket {DIR}/admin.sock level admin

            defaults
                mode tcp
                timeout connect 2s
                timeout client 10s
                timeout server 10s

            listen raw
                bind 127.0.0.1:\(port)
                server echo 127.0.0.1:\(echo.port)

            """, waitForPorts: [port])
        defer { proxy.stop() }
        let client = try TCP.Connection(port: port)
        try client.send("ping\n")
        XCTAssertEqual(client.receive(count: 5), Array("ping\n".utf8))
        usleep(300_000)
        client.close()
        let socket = proxy.directory.path + "/admin.sock"
        let column = Dictionary(uniqueKeysWithValues: ControlClient.haproxyHeader.dropFirst(2)
            .split(separator: ",").enumerated().map { (String($1), $0) })
        var server: [String] = []
        XCTAssertTrue(try ControlClient.eventually(5) {
            // The readiness probe of the test was a connection too: it lasted no time.
            server = csvRows(try ControlClient.socat("show stat", socket: socket)).first { $0[1] == "echo" } ?? []
            return Int(server[column["ttime_max"]!]) ?? 0 >= 300
        }, "\(server)")
        XCTAssertEqual(server[column["rtime"]!], "0")
        XCTAssertEqual(server[column["rtime_max"]!], "0")
        XCTAssertLessThan(Int(server[column["ctime"]!]) ?? -1, 100)
    }

    func testSetServerStateDrivesTrafficAndAnswersAsHAProxy() throws {
        let a = try TestBackend(name: "a"), b = try TestBackend(name: "b")
        let setup = try start([a, b])
        defer { setup.proxy.stop() }
        XCTAssertEqual(try ControlClient.socat("set server app/a state maint", socket: setup.socket), "\n")
        for _ in 0..<4 { XCTAssertEqual(try ProxyFixture.get(port: setup.port).bodyText, "b") }
        XCTAssertEqual(a.requestCount, 0)
        let stat = try ControlClient.socat("show stat", socket: setup.socket)
        XCTAssertTrue(stat.contains("\napp,a,0,0,0,0,,0,0,0,,0,,0,0,0,0,MAINT,1,1,0,"), stat)

        XCTAssertEqual(try ControlClient.socat("set server app/a state ready; set server app/b state drain",
                                               socket: setup.socket), "\n\n")
        for _ in 0..<3 { XCTAssertEqual(try ProxyFixture.get(port: setup.port).bodyText, "a") }
        // The weight set, not the effective 0 of a drain (haproxy 2.6.12: `1 (initial 1)`).
        XCTAssertEqual(try ControlClient.socat("get weight app/b", socket: setup.socket), "1 (initial 1)\n\n")
        XCTAssertEqual(try ControlClient.socat("set server app/b state ready", socket: setup.socket), "\n")

        XCTAssertEqual(try ControlClient.socat("set server app/b weight 300", socket: setup.socket),
                       "Absolute weight can only be between 0 and 256 inclusive.\n\n")
        XCTAssertEqual(try ControlClient.socat("set server app/b weight 3", socket: setup.socket), "\n")
        XCTAssertEqual(try ControlClient.socat("get weight app/b", socket: setup.socket), "3 (initial 1)\n\n")
        XCTAssertEqual(try ControlClient.socat("set server app/nope state ready", socket: setup.socket),
                       "No such server.\n\n")
        XCTAssertEqual(try ControlClient.socat("set server nope/a state ready", socket: setup.socket),
                       "No such backend.\n\n")
        XCTAssertEqual(try ControlClient.socat("set server app/a state bogus", socket: setup.socket),
                       "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n\n")

        XCTAssertEqual(try ControlClient.socat("set server app/a health down", socket: setup.socket), "\n")
        for _ in 0..<2 { XCTAssertEqual(try ProxyFixture.get(port: setup.port).bodyText, "b") }
        XCTAssertEqual(try ControlClient.socat("set server app/a health up", socket: setup.socket), "\n")

        // A new address for a server: traffic follows it.
        let c = try TestBackend(name: "c")
        XCTAssertEqual(try ControlClient.socat("set server app/b addr 127.0.0.1 port \(c.port)", socket: setup.socket),
                       "no need to change the addr, port changed from '\(b.port)' to '\(c.port)' by 'stats socket command'\n\n")
        XCTAssertEqual(try ControlClient.socat("set server app/a state maint", socket: setup.socket), "\n")
        XCTAssertEqual(try ProxyFixture.get(port: setup.port).bodyText, "c")

        let state = try ControlClient.socat("show servers state app", socket: setup.socket)
        let lines = state.split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(lines[0], "1")
        XCTAssertTrue(lines[1].hasPrefix("# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state"))
        // In maintenance: operational state 0 (stopped), admin state 1 (forced maintenance).
        XCTAssertTrue(lines[2].hasPrefix("3 app 1 a 127.0.0.1 0 1 1 1 "), String(lines[2]))
        XCTAssertTrue(lines[3].hasPrefix("3 app 2 b 127.0.0.1 2 0 3 1 "), String(lines[3]))
        XCTAssertTrue(lines[3].hasSuffix(" - \(c.port) - 0 0 - - 0"), String(lines[3]))
        XCTAssertEqual(try ControlClient.socat("show backend", socket: setup.socket), "# name\napp\n\n")
    }

    func testLevelsAreEnforced() throws {
        let a = try TestBackend(name: "a")
        let setup = try start([a])
        defer { setup.proxy.stop() }
        let user = setup.directory + "/user.sock", op = setup.directory + "/operator.sock"
        XCTAssertEqual(try ControlClient.socat("set server app/a state maint", socket: user), "Permission denied\n\n")
        XCTAssertEqual(try ControlClient.socat("set server app/a state maint", socket: op), "Permission denied\n\n")
        XCTAssertEqual(try ControlClient.socat("clear counters all", socket: op), "Permission denied\n\n")
        XCTAssertEqual(try ControlClient.socat("clear counters", socket: op), "\n")
        XCTAssertEqual(try ControlClient.socat("clear counters", socket: user), "Permission denied\n\n")
        XCTAssertEqual(try ControlClient.socat("show cli level", socket: op), "operator\n\n")
        XCTAssertEqual(try ControlClient.socat("get weight app/a", socket: user), "1 (initial 1)\n\n")
        // Users read the stats without the balance algorithm and addresses.
        let stat = try ControlClient.socat("show stat", socket: user)
        XCTAssertTrue(stat.contains("\napp,BACKEND,"), stat)
        XCTAssertFalse(stat.contains("roundrobin"))
        XCTAssertFalse(stat.contains("127.0.0.1:\(a.port)"))
        XCTAssertEqual(try ControlClient.socat("show stat", socket: setup.socket).contains("roundrobin"), true)
        XCTAssertEqual(try ProxyFixture.get(port: setup.port).bodyText, "a", "the denied commands changed nothing")
        // An admin may lower its own level for the rest of the line.
        XCTAssertEqual(try ControlClient.socat("operator; set server app/a state maint; show cli level",
                                               socket: setup.socket), "\nPermission denied\n\noperator\n\n")
    }

    func testPromptQuitUnknownAndFrontendCommands() throws {
        let a = try TestBackend(name: "a")
        let setup = try start([a])
        defer { setup.proxy.stop() }
        let answer = try ControlClient.socat("prompt\nshow backend\nget weight app/a\nquit", socket: setup.socket)
        XCTAssertEqual(answer, "\n> # name\napp\n\n> 1 (initial 1)\n\n> ")
        let unknown = try ControlClient.socat("show foo", socket: setup.socket)
        XCTAssertTrue(unknown.hasPrefix("Unknown command, but maybe one of the following ones is a better match:\n  show "), unknown)
        XCTAssertTrue(unknown.hasSuffix("  quit                                    : disconnect\n\n"), unknown)
        let help = try ControlClient.socat("help", socket: setup.socket)
        XCTAssertTrue(help.hasPrefix("The following commands are valid at this level:\n"))
        XCTAssertTrue(help.contains("  show stat [desc|json|no-maint|typed|up]*: report counters for each proxy and server\n"))

        XCTAssertEqual(try ControlClient.socat("disable frontend http-in", socket: setup.socket), "\n")
        XCTAssertEqual(try ControlClient.socat("disable frontend http-in", socket: setup.socket),
                       "All sockets are already disabled.\n\n")
        XCTAssertTrue(try ControlClient.socat("show stat", socket: setup.socket).contains(",STOP,"))
        XCTAssertEqual(try ControlClient.socat("enable frontend http-in", socket: setup.socket), "\n")
        XCTAssertEqual(try ProxyFixture.get(port: setup.port).status, 200)
        XCTAssertEqual(try ControlClient.socat("enable frontend nope", socket: setup.socket), "No such frontend.\n\n")

        // typed and json carry the same values with HAProxy's tags.
        let typed = try ControlClient.socat("show stat typed", socket: setup.socket)
        XCTAssertTrue(typed.hasPrefix("F.2.0.0.pxname.1:KNS:str:http-in\nF.2.0.1.svname.1:KNS:str:FRONTEND\n"), typed)
        XCTAssertTrue(typed.contains("\nS.3.1.17.status.1:SGP:str:no check\n"), typed)
        let json = try ControlClient.socat("show stat json", socket: setup.socket)
        let parsed = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[[String: Any]]]
        XCTAssertEqual(parsed?.count, 3)
        XCTAssertEqual((parsed?[1].first { ($0["field"] as? [String: Any])?["name"] as? String == "svname" }?["value"]
            as? [String: Any])?["value"] as? String, "a")
        let filtered = try ControlClient.socat("show stat 3 4 -1", socket: setup.socket)
        XCTAssertEqual(csvRows(filtered).map { $0[1] }, ["a"])
    }

    func testShowSessListsLiveSessions() throws {
        let a = try TestBackend(name: "a")
        let setup = try start([a])
        defer { setup.proxy.stop() }
        let client = try TCP.Connection(port: setup.port)
        try client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(try client.receiveResponse().bodyText, "a")
        let sessions = try ControlClient.socat("show sess", socket: setup.socket)
        let lines = sessions.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 1, sessions)
        XCTAssertTrue(lines[0].hasPrefix("0x"), sessions)
        XCTAssertTrue(lines[0].contains(": proto=tcpv4 src=127.0.0.1:"), sessions)
        XCTAssertTrue(lines[0].contains(" fe=http-in be=<NONE> srv=<none> ts=00 "), "idle between requests: " + sessions)
        XCTAssertTrue(sessions.hasSuffix("\n\n"))
        XCTAssertEqual(try ControlClient.socat("show sess", socket: setup.directory + "/user.sock"), "Permission denied\n\n")
        // Sessions are gathered from the event loops; later commands on the line follow in order.
        let combined = try ControlClient.socat("show backend; show sess; get weight app/a", socket: setup.socket)
        XCTAssertTrue(combined.hasPrefix("# name\napp\n\n0x"), combined)
        XCTAssertTrue(combined.hasSuffix("\n\n1 (initial 1)\n\n"), combined)
        client.close()
        XCTAssertTrue(try ControlClient.eventually(5) { try ControlClient.socat("show sess", socket: setup.socket) == "\n" })
    }

    func testSocketThatCannotBeBoundStopsTheStartAsHAProxy() throws {
        let port = TCP.freePort()
        let proxy = try ProxydProcess(config: """
            global
                stats socket {DIR}/missing/admin.sock level admin
            \(ProxyFixture.preamble().replacingOccurrences(of: "global\n", with: ""))
            frontend http-in
                bind 127.0.0.1:\(port)

            """)
        defer { proxy.stop() }
        XCTAssertEqual(proxy.waitForExit(timeout: 10), 1)
        let errors = proxy.stderrText()
        XCTAssertTrue(errors.contains(") : Binding [\(proxy.configPath):2] for frontend GLOBAL: cannot bind UNIX socket (No such file or directory) [\(proxy.directory.path)/missing/admin.sock]\n"), errors)
        XCTAssertTrue(errors.contains("Some protocols failed to start their listeners! Exiting."), errors)
    }

    func testIdleClientsAreClosedAfterStatsTimeout() throws {
        let a = try TestBackend(name: "a")
        let port = TCP.freePort()
        let proxy = try ProxydProcess(config: """
            global
                stats socket {DIR}/admin.sock level admin
                stats timeout 700ms
            \(ProxyFixture.preamble().replacingOccurrences(of: "global\n", with: ""))
            frontend http-in
                bind 127.0.0.1:\(port)
                default_backend app
            backend app
            \(ProxyFixture.serverLines([a]))

            """, waitForPorts: [port])
        defer { proxy.stop() }
        let socket = proxy.directory.path + "/admin.sock"
        // A client that says nothing is dropped after `stats timeout`.
        let started = Date()
        let silent = try ControlClient.run("/usr/bin/python3", ["-c", """
            import socket; s = socket.socket(socket.AF_UNIX); s.connect("\(socket)"); print(len(s.recv(100)))
            """], timeout: 10)
        XCTAssertEqual(silent.output, "0\n", "closed without an answer")
        XCTAssertGreaterThan(Date().timeIntervalSince(started), 0.6)
        // A command without its final newline still gets an answer when the client ends.
        let socat = try ControlClient.require("socat", package: "socat")
        XCTAssertEqual(try ControlClient.run(socat, ["stdio", "UNIX-CONNECT:" + socket], input: "show backend").output,
                       "# name\napp\n\n")
    }

    func testPrometheusExporterScrapesTheSocket() throws {
        let exporter = try ControlClient.require("prometheus-haproxy-exporter", package: "prometheus-haproxy-exporter")
        let a = try TestBackend(name: "a"), b = try TestBackend(name: "b")
        let setup = try start([a, b])
        defer { setup.proxy.stop() }
        let port = TCP.freePort()
        let pid = try ControlClient.spawn(exporter, ["--haproxy.scrape-uri=unix:" + setup.socket,
                                                     "--web.listen-address=127.0.0.1:\(port)"])
        defer { ControlClient.stop(pid) }
        XCTAssertTrue(TCP.waitUntilListening(port: port, timeout: 10))
        var metrics = try ControlClient.httpGet(port: port, path: "/metrics")
        XCTAssertTrue(metrics.contains("\nhaproxy_up 1\n"), metrics)
        XCTAssertTrue(metrics.contains("\nhaproxy_server_up{backend=\"app\",server=\"a\"} 1\n"), metrics)
        XCTAssertTrue(metrics.contains("\nhaproxy_backend_up{backend=\"app\"} 1\n"), metrics)
        XCTAssertEqual(try ControlClient.socat("set server app/a state maint", socket: setup.socket), "\n")
        metrics = try ControlClient.httpGet(port: port, path: "/metrics")
        XCTAssertTrue(metrics.contains("\nhaproxy_server_up{backend=\"app\",server=\"a\"} 0\n"), metrics)
        XCTAssertTrue(metrics.contains("\nhaproxy_server_up{backend=\"app\",server=\"b\"} 1\n"), metrics)
    }

    func testHatopShowsTheServers() throws {
        let hatop = try ControlClient.require("hatop", package: "hatop")
        let tmux = try ControlClient.require("tmux", package: "tmux")
        let a = try TestBackend(name: "alpha"), b = try TestBackend(name: "beta")
        let setup = try start([a, b])
        defer { setup.proxy.stop() }
        XCTAssertEqual(try ControlClient.socat("set server app/beta state maint", socket: setup.socket), "\n")
        let session = "proxyd-hatop-\(setup.proxy.pid)"
        try ControlClient.start(tmux, ["new-session", "-d", "-s", session, "-x", "200", "-y", "50",
                                       "\(hatop) -s \(setup.socket)"])
        defer { try? ControlClient.start(tmux, ["kill-session", "-t", session]) }
        var screen = ""
        let shown = try ControlClient.eventually(10) {
            screen = try ControlClient.run(tmux, ["capture-pane", "-t", session, "-p"]).output
            return screen.contains("alpha") && screen.contains("beta")
        }
        XCTAssertTrue(shown, screen)
        XCTAssertTrue(screen.contains("proxyd Version: "), screen)
        let lines = screen.split(separator: "\n")
        // hatop writes HAProxy's "no check" as "-" with check "none".
        XCTAssertTrue(lines.contains { $0.hasPrefix("alpha") && $0.contains(" - ") && $0.contains(" none ") }, screen)
        XCTAssertTrue(lines.contains { $0.hasPrefix("beta") && $0.contains(" MAINT") }, screen)
        XCTAssertTrue(lines.contains { $0.hasPrefix(">>> app") }, screen)
    }
}
