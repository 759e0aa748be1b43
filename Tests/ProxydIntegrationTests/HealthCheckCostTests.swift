import Foundation
import XCTest

/// Checks must be cheap: many servers checked every 2 s take a small part of a core.
final class HealthCheckCostTests: XCTestCase {
    private func cpuTicks(_ pid: Int32) -> Int {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
        return (Int(fields[11]) ?? 0) + (Int(fields[12]) ?? 0)
    }

    func testThousandServersEveryTwoSeconds() throws {
        let target = try TestBackend(name: "t", behaviour: .tcpEcho)
        let port = TCP.freePort()
        var servers = ""
        for i in 0..<1000 { servers += "    server s\(i) 127.0.0.1:\(target.port) check inter 2s\n" }
        let proxy = try ProxydProcess(config: """
            global
                nbthread 1
            defaults
                mode tcp
                timeout connect 1s
                timeout client 5s
                timeout server 5s
            frontend fe
                bind 127.0.0.1:\(port)
                default_backend app
            backend app
            \(servers)
            """, waitForPorts: [port])
        defer { proxy.stop() }
        // Plain checks never complete their handshake (the last ACK waits, then a reset,
        // as HAProxy's do): the server accepts none of them, so count their SYNs.
        let syns = try SYNCounter(port: target.port)
        defer { syns.stop() }
        usleep(2_000_000)  // first round, spread over 2 s
        let start = cpuTicks(proxy.pid)
        let checksAtStart = syns.count
        usleep(4_000_000)
        let used = cpuTicks(proxy.pid) - start
        let checks = syns.count - checksAtStart
        // Two rounds of 1000 checks in 4 s (500 a second) really ran…
        XCTAssertGreaterThan(checksAtStart, 800, "the first round is spread over 2 s")
        XCTAssertGreaterThan(checks, 1600, "checks ran: \(checks)")
        XCTAssertLessThan(checks, 2400, "no more than one check per server per inter: \(checks)")
        // The delayed ACK leaves with a reset unless proxyd takes 40 ms (the kernel's
        // delayed-ACK timer) to notice the connect: on a loaded machine a few may be
        // accepted, not most.
        XCTAssertLessThan(target.connectionCount, checks / 4, "the server accepted plain checks")
        // …and took well under half a core, even in a debug build (ticks are 1/100 s).
        XCTAssertLessThan(used, 200, "CPU ticks in 4 s: \(used)")
    }
}
