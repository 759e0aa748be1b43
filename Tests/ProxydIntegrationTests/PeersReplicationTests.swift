import Foundation
import XCTest

/// Stick tables replicated over HAProxy's peers protocol (issue 15): proxyd and Debian's
/// HAProxy 2.6 in one `peers` section, each started with `-L` its own name. Entries
/// made through one appear in the other's `show table`, and a restarted proxyd gets the
/// table back from its peer.
final class PeersReplicationTests: XCTestCase {
    private struct Side {
        let name: String
        let port = TCP.freePort()
        let peerPort: Int
        let socket: String
    }

    /// The same config for every side: `PORT` and `SOCKET` are the side's own.
    private static func config(_ sides: [Side], _ side: Side) -> String {
        """
        global
            nbthread 1
            stats socket \(side.socket) mode 600 level admin
        defaults
            mode http
            timeout connect 2s
            timeout client 10s
            timeout server 10s
        peers mypeers
        \(sides.map { "    peer \($0.name) 127.0.0.1:\($0.peerPort)" }.joined(separator: "\n"))
            table names type string len 20 size 1k expire 1m store http_req_cnt
        frontend fe
            bind 127.0.0.1:\(side.port)
            stick-table type ip size 1k expire 1m store gpc0,http_req_cnt peers mypeers
            http-request track-sc0 src
            http-request track-sc1 req.hdr(x-user) table mypeers/names if { req.hdr(x-user) -m found }
            http-request sc-inc-gpc0(0) if { path /count }
            http-request return status 200 content-type text/plain string ok

        """
    }

    private func makeSides(_ names: [String]) throws -> ([Side], URL) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("peers-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let sides = names.map { Side(name: $0, peerPort: TCP.freePort(), socket: dir.appendingPathComponent("\($0).sock").path) }
        return (sides, dir)
    }

    /// `replacing`: a reload (`-sf` the old process's pid).
    private func startProxyd(_ sides: [Side], _ side: Side, replacing old: ProxydProcess? = nil) throws -> ProxydProcess {
        try ProxydProcess(config: Self.config(sides, side),
                          extraArguments: ["-L", side.name] + (old.map { ["-sf", "\($0.pid)"] } ?? []),
                          waitForPorts: [side.port, side.peerPort])
    }

    /// `gpc0` and `http_req_cnt` of 127.0.0.1 in `show table fe`, once they are `want`
    /// (polled up to `seconds`); what was last seen otherwise.
    private func counters(_ socket: String, want: String? = nil, seconds: Double = 8) throws -> String {
        let deadline = Date().addingTimeInterval(seconds)
        var seen = ""
        repeat {
            let table = (try? StickTableComparisonTests.ask(socket, "show table fe key 127.0.0.1")) ?? ""
            let words = table.split(whereSeparator: { $0 == " " || $0 == "\n" })
            seen = words.filter { $0.hasPrefix("gpc0=") || $0.hasPrefix("http_req_cnt=") }.joined(separator: " ")
            if want == nil || seen == want { return seen }
            Thread.sleep(forTimeInterval: 0.1)
        } while Date() < deadline
        return seen
    }

    /// Before the other side counts on the same entry: the side that served last pushes
    /// the entry once more when its stream ends (HAProxy touches it then, as proxyd does),
    /// and that copy, landing after the other side's next count, would overwrite it.
    /// Last writer wins, in HAProxy too: the test lets the last push land first.
    private func settle() { Thread.sleep(forTimeInterval: 0.3) }

    private func request(_ port: Int, _ path: String, times: Int) {
        for _ in 0..<times { XCTAssertEqual(StickTableComparisonTests.status(port, path: path), "200 ok") }
    }

    func testEntriesTravelBothWaysWithHAProxyAndComeBackAfterARestart() throws {
        let (sides, dir) = try makeSides(["haproxy", "proxyd"])
        defer { try? FileManager.default.removeItem(at: dir) }
        let haproxySide = sides[0], proxydSide = sides[1]
        let reference = try ReferenceHAProxy(config: Self.config(sides, haproxySide),
                                             waitForPorts: [haproxySide.port, haproxySide.peerPort],
                                             arguments: ["-L", haproxySide.name])
        defer { reference.stop() }
        var proxy = try startProxyd(sides, proxydSide)
        defer { proxy.stop() }

        // HAProxy → proxyd: three requests, one of them counted in gpc0.
        request(haproxySide.port, "/count", times: 1)
        request(haproxySide.port, "/", times: 2)
        XCTAssertEqual(try counters(haproxySide.socket), "gpc0=1 http_req_cnt=3")
        XCTAssertEqual(try counters(proxydSide.socket, want: "gpc0=1 http_req_cnt=3"), "gpc0=1 http_req_cnt=3",
                       proxy.stderrText())

        // proxyd → HAProxy: proxyd goes on from the replicated entry.
        settle()
        request(proxydSide.port, "/count", times: 1)
        request(proxydSide.port, "/", times: 1)
        XCTAssertEqual(try counters(proxydSide.socket), "gpc0=2 http_req_cnt=5")
        XCTAssertEqual(try counters(haproxySide.socket, want: "gpc0=2 http_req_cnt=5"), "gpc0=2 http_req_cnt=5")

        // A restarted proxyd starts empty and asks HAProxy for everything it knows.
        proxy.stop()
        proxy = try startProxyd(sides, proxydSide)
        XCTAssertEqual(try counters(proxydSide.socket, want: "gpc0=2 http_req_cnt=5", seconds: 12),
                       "gpc0=2 http_req_cnt=5", proxy.stderrText())

        // A table of the peers section, string keys, both ways (HAProxy 2.6 names it
        // `/names` on the wire).
        XCTAssertEqual(StickTableComparisonTests.status(haproxySide.port, headers: "x-user: alice\r\n"), "200 ok")
        // Each side's count reached the other before the next request: two increments
        // of one entry a moment apart would overwrite each other (in HAProxy too).
        XCTAssertEqual(try counters(proxydSide.socket, want: "gpc0=2 http_req_cnt=6"), "gpc0=2 http_req_cnt=6")
        settle()
        XCTAssertEqual(StickTableComparisonTests.status(proxydSide.port, headers: "x-user: bob\r\n"), "200 ok")
        XCTAssertEqual(try counters(haproxySide.socket, want: "gpc0=2 http_req_cnt=7"), "gpc0=2 http_req_cnt=7")
        for socket in [haproxySide.socket, proxydSide.socket] {
            XCTAssertEqual(try names(socket, want: ["key=alice http_req_cnt=1", "key=bob http_req_cnt=1"]),
                           ["key=alice http_req_cnt=1", "key=bob http_req_cnt=1"], socket)
        }

        // A reload (-sf): the new process gets the tables from HAProxy too.
        let old = proxy
        proxy = try startProxyd(sides, proxydSide, replacing: old)
        XCTAssertNotNil(old.waitForExit(timeout: 10), "the old process did not stop")
        XCTAssertEqual(try counters(proxydSide.socket, want: "gpc0=2 http_req_cnt=7", seconds: 12),
                       "gpc0=2 http_req_cnt=7")
        XCTAssertEqual(try names(proxydSide.socket, want: ["key=alice http_req_cnt=1", "key=bob http_req_cnt=1"]),
                       ["key=alice http_req_cnt=1", "key=bob http_req_cnt=1"])
        old.stop()
    }

    /// The entries of `show table mypeers/names` as `key=K http_req_cnt=N`, sorted, once
    /// they are `want` (polled up to 8 s).
    private func names(_ socket: String, want: [String]) throws -> [String] {
        let deadline = Date().addingTimeInterval(8)
        var seen: [String] = []
        repeat {
            let table = (try? StickTableComparisonTests.ask(socket, "show table mypeers/names")) ?? ""
            seen = table.split(separator: "\n").filter { $0.hasPrefix("0x") }.map { line in
                line.split(separator: " ").filter { $0.hasPrefix("key=") || $0.hasPrefix("http_req_cnt=") }.joined(separator: " ")
            }.sorted()
            if seen == want { return seen }
            Thread.sleep(forTimeInterval: 0.1)
        } while Date() < deadline
        return seen
    }

    func testTwoProxydReplicateAndResync() throws {
        let (sides, dir) = try makeSides(["lb1", "lb2"])
        defer { try? FileManager.default.removeItem(at: dir) }
        let first = try startProxyd(sides, sides[0])
        defer { first.stop() }
        var second = try startProxyd(sides, sides[1])
        defer { second.stop() }

        request(sides[0].port, "/count", times: 2)
        XCTAssertEqual(try counters(sides[1].socket, want: "gpc0=2 http_req_cnt=2"), "gpc0=2 http_req_cnt=2")
        settle()
        request(sides[1].port, "/", times: 1)
        XCTAssertEqual(try counters(sides[0].socket, want: "gpc0=2 http_req_cnt=3"), "gpc0=2 http_req_cnt=3")

        second.stop()
        second = try startProxyd(sides, sides[1])
        XCTAssertEqual(try counters(sides[1].socket, want: "gpc0=2 http_req_cnt=3", seconds: 12),
                       "gpc0=2 http_req_cnt=3", second.stderrText())
    }

    /// With no remote peer up, a reload (-sf) still keeps the tables: the old process
    /// teaches the new one at the local peer's address, as HAProxy's does.
    func testAReloadHandsTheTablesOverWithoutRemotePeers() throws {
        let (sides, dir) = try makeSides(["lb1", "lb2"])
        defer { try? FileManager.default.removeItem(at: dir) }
        let old = try startProxyd(sides, sides[0])
        defer { old.stop() }
        request(sides[0].port, "/count", times: 2)
        XCTAssertEqual(try counters(sides[0].socket), "gpc0=2 http_req_cnt=2")
        let new = try startProxyd(sides, sides[0], replacing: old)
        defer { new.stop() }
        XCTAssertNotNil(old.waitForExit(timeout: 10), "the old process did not stop")
        XCTAssertEqual(try counters(sides[0].socket, want: "gpc0=2 http_req_cnt=2"), "gpc0=2 http_req_cnt=2")
    }
}
