import Foundation
import XCTest

/// proxyd and the real HAProxy 2.6 on the same config, with the same traffic: `show stat`
/// and `show info` line up column by column and key by key.
final class StatsParityTests: XCTestCase {
    private func config(socket: String, httpPort: Int, tcpPort: Int, statsPort: Int,
                        servers: [TestBackend]) -> String {
        """
        global
            nbthread 1
            maxconn 500
            stats socket \(socket) mode 600 level admin
            stats timeout 30s

        defaults
            mode http
            timeout connect 2s
            timeout client 10s
            timeout server 10s

        listen stats
            bind 127.0.0.1:\(statsPort)
            stats enable
            stats uri /haproxy/stats

        frontend web
            bind 127.0.0.1:\(httpPort)
            maxconn 200
            default_backend pool

        backend pool
            server a 127.0.0.1:\(servers[0].port)
            server b 127.0.0.1:\(servers[1].port) backup
            server c 127.0.0.1:\(servers[0].port) disabled
            server d 127.0.0.1:\(servers[1].port) maxconn 7 weight 20

        listen raw
            mode tcp
            bind 127.0.0.1:\(tcpPort)
            balance leastconn
            server t1 127.0.0.1:\(servers[0].port)

        """
    }

    private func rows(_ csv: String) -> [String: [String]] {
        var rows: [String: [String]] = [:]
        for line in csv.split(separator: "\n") where !line.hasPrefix("#") {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            rows[fields[0] + "/" + fields[1]] = fields
        }
        return rows
    }

    func testShowStatAndShowInfoLineUpWithHAProxy() throws {
        let haproxy = try ControlClient.require("haproxy", package: "haproxy")
        let a = try TestBackend(name: "a"), b = try TestBackend(name: "b")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("parity-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }

        // HAProxy, in the foreground.
        let hapSocket = directory.path + "/haproxy.sock"
        let hapPorts = (TCP.freePort(), TCP.freePort(), TCP.freePort())
        let hapConfig = directory.path + "/haproxy.cfg"
        try config(socket: hapSocket, httpPort: hapPorts.0, tcpPort: hapPorts.1, statsPort: hapPorts.2,
                   servers: [a, b]).write(toFile: hapConfig, atomically: true, encoding: .utf8)
        let hapLog = directory.path + "/haproxy.log"
        let hapPID = try ControlClient.spawn(haproxy, ["-db", "-f", hapConfig], log: hapLog)
        defer { ControlClient.stop(hapPID) }
        guard TCP.waitUntilListening(port: hapPorts.0, timeout: 10) else {
            return XCTFail("haproxy did not start: " + ((try? String(contentsOfFile: hapLog, encoding: .utf8)) ?? ""))
        }

        // proxyd, on the same config.
        let pxdPorts = (TCP.freePort(), TCP.freePort(), TCP.freePort())
        let proxy = try ProxydProcess(config: config(socket: "{DIR}/proxyd.sock", httpPort: pxdPorts.0,
                                                     tcpPort: pxdPorts.1, statsPort: pxdPorts.2, servers: [a, b]),
                                      waitForPorts: [pxdPorts.0])
        defer { proxy.stop() }
        let pxdSocket = proxy.directory.path + "/proxyd.sock"

        // The same traffic to both: three requests, one TCP exchange.
        for port in [hapPorts.0, pxdPorts.0] {
            for _ in 0..<3 { XCTAssertEqual(try ProxyFixture.get(port: port).status, 200) }
        }
        for port in [hapPorts.1, pxdPorts.1] {
            let raw = try TCP.Connection(port: port)
            try raw.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            XCTAssertEqual(try raw.receiveResponse().bodyText, "a")
            raw.close()
        }
        usleep(200_000)

        let hapStat = try ControlClient.socat("show stat", socket: hapSocket)
        let pxdStat = try ControlClient.socat("show stat", socket: pxdSocket)
        XCTAssertEqual(hapStat.split(separator: "\n").first, pxdStat.split(separator: "\n").first, "same columns")
        let names = ControlClient.haproxyHeader.dropFirst(2).split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        let hapRows = rows(hapStat), pxdRows = rows(pxdStat)
        XCTAssertEqual(Set(hapRows.keys), Set(pxdRows.keys))
        XCTAssertEqual(hapStat.split(separator: "\n").map { $0.split(separator: ",").prefix(2).joined(separator: "/") },
                       pxdStat.split(separator: "\n").map { $0.split(separator: ",").prefix(2).joined(separator: "/") },
                       "same rows in the same order")
        // Values that depend only on the config and the traffic, not on timing or sizes.
        let exact: Set<String> = ["pxname", "svname", "slim", "stot", "status", "weight", "act", "bck", "iid", "sid",
                                  "type", "mode", "algo", "req_tot", "hrsp_2xx", "hrsp_5xx", "lbtot", "qlimit",
                                  "uweight", "scur", "econ", "eresp", "-"]
        // Known differences: HAProxy counts the readiness probe (a connection that sends
        // nothing) in a frontend's req_tot, and smax depends on when that probe's close
        // is seen.
        for (key, hapRow) in hapRows {
            guard let pxdRow = pxdRows[key] else { continue }
            XCTAssertEqual(hapRow.count, pxdRow.count, key)
            for (index, (h, p)) in zip(hapRow, pxdRow).enumerated() where index < names.count {
                // Filled or empty, as HAProxy does; equal where it is deterministic.
                XCTAssertEqual(h.isEmpty, p.isEmpty, "\(key) \(names[index]): haproxy '\(h)', proxyd '\(p)'")
                if exact.contains(names[index]), !(key.hasSuffix("/FRONTEND") && names[index] == "req_tot") {
                    XCTAssertEqual(h, p, "\(key) \(names[index])")
                }
            }
        }

        // show info: the same keys in the same order.
        func keys(_ text: String) -> [String] {
            text.split(separator: "\n").map { String($0.split(separator: ":", maxSplits: 1)[0]) }
        }
        let hapInfo = try ControlClient.socat("show info", socket: hapSocket)
        let pxdInfo = try ControlClient.socat("show info", socket: pxdSocket)
        XCTAssertEqual(keys(hapInfo), keys(pxdInfo))
        for key in ["Nbthread", "Nbproc", "Process_num", "Maxconn", "Hard_maxconn", "CurrConns", "Listeners", "Stopping"] {
            XCTAssertEqual(hapInfo.split(separator: "\n").first { $0.hasPrefix(key + ":") },
                           pxdInfo.split(separator: "\n").first { $0.hasPrefix(key + ":") }, key)
        }
    }

    /// The same requests through both, with a connection refused and redispatched, a
    /// server whose check fails, one in maintenance and one drained: the counters of every
    /// proxy and server are HAProxy's. (A retried session counts once in its backend;
    /// `lbtot` counts the balancer's picks; a server that failed moved no bytes.)
    func testCountersAfterTheSameSequenceMatchHAProxy() throws {
        let pair = try StatsSideBySide()
        defer { pair.stop() }
        let hap = try pair.sides[0].csvRows(), pxd = try pair.sides[1].csvRows()
        let counted = ["stot", "lbtot", "econ", "eresp", "wretr", "wredis", "hrsp_2xx", "hrsp_5xx", "req_tot",
                       "connect", "status", "weight", "uweight", "act", "bck", "scur", "chkdown", "qlimit", "slim"]
        let keys = ["web/FRONTEND", "pool/a", "pool/b", "pool/c", "pool/d", "pool/e", "pool/BACKEND",
                    "retry/FRONTEND", "redispatch/r1", "redispatch/ok", "redispatch/BACKEND",
                    "tcpx/FRONTEND", "tcpx/r1", "tcpx/ok", "tcpx/BACKEND"]
        for key in keys {
            guard let h = hap[key], let p = pxd[key] else { XCTFail("\(key) missing"); continue }
            // (HAProxy also counts the test's readiness probe, a connection that sends
            // nothing, in a frontend's req_tot.)
            for field in counted where !(key.hasSuffix("/FRONTEND") && field == "req_tot") {
                XCTAssertEqual(h[field], p[field], "\(key) \(field)")
            }
        }
        // Bytes: none through a server that refused or is out; the backend has its servers' sum.
        for side in [hap, pxd] {
            for key in ["pool/b", "pool/c", "pool/d", "pool/e", "redispatch/r1", "tcpx/r1"] {
                XCTAssertEqual(side[key]?["bin"], "0", key)
                XCTAssertEqual(side[key]?["bout"], "0", key)
            }
        }
        // In TCP, bytes are the bytes on the wire for both. (In HTTP, HAProxy 2.6 counts its
        // internal message size, a few bytes more per head than the wire: not compared.)
        for key in ["tcpx/ok", "tcpx/BACKEND", "tcpx/FRONTEND"] {
            XCTAssertEqual(hap[key]?["bin"], pxd[key]?["bin"], "\(key) bin")
            XCTAssertEqual(hap[key]?["bout"], pxd[key]?["bout"], "\(key) bout")
        }
        for side in [hap, pxd] {
            for backend in ["pool", "redispatch"] {
                let servers = side.filter { $0.key.hasPrefix(backend + "/") && !$0.key.hasSuffix("/BACKEND") }
                for field in ["bin", "bout"] {
                    let sum = servers.reduce(0) { $0 + (Int($1.value[field] ?? "") ?? 0) }
                    XCTAssertEqual(side[backend + "/BACKEND"]?[field], String(sum), "\(backend) \(field): the servers' sum")
                }
            }
        }
        // The sequence itself, in figures: three sessions to `redispatch`, each tried on r1
        // first (refused) then redispatched to ok.
        XCTAssertEqual(pxd["redispatch/BACKEND"]?["stot"], "3")
        XCTAssertEqual(pxd["redispatch/BACKEND"]?["lbtot"], "6")
        XCTAssertEqual(pxd["redispatch/BACKEND"]?["connect"], "6")
        XCTAssertEqual(pxd["redispatch/r1"]?["wredis"], "3")
        XCTAssertEqual(pxd["redispatch/r1"]?["wretr"], "0")
    }
}
