import Foundation
import XCTest
@testable import ProxyCore

/// Server state carried across `-sf` reloads (issue 12): what an operator set over the
/// runtime API and what the health checks found survive the reload, for servers the new
/// configuration keeps as they were. HAProxy 2.6 forgets all of it (haproxy#918, #2085).
final class ServerStateCarryTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("proxyd-carry-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func config(port: Int, servers: String, socket: String) -> String {
        """
        global
            nbthread 1
            stats socket \(socket) mode 600 level admin

        defaults
            mode http
            timeout connect 1s
            timeout client 10s
            timeout server 10s

        frontend fe
            bind 127.0.0.1:\(port)
            default_backend app

        backend app
            balance roundrobin
        \(servers)

        """
    }

    private func servedBy(port: Int, count: Int) throws -> [String] {
        try (0..<count).map { _ in
            let r = try ProxyFixture.get(port: port)
            return r.status == 200 ? (r.header("x-server") ?? "?") : "\(r.status)"
        }
    }

    /// `set server … state maint` and `… weight` before a reload are still so after it.
    func testMaintenanceAndWeightSetAtRunTimeSurviveAReload() throws {
        let one = try TestBackend(name: "one"), two = try TestBackend(name: "two"), three = try TestBackend(name: "three")
        let port = TCP.freePort()
        let socket = directory + "/admin.sock"
        let cfg = config(port: port, servers: ProxyFixture.serverLines([one, two, three]), socket: socket)
        let old = try ProxydProcess(config: cfg, waitForPorts: [port])
        defer { old.stop() }
        XCTAssertTrue(try ControlClient.eventually(5) { FileManager.default.fileExists(atPath: socket) })
        XCTAssertEqual(try ControlClient.socat("set server app/one state maint", socket: socket), "\n")
        XCTAssertEqual(Set(try servedBy(port: port, count: 4)), ["two", "three"])
        XCTAssertEqual(try ControlClient.socat("set server app/two weight 7", socket: socket), "\n")

        let new = try ProxydProcess(config: cfg, extraArguments: ["-sf", "\(old.pid)"])
        defer { new.stop() }
        XCTAssertTrue(try ControlClient.eventually(5) {
            try ControlClient.socat("show info", socket: socket).contains("\nPid: \(new.pid)\n")
        })
        XCTAssertEqual(old.waitForExit(timeout: 5), 0)
        XCTAssertEqual(Set(try servedBy(port: port, count: 8)), ["two", "three"], "one stays in maintenance")
        XCTAssertEqual(try ControlClient.socat("get weight app/two", socket: socket), "7 (initial 1)\n\n")
        let state = ServerStateCarry.parse(try ControlClient.socat("show servers state app", socket: socket))
        XCTAssertEqual(state.first { $0.server == "one" }?.admin, 1, "one: SRV_ADMF_FMAINT")
    }

    /// A server the old process's checks found DOWN gets no request after the reload: it
    /// starts DOWN, and needs `rise` good checks to come back (HAProxy's new process sends
    /// it traffic until its own checks run).
    func testAServerDownBeforeAReloadGetsNoRequestAfterIt() throws {
        let up = try TestBackend(name: "up")
        let deadPort = TCP.freePort()  // nothing listens there
        let port = TCP.freePort()
        let socket = directory + "/admin.sock"
        let servers = """
                server up 127.0.0.1:\(up.port) check inter 3s
                server dead 127.0.0.1:\(deadPort) check inter 3s fall 1 rise 2
            """
        let cfg = config(port: port, servers: servers, socket: socket)
        let old = try ProxydProcess(config: cfg, waitForPorts: [port])
        defer { old.stop() }
        XCTAssertTrue(try ControlClient.eventually(10) {
            guard FileManager.default.fileExists(atPath: socket) else { return false }
            let stat = try ControlClient.socat("show stat", socket: socket)
            return stat.split(separator: "\n").contains { $0.hasPrefix("app,dead,") && $0.contains(",DOWN,") }
        }, "the old process marks dead DOWN")

        let new = try ProxydProcess(config: cfg, extraArguments: ["-sf", "\(old.pid)"])
        defer { new.stop() }
        XCTAssertTrue(try ControlClient.eventually(5) {
            try ControlClient.socat("show info", socket: socket).contains("\nPid: \(new.pid)\n")
        })
        // The new process's first check of `dead` is up to 3 s away: every request now
        // would fail if it started UP.
        XCTAssertEqual(try servedBy(port: port, count: 6), Array(repeating: "up", count: 6))
        let line = try ControlClient.socat("show stat", socket: socket).split(separator: "\n").first { $0.hasPrefix("app,dead,") }
        XCTAssertTrue(line?.contains(",DOWN,") == true, String(line ?? "no line"))
    }

    /// Master-worker (-W): a SIGUSR2 reload's new worker asks the old one, as -sf does.
    func testMasterWorkerReloadCarriesTheState() throws {
        let one = try TestBackend(name: "one"), two = try TestBackend(name: "two")
        let port = TCP.freePort()
        let socket = directory + "/admin.sock"
        let master = try ProxydProcess(config: config(port: port, servers: ProxyFixture.serverLines([one, two]), socket: socket),
                                       extraArguments: ["-W"], waitForPorts: [port])
        defer { master.stop() }
        func workerPid() throws -> String? {
            try ControlClient.socat("show info", socket: socket).split(separator: "\n")
                .first { $0.hasPrefix("Pid: ") }.map { String($0.dropFirst(5)) }
        }
        XCTAssertTrue(try ControlClient.eventually(5) {
            guard FileManager.default.fileExists(atPath: socket) else { return false }
            return try workerPid() != nil
        })
        let first = try workerPid()
        _ = try ControlClient.socat("set server app/one state maint", socket: socket)
        master.signal(SIGUSR2)
        XCTAssertTrue(try ControlClient.eventually(5) {
            let now = try workerPid()
            return now != nil && now != first
        }, "a new worker answers")
        XCTAssertEqual(Set(try servedBy(port: port, count: 4)), ["two"], "one stays in maintenance in the new worker")
    }

    /// What the new configuration changed wins: a server whose address moved, or whose
    /// weight the config changed, starts as configured.
    func testTheNewConfigurationWinsWhereItChangedTheServer() throws {
        let one = try TestBackend(name: "one"), two = try TestBackend(name: "two"), moved = try TestBackend(name: "one")
        let port = TCP.freePort()
        let socket = directory + "/admin.sock"
        let old = try ProxydProcess(config: config(port: port, servers: ProxyFixture.serverLines([one, two]), socket: socket),
                                    waitForPorts: [port])
        defer { old.stop() }
        XCTAssertTrue(try ControlClient.eventually(5) { FileManager.default.fileExists(atPath: socket) })
        _ = try ControlClient.socat("set server app/one state maint", socket: socket)
        _ = try ControlClient.socat("set server app/two weight 9", socket: socket)
        let servers = """
                server one 127.0.0.1:\(moved.port)
                server two 127.0.0.1:\(two.port) weight 3
            """
        let new = try ProxydProcess(config: config(port: port, servers: servers, socket: socket), extraArguments: ["-sf", "\(old.pid)"])
        defer { new.stop() }
        XCTAssertTrue(try ControlClient.eventually(5) {
            try ControlClient.socat("show info", socket: socket).contains("\nPid: \(new.pid)\n")
        })
        XCTAssertEqual(try ControlClient.socat("get weight app/two", socket: socket), "3 (initial 3)\n\n")
        XCTAssertTrue(try servedBy(port: port, count: 4).contains("one"), "one moved: not kept in maintenance")
    }

    /// HAProxy's way: the operator saves `show servers state` to a file, the configuration
    /// loads it (`server-state-file` + `load-server-state-from-file global`, or a file per
    /// backend with `local` in `server-state-base`). A missing file is a warning.
    func testServerStateFilesAsHAProxyReadsThem() throws {
        let one = try TestBackend(name: "one"), two = try TestBackend(name: "two")
        let port = TCP.freePort()
        let socket = directory + "/admin.sock"
        let servers = ProxyFixture.serverLines([one, two])
        let first = try ProxydProcess(config: config(port: port, servers: servers, socket: socket), waitForPorts: [port])
        XCTAssertTrue(try ControlClient.eventually(5) { FileManager.default.fileExists(atPath: socket) })
        _ = try ControlClient.socat("set server app/one state maint", socket: socket)
        let saved = try ControlClient.socat("show servers state", socket: socket)
        try saved.write(toFile: directory + "/state", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: directory + "/states", withIntermediateDirectories: true)
        try saved.write(toFile: directory + "/states/app", atomically: true, encoding: .utf8)
        first.signal(SIGTERM)
        XCTAssertEqual(first.waitForExit(timeout: 5), 0)

        for (globalLines, proxyLines) in [("    server-state-file \(directory)/state", "    load-server-state-from-file global"),
                                          ("    server-state-base \(directory)/states", "    load-server-state-from-file local")] {
            let cfg = config(port: port, servers: servers, socket: socket)
                .replacingOccurrences(of: "    nbthread 1\n", with: "    nbthread 1\n\(globalLines)\n")
                .replacingOccurrences(of: "    balance roundrobin\n", with: "    balance roundrobin\n\(proxyLines)\n")
            let proxy = try ProxydProcess(config: cfg, waitForPorts: [port])
            XCTAssertEqual(Set(try servedBy(port: port, count: 4)), ["two"], "\(proxyLines): one starts in maintenance")
            proxy.stop()
        }

        let missing = config(port: port, servers: servers, socket: socket)
            .replacingOccurrences(of: "    nbthread 1\n", with: "    nbthread 1\n    server-state-file \(directory)/nothing-here\n")
            .replacingOccurrences(of: "    balance roundrobin\n", with: "    balance roundrobin\n    load-server-state-from-file global\n")
        let proxy = try ProxydProcess(config: missing, waitForPorts: [port])
        defer { proxy.stop() }
        XCTAssertEqual(Set(try servedBy(port: port, count: 4)), ["one", "two"])
        proxy.signal(SIGTERM)
        _ = proxy.waitForExit(timeout: 5)
        let stderr = proxy.stderrText()
        XCTAssertTrue(stderr.contains("[WARNING]") && stderr.contains("Can't open server state file '\(directory)/nothing-here'"), stderr)
    }

    /// HAProxy's own `show servers state` reads as ours: a state saved from HAProxy (a
    /// server-state file) means the same here.
    func testParsesHAProxysServersState() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/haproxy") else {
            throw XCTSkip("haproxy is not installed (scripts/install-deps installs it)")
        }
        let one = try TestBackend(name: "one"), two = try TestBackend(name: "two")
        let port = TCP.freePort()
        let socket = directory + "/haproxy.sock"
        let cfgPath = directory + "/haproxy.cfg"
        try config(port: port, servers: ProxyFixture.serverLines([one, two]), socket: socket)
            .write(toFile: cfgPath, atomically: true, encoding: .utf8)
        let haproxy = Process()
        haproxy.executableURL = URL(fileURLWithPath: "/usr/sbin/haproxy")
        haproxy.arguments = ["-db", "-q", "-f", cfgPath]
        try haproxy.run()
        defer { haproxy.terminate(); haproxy.waitUntilExit() }
        XCTAssertTrue(try ControlClient.eventually(5) { FileManager.default.fileExists(atPath: socket) })
        _ = try ControlClient.socat("set server app/one state maint", socket: socket)
        _ = try ControlClient.socat("set server app/two weight 5", socket: socket)
        let records = ServerStateCarry.parse(try ControlClient.socat("show servers state", socket: socket))
        XCTAssertEqual(records.map(\.server), ["one", "two"])
        XCTAssertEqual(records[0].admin & 0x1, 1)
        XCTAssertEqual(records[0].address, "127.0.0.1")
        XCTAssertEqual(records[0].port, one.port)
        XCTAssertEqual(records[1].userWeight, 5)
        XCTAssertEqual(records[1].initialWeight, 1)
        XCTAssertEqual(records[1].operational, 2)
    }
}
