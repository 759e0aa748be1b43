import Foundation
import XCTest

/// Reloads under load lose nothing when the listening sockets are handed over (issue 12):
/// wrk through proxyd for 4 s while it reloads every 250 ms, with a new connection per
/// request (`Connection: close`, so the accept queue is never empty) and with keep-alive
/// (so reloads meet connections between two requests). HAProxy 2.6 loses tens to hundreds
/// in the same run (scripts/bench-reload).
final class ReloadUnderLoadTests: XCTestCase {
    private func config(port: Int, backend: TestBackend, socket: String) -> String {
        MasterWorkerTests.config(port: port, backend: backend,
                                 global: "    stats socket \(socket) mode 600 level admin expose-fd listeners")
    }

    /// `-sf OLD -x SOCKET`: the new process takes the old one's listeners.
    func testTakingTheListenersWithXLosesNothing() throws {
        for keepAlive in [false, true] {
            let backend = try TestBackend(name: "web")
            let port = TCP.freePort()
            let socket = MasterWorkerTests.masterSocket()
            defer { unlink(socket) }
            let cfg = config(port: port, backend: backend, socket: socket)
            var current = try ProxydProcess(config: cfg, waitForPorts: [port])
            var old: [ProxydProcess] = []
            defer { current.stop(); old.forEach { $0.stop() } }
            let result = try Self.underLoad(port: port, keepAlive: keepAlive) {
                let previous = current
                current = try ProxydProcess(config: cfg, extraArguments: ["-x", socket, "-sf", "\(previous.pid)"],
                                            waitForPorts: [port])
                old.append(previous)
            }
            XCTAssertGreaterThan(result.requests, 500, result.text)
            XCTAssertFalse(result.text.contains("Socket errors"), "keep-alive \(keepAlive), 12 reloads with -x:\n\(result.text)")
            XCTAssertFalse(result.text.contains("Non-2xx"), result.text)
            for process in old {
                XCTAssertEqual(process.waitForExit(timeout: 5), 0, "an old process finishes and exits 0")
            }
            // Every new process served on the first process's socket: one socket, passed on.
            XCTAssertEqual(Self.listeningSockets(port: port), 1)
        }
    }

    /// `-W`: SIGUSR2 to the master, which hands its listeners to each new worker.
    func testMasterWorkerReloadsLoseNothing() throws {
        for keepAlive in [false, true] {
            let backend = try TestBackend(name: "web")
            let port = TCP.freePort()
            let socket = MasterWorkerTests.masterSocket()
            let master = try MasterWorkerTests.startMaster(MasterWorkerTests.config(port: port, backend: backend),
                                                           port: port, socket: socket)
            defer { master.stop() }
            let result = try Self.underLoad(port: port, keepAlive: keepAlive) { master.signal(SIGUSR2) }
            XCTAssertGreaterThan(result.requests, 500, result.text)
            XCTAssertFalse(result.text.contains("Socket errors"), "keep-alive \(keepAlive), 12 reloads with -W:\n\(result.text)")
            XCTAssertFalse(result.text.contains("Non-2xx"), result.text)
            let table = try MasterCLIClient.ask(socket, "show proc")
            XCTAssertTrue(table.contains("master          12 [failed: 0]"), table)
        }
    }

    /// The `_getsocks` exchange is HAProxy 2.6's: one listening socket goes from proxyd to
    /// HAProxy (`haproxy -x`) and back to a new proxyd (`proxyd -x`), serving throughout.
    func testHAProxyAndProxydTakeTheSameSocketFromEachOther() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/haproxy") else {
            throw XCTSkip("haproxy is not installed (scripts/install-deps installs it)")
        }
        let backend = try TestBackend(name: "web")
        let port = TCP.freePort()
        let proxydSocket = MasterWorkerTests.masterSocket()
        let haproxySocket = MasterWorkerTests.masterSocket()
        defer { unlink(proxydSocket); unlink(haproxySocket) }  // HAProxy leaves its socket behind
        let first = try ProxydProcess(config: config(port: port, backend: backend, socket: proxydSocket), waitForPorts: [port])
        defer { first.stop() }
        let socketInode = Self.listeningInodes(port: port)
        XCTAssertEqual(socketInode.count, 1)

        let haproxyConfig = first.directory.appendingPathComponent("haproxy.cfg").path
        try config(port: port, backend: backend, socket: haproxySocket)
            .write(toFile: haproxyConfig, atomically: true, encoding: .utf8)
        let haproxy = Process()
        haproxy.executableURL = URL(fileURLWithPath: "/usr/sbin/haproxy")
        haproxy.arguments = ["-db", "-q", "-f", haproxyConfig, "-x", proxydSocket, "-sf", "\(first.pid)"]
        try haproxy.run()
        defer { if haproxy.isRunning { haproxy.terminate(); haproxy.waitUntilExit() } }
        XCTAssertEqual(first.waitForExit(timeout: 5), 0, "proxyd finishes once HAProxy took over")
        XCTAssertEqual(Self.listeningInodes(port: port), socketInode, "HAProxy serves on proxyd's socket")
        XCTAssertEqual(try HTTPProbe.body(port: port), "web")

        let last = try ProxydProcess(config: config(port: port, backend: backend, socket: proxydSocket),
                                     extraArguments: ["-x", haproxySocket, "-sf", "\(haproxy.processIdentifier)"],
                                     waitForPorts: [port])
        defer { last.stop() }
        haproxy.waitUntilExit()
        XCTAssertEqual(Self.listeningInodes(port: port), socketInode, "proxyd serves on HAProxy's socket")
        XCTAssertEqual(try HTTPProbe.body(port: port), "web")
    }

    /// Runs wrk for 4 s, calling `reload` 12 times, 250 ms apart.
    static func underLoad(port: Int, keepAlive: Bool, reload: () throws -> Void) throws -> (requests: Int, text: String) {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/wrk") else {
            throw XCTSkip("wrk is not installed (scripts/install-deps installs it)")
        }
        let wrk = Process()
        wrk.executableURL = URL(fileURLWithPath: "/usr/bin/wrk")
        wrk.arguments = ["-t1", "-c20", "-d4s", "--timeout", "5s"] + (keepAlive ? [] : ["-H", "Connection: close"])
            + ["http://127.0.0.1:\(port)/"]
        let out = Pipe()
        wrk.standardOutput = out
        try wrk.run()
        defer { if wrk.isRunning { wrk.terminate() } }
        usleep(300_000)
        for _ in 0..<12 {
            usleep(250_000)
            try reload()
        }
        wrk.waitUntilExit()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        // "  12345 requests in 4.00s, …"
        let total = text.split(separator: "\n").first { $0.contains(" requests in ") }
            .flatMap { Int($0.split(separator: " ").first ?? "") } ?? 0
        return (total, text)
    }

    /// Listening sockets on 127.0.0.1:`port`, by inode (several processes may hold one).
    static func listeningSockets(port: Int) -> Int { listeningInodes(port: port).count }

    static func listeningInodes(port: Int) -> Set<Substring> {
        let table = (try? String(contentsOfFile: "/proc/net/tcp", encoding: .utf8)) ?? ""
        let local = String(format: "0100007F:%04X", port)
        return Set(table.split(separator: "\n").compactMap { line -> Substring? in
            let fields = line.split(separator: " ")
            guard fields.count > 9, fields[1] == local, fields[3] == "0A" else { return nil }  // 0A: LISTEN
            return fields[9]
        })
    }
}
