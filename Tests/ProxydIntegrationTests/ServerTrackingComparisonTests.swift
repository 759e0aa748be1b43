import Foundation
import XCTest

/// `track [B/]S` (issue 15), side by side with HAProxy 2.6: a tracking server goes DOWN
/// when the server it tracks fails its checks, into `MAINT (via B/S)` when it is put in
/// maintenance, and comes back with it; the same statuses, `show servers state` rows,
/// traffic and sentences on standard error.
final class ServerTrackingComparisonTests: XCTestCase {
    func testTrackingServerFollowsTheTrackedOne() throws {
        let checkedPort = TCP.freePort()
        var checked: TestBackend? = try TestBackend(name: "checked", port: checkedPort)
        defer { checked?.stop() }
        let follower = try TestBackend(name: "follower")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tr-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        func config(_ port: Int, _ socket: String) -> String {
            ProxyFixture.preamble(extraGlobal: "stats socket \(socket) level admin") + """
            frontend fe
                bind 127.0.0.1:\(port)
                default_backend app
            backend app
                server s1 127.0.0.1:\(checkedPort) check inter 100 fall 1 rise 1
                server s2 127.0.0.1:\(follower.port) track s1
            backend other
                server o1 127.0.0.1:\(follower.port) track app/s2
            """
        }
        let haproxyPort = TCP.freePort(), proxydPort = TCP.freePort()
        let haproxySocket = directory.appendingPathComponent("h.sock").path
        let proxydSocket = directory.appendingPathComponent("p.sock").path
        let reference = try ReferenceHAProxy(config: config(haproxyPort, haproxySocket), waitForPorts: [haproxyPort])
        defer { reference.stop() }
        let proxy = try ProxydProcess(config: config(proxydPort, proxydSocket), waitForPorts: [proxydPort])
        defer { proxy.stop() }

        /// Each server's status in `show stat`, and its `show servers state` row without the
        /// seconds since the last change and the check columns (the tracked server's own).
        func view(_ socket: String) throws -> [String] {
            let stat = try ControlClient.socat("show stat", socket: socket).split(separator: "\n")
                .filter { $0.hasPrefix("app,s") || $0.hasPrefix("other,o") }
                .map { line -> String in
                    let fields = line.split(separator: ",", omittingEmptySubsequences: false)
                    return "\(fields[1]) \(fields[17])"  // svname, status
                }
            let state = try ControlClient.socat("show servers state", socket: socket).split(separator: "\n")
                .filter { $0.contains(" s2 ") || $0.contains(" o1 ") }
                .map { line -> String in
                    let fields = line.split(separator: " ")
                    return fields[3...8].joined(separator: " ")  // name, address, op state, admin state, weights
                }
            return stat + state
        }
        func bothSee(_ step: String, _ expected: [String]) throws {
            for (name, socket) in [("proxyd", proxydSocket), ("haproxy", haproxySocket)] {
                var last: [String] = []
                let reached = ControlClient.eventually(5) {
                    last = (try? view(socket)) ?? []
                    return last == expected
                }
                XCTAssertTrue(reached, "\(step), \(name): \(last)")
            }
        }
        func answers(_ port: Int) -> [String] {
            (0..<4).map { _ in
                guard let response = try? ProxyFixture.get(port: port) else { return "no answer" }
                return response.status == 200 ? response.bodyText : String(response.status)
            }.sorted()
        }

        try bothSee("both up", ["s1 UP", "s2 UP", "o1 UP", "s2 127.0.0.1 2 0 1 1", "o1 127.0.0.1 2 0 1 1"])
        XCTAssertEqual(answers(proxydPort), ["checked", "checked", "follower", "follower"])

        // The tracked server fails its checks: its followers go DOWN with it, down the chain.
        checked?.stop()
        checked = nil
        try bothSee("tracked down", ["s1 DOWN", "s2 DOWN", "o1 DOWN", "s2 127.0.0.1 0 0 1 1", "o1 127.0.0.1 0 0 1 1"])
        XCTAssertEqual(answers(proxydPort), ["503", "503", "503", "503"])
        XCTAssertEqual(answers(haproxyPort), ["503", "503", "503", "503"])

        checked = try TestBackend(name: "checked", port: checkedPort)
        try bothSee("tracked back", ["s1 UP", "s2 UP", "o1 UP", "s2 127.0.0.1 2 0 1 1", "o1 127.0.0.1 2 0 1 1"])

        // Maintenance is inherited: MAINT (via app/s1), admin state 2 (IMAINT).
        for socket in [proxydSocket, haproxySocket] {
            XCTAssertEqual(try ControlClient.socat("disable server app/s1", socket: socket), "\n")
        }
        try bothSee("tracked in maintenance", ["s1 MAINT", "s2 MAINT (via app/s1)", "o1 MAINT (via app/s2)",
                                               "s2 127.0.0.1 0 2 1 1", "o1 127.0.0.1 0 2 1 1"])
        // A tracked server cannot be deleted, even in maintenance.
        for socket in [proxydSocket, haproxySocket] {
            XCTAssertEqual(try ControlClient.socat("del server app/s1", socket: socket),
                           "This server cannot be removed at runtime due to other configuration elements pointing to it.\n")
        }
        for socket in [proxydSocket, haproxySocket] {
            XCTAssertEqual(try ControlClient.socat("enable server app/s1", socket: socket), "\n")
        }
        try bothSee("out of maintenance", ["s1 UP", "s2 UP", "o1 UP", "s2 127.0.0.1 2 0 1 1", "o1 127.0.0.1 2 0 1 1"])

        // The sentences on standard error, as HAProxy words them.
        let haproxyLines = reference.stderrText()
        proxy.stop()
        let proxydLines = proxy.stderrText()
        for sentence in ["Server app/s2 is DOWN via app/s1. ", "Server other/o1 is DOWN via app/s2. ",
                         "Server app/s2 is UP via app/s1. ", "Server app/s2 is going DOWN for maintenance via app/s1. ",
                         "Server app/s2 is UP/READY (leaving maintenance)."] {
            XCTAssertTrue(haproxyLines.contains(sentence), "haproxy: \(sentence)\n\(haproxyLines)")
            XCTAssertTrue(proxydLines.contains(sentence), "proxyd: \(sentence)\n\(proxydLines)")
        }
    }
}
