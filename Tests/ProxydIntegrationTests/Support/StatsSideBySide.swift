import Foundation
import XCTest

/// The real HAProxy 2.6 and proxyd on the same configuration, given the same traffic, so
/// that their stats pages and CSV can be set side by side. The configuration has what
/// the page must draw: a listen section with the stats page (refreshed, with the admin
/// form), a backend with a server UP,
/// one whose check fails, one in maintenance, a backup, a drained one with a limit; a
/// backend whose first server refuses connections (a retry redispatched to the second);
/// and a TCP listen section doing the same.
final class StatsSideBySide {
    struct Side {
        let name: String
        let statsPort: Int
        let webPort: Int
        let retryPort: Int
        let tcpPort: Int
        let socket: String

        func page(_ suffix: String = "") throws -> String {
            let response = try ProxyFixture.get(port: statsPort, path: "/stats" + suffix)
            guard response.status == 200 else { throw TestFailure("\(name): /stats\(suffix) answered \(response.status)") }
            return response.bodyText
        }

        /// `pxname/svname` → the row's fields by column name.
        func csvRows() throws -> [String: [String: String]] {
            let lines = try page(";csv").split(separator: "\n").map(String.init)
            guard let header = lines.first, header.hasPrefix("# ") else { throw TestFailure("\(name): no CSV header") }
            let names = header.dropFirst(2).split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            var rows: [String: [String: String]] = [:]
            for line in lines.dropFirst() {
                let fields = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
                rows[fields[0] + "/" + fields[1]] = Dictionary(zip(names, fields), uniquingKeysWith: { a, _ in a })
            }
            return rows
        }
    }

    let web: TestBackend
    let refusedPort: Int
    private var haproxy: ReferenceHAProxy?
    private var proxyd: ProxydProcess?
    private let directory: URL
    private(set) var sides: [Side] = []

    static func config(_ side: Side, serverPort: Int, refusedPort: Int) -> String {
        """
        global
            nbthread 1
            maxconn 500
            stats socket \(side.socket) mode 600 level admin

        defaults
            mode http
            timeout connect 2s
            timeout client 10s
            timeout server 10s

        listen stats
            bind 127.0.0.1:\(side.statsPort)
            stats enable
            stats uri /stats
            stats refresh 30s
            stats admin if TRUE

        frontend web
            bind 127.0.0.1:\(side.webPort)
            default_backend pool

        backend pool
            server a 127.0.0.1:\(serverPort) check inter 100ms rise 1 fall 1
            server b 127.0.0.1:\(refusedPort) check inter 100ms rise 1 fall 1
            server c 127.0.0.1:\(serverPort) disabled
            server d 127.0.0.1:\(serverPort) backup
            server e 127.0.0.1:\(serverPort) weight 20 maxconn 7

        frontend retry
            bind 127.0.0.1:\(side.retryPort)
            default_backend redispatch

        backend redispatch
            balance first
            retries 1
            option redispatch
            server r1 127.0.0.1:\(refusedPort)
            server ok 127.0.0.1:\(serverPort)

        listen tcpx
            mode tcp
            bind 127.0.0.1:\(side.tcpPort)
            balance first
            retries 1
            option redispatch
            server r1 127.0.0.1:\(refusedPort)
            server ok 127.0.0.1:\(serverPort)

        """
    }

    /// Starts both, drains `pool/e` on both, waits until both see `pool/b` DOWN and
    /// `pool/a` UP, then sends the same traffic to both.
    init() throws {
        web = try TestBackend(name: "web")
        refusedPort = TCP.freePort()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("stt-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        func ports() -> (Int, Int, Int, Int) { (TCP.freePort(), TCP.freePort(), TCP.freePort(), TCP.freePort()) }
        let h = ports(), p = ports()
        let hap = Side(name: "haproxy", statsPort: h.0, webPort: h.1, retryPort: h.2, tcpPort: h.3,
                       socket: directory.path + "/haproxy.sock")
        haproxy = try ReferenceHAProxy(config: Self.config(hap, serverPort: web.port, refusedPort: refusedPort),
                                       waitForPorts: [h.0, h.1, h.2, h.3])
        let pxdSocket = Side(name: "proxyd", statsPort: p.0, webPort: p.1, retryPort: p.2, tcpPort: p.3,
                             socket: "{DIR}/proxyd.sock")
        let proxyd = try ProxydProcess(config: Self.config(pxdSocket, serverPort: web.port, refusedPort: refusedPort),
                                       waitForPorts: [p.0, p.1, p.2, p.3])
        self.proxyd = proxyd
        let pxd = Side(name: "proxyd", statsPort: p.0, webPort: p.1, retryPort: p.2, tcpPort: p.3,
                       socket: proxyd.directory.path + "/proxyd.sock")
        sides = [hap, pxd]

        for side in sides {
            _ = try ControlClient.socat("set server pool/e state drain", socket: side.socket)
            let settled = try ControlClient.eventually(10) {
                let rows = try side.csvRows()
                return rows["pool/a"]?["status"] == "UP" && rows["pool/b"]?["status"] == "DOWN"
            }
            guard settled else { throw TestFailure("\(side.name): pool/a UP and pool/b DOWN not reached") }
        }
        for side in sides {
            for _ in 0..<4 {
                let response = try ProxyFixture.get(port: side.webPort)
                guard response.status == 200 else { throw TestFailure("\(side.name): web answered \(response.status)") }
            }
            for _ in 0..<3 {
                let response = try ProxyFixture.get(port: side.retryPort)
                guard response.status == 200 else { throw TestFailure("\(side.name): retry answered \(response.status)") }
            }
            for _ in 0..<2 {
                // The client keeps its side open until the answer (a half-close is not the point here).
                let raw = try TCP.Connection(port: side.tcpPort)
                try raw.send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                _ = try raw.receiveResponse()
                raw.close()
            }
        }
        usleep(200_000)  // closes reach both counters
    }

    func stop() {
        haproxy?.stop()
        haproxy = nil
        proxyd?.stop()
        proxyd = nil
        web.stop()
        try? FileManager.default.removeItem(at: directory)
    }

    deinit { stop() }
}
