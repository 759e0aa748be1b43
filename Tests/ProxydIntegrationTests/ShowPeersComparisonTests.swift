import Foundation
import XCTest

/// `show peers` (issue 15) beside Debian's HAProxy 2.6: proxyd and HAProxy peers of one
/// section, each asked on its runtime API. The dumps have the same lines in the same
/// order with the same fields (HAProxy's pointers, flags and dates differ by nature, so
/// values are compared where they mean the same: statuses, names, addresses, tables).
final class ShowPeersComparisonTests: XCTestCase {
    func testShowPeersHasHAProxysLayout() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("showpeers-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let names = ["lb1", "lb2"]
        let peerPorts = names.map { _ in TCP.freePort() }, ports = names.map { _ in TCP.freePort() }
        let sockets = names.map { dir.appendingPathComponent("\($0).sock").path }
        func config(_ i: Int) -> String {
            """
            global
                nbthread 1
                stats socket \(sockets[i]) mode 600 level admin
            defaults
                mode http
                timeout connect 2s
                timeout client 10s
                timeout server 10s
            peers mypeers
                peer lb1 127.0.0.1:\(peerPorts[0])
                peer lb2 127.0.0.1:\(peerPorts[1])
                table shared type ip size 1k expire 1m store gpc0
            frontend fe
                bind 127.0.0.1:\(ports[i])
                stick-table type ip size 1k expire 1m store http_req_cnt peers mypeers
                http-request track-sc0 src
                http-request return status 200 content-type text/plain string ok

            """
        }
        // proxyd is lb1, HAProxy lb2. proxyd first: HAProxy connects to it as it starts,
        // before proxyd tries again, so that the two do not connect at once (the
        // collision that follows would replace the connection a moment later).
        let proxy = try ProxydProcess(config: config(0), extraArguments: ["-L", "lb1"], waitForPorts: [ports[0], peerPorts[0]])
        defer { proxy.stop() }
        let reference = try ReferenceHAProxy(config: config(1), waitForPorts: [ports[1], peerPorts[1]], arguments: ["-L", "lb2"])
        defer { reference.stop() }

        func dump(_ i: Int) -> String { (try? StickTableComparisonTests.ask(sockets[i], "show peers")) ?? "" }
        // Connected, then a change on each side travels.
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline, !(dump(0).contains("(remote,active) addr=127.0.0.1:\(peerPorts[1]) last_status=ESTA")
                                   && dump(1).contains("(remote,active) addr=127.0.0.1:\(peerPorts[0]) last_status=ESTA")) {
            Thread.sleep(forTimeInterval: 0.2)
        }
        XCTAssertEqual(StickTableComparisonTests.status(ports[0]), "200 ok")
        XCTAssertEqual(StickTableComparisonTests.status(ports[1]), "200 ok")
        Thread.sleep(forTimeInterval: 2.2)  // a heartbeat period: the counters move

        let ours = dump(0), theirs = dump(1)
        XCTAssertEqual(Self.shape(ours), Self.shape(theirs), "proxyd:\n\(ours)\nHAProxy:\n\(theirs)")
        // What the values say, on proxyd's side.
        XCTAssertTrue(ours.contains(" id=mypeers disabled=0 "), ours)
        XCTAssertTrue(ours.contains("id=lb2(remote,active) addr=127.0.0.1:\(peerPorts[1]) last_status=ESTA"), ours)
        XCTAssertTrue(ours.contains("id=lb1(local,inactive) addr=127.0.0.1:\(peerPorts[0]) last_status=NONE last_hdshk=<NEVER>"), ours)
        XCTAssertTrue(ours.contains(" id=fe update=") && ours.contains(" id=mypeers/shared update="), ours)
        XCTAssertTrue(ours.contains("remote_table:") && ours.contains("last_local_table:"), ours)
        XCTAssertTrue(theirs.contains("id=lb1(remote,") && theirs.contains("addr=127.0.0.1:\(peerPorts[0]) last_status=ESTA"), theirs)
        XCTAssertEqual(try StickTableComparisonTests.ask(sockets[0], "show peers nope"),
                       try StickTableComparisonTests.ask(sockets[1], "show peers nope"))
        XCTAssertEqual(Self.shape(try StickTableComparisonTests.ask(sockets[0], "show peers mypeers")),
                       Self.shape(try StickTableComparisonTests.ask(sockets[1], "show peers mypeers")))
    }

    /// Each line's words with their values blanked: pointers, the date, `key=value`
    /// values. The remote peer's appctx details and the current-table lines depend on
    /// the moment (a connection being replaced has none): left out.
    static func shape(_ text: String) -> [String] {
        func blank(_ line: String, _ pattern: String, _ with: String) -> String {
            let regex = try! NSRegularExpression(pattern: pattern)
            return regex.stringByReplacingMatches(in: line, range: NSRange(line.startIndex..., in: line), withTemplate: with)
        }
        return text.split(separator: "\n").map(String.init)
            .filter { !$0.contains("remote_table:") && !$0.contains("last_local_table:") }
            .map { line in
                var l = blank(line, " appctx:.*$", "")
                l = blank(l, "0x[0-9a-f]+", "0x?")
                l = blank(l, "\\[[^]]*\\]", "[?]")
                return blank(l, "=[^ ]*", "=?")
            }
    }
}
