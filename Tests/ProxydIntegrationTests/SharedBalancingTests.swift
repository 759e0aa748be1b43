import Foundation
import XCTest

/// One balancer per backend for every thread (issue 10): with `nbthread` above 1 the
/// order, the counts of leastconn and a server's maxconn queue are the ones a single
/// thread gives, as in HAProxy, which takes a per-backend lock for them.
///
/// proxyd's listener hands accepted connections to its threads in turn, so consecutive
/// client connections land on different threads: that is what these tests lean on.
final class SharedBalancingTests: XCTestCase {
    func testRoundRobinAlternatesStrictlyOnTwoThreads() throws {
        try assertStrictAlternation(threads: 2)
    }

    func testRoundRobinAlternatesStrictlyOnFourThreads() throws {
        try assertStrictAlternation(threads: 4)
    }

    func testWeightsGiveTheOneThreadSequenceOnFourThreads() throws {
        let reference = try weightedSequence(threads: 1)
        // Smooth weighted round robin with 3:1: web1 web1 web2 web1, again and again.
        let cycle = ["web1", "web1", "web2", "web1"]
        XCTAssertEqual(reference, Array(repeating: cycle, count: reference.count / 4).flatMap { $0 })
        XCTAssertEqual(try weightedSequence(threads: 4), reference)
    }

    func testLeastConnCountsRequestsOfEveryThread() throws {
        let web1 = try TestBackend(name: "web1", behaviour: .slow(.milliseconds(800)))
        let web2 = try TestBackend(name: "web2", behaviour: .slow(.milliseconds(800)))
        let (proxy, port) = try ProxyFixture.start(servers: [web1, web2], backend: "balance leastconn", threads: 4)
        defer { proxy.stop() }
        // Six clients, one slow request each, all in flight together, on threads
        // 1 2 3 4 1 2: each request must see those of the other threads.
        var clients: [TCP.Connection] = []
        for k in 1...6 {
            let client = try TCP.Connection(port: port)
            try client.send("GET /\(k) HTTP/1.1\r\nHost: x\r\n\r\n")
            clients.append(client)
            usleep(20_000)
        }
        let names = try clients.map { try $0.receiveResponse().bodyText }
        XCTAssertEqual(names, ["web1", "web2", "web1", "web2", "web1", "web2"])
        XCTAssertEqual(web1.peakInFlight, 3)
        XCTAssertEqual(web2.peakInFlight, 3)
    }

    func testServerMaxconnQueueIsSharedByThreads() throws {
        let slow = try TestBackend(name: "slow", behaviour: .slow(.milliseconds(200)))
        let (proxy, port) = try ProxyFixture.start(backend: """
                timeout queue 10s
                server slow 127.0.0.1:\(slow.port) maxconn 1
                """, threads: 4)
        defer { proxy.stop() }
        // /1 runs; /2 … /6 arrive on threads 2 3 4 1 2 and wait: a slot freed on one
        // thread goes to the oldest waiter, whichever thread it is on.
        var clients: [TCP.Connection] = []
        for k in 1...6 {
            let client = try TCP.Connection(port: port, timeout: 15)
            try client.send("GET /\(k) HTTP/1.1\r\nHost: x\r\n\r\n")
            clients.append(client)
            usleep(30_000)
        }
        for client in clients { XCTAssertEqual(try client.receiveResponse().status, 200) }
        XCTAssertEqual(slow.peakInFlight, 1, "maxconn 1 holds for all threads together")
        let paths = slow.heads.map { $0.split(separator: " ")[1] }
        XCTAssertEqual(paths, ["/1", "/2", "/3", "/4", "/5", "/6"], "served in arrival order")
    }

    func testRuntimeChangesReachTheSharedBalancer() throws {
        let web1 = try TestBackend(name: "web1"), web2 = try TestBackend(name: "web2")
        let port = TCP.freePort()
        let proxy = try ProxydProcess(config: """
            global
                nbthread 4
                stats socket {DIR}/admin.sock level admin

            defaults
                mode http
                timeout connect 2s
                timeout client 10s
                timeout server 10s

            frontend fe
                bind 127.0.0.1:\(port)
                default_backend app

            backend app
            \(ProxyFixture.serverLines([web1, web2]))

            """, waitForPorts: [port])
        defer { proxy.stop() }
        let socket = proxy.directory.path + "/admin.sock"
        // The change is in force for every thread once the command has answered.
        XCTAssertEqual(try ControlClient.socat("set server app/web1 state maint", socket: socket), "\n")
        XCTAssertEqual(try sequence(port: port, count: 8, keepAliveClients: 0), Array(repeating: "web2", count: 8))
        XCTAssertEqual(try ControlClient.socat("set server app/web1 state ready", socket: socket), "\n")
        XCTAssertEqual(try sequence(port: port, count: 8, keepAliveClients: 0),
                       (0..<8).map { $0 % 2 == 0 ? "web1" : "web2" })
        // Weights 1:3, as one thread orders them.
        XCTAssertEqual(try ControlClient.socat("set server app/web2 weight 3", socket: socket), "\n")
        XCTAssertEqual(try sequence(port: port, count: 8, keepAliveClients: 0),
                       ["web2", "web1", "web2", "web2", "web2", "web1", "web2", "web2"])
    }

    // MARK: helpers

    /// Round robin over two servers, a new connection per request then keep-alive
    /// clients (one per thread) taking turns: web1 web2 web1 web2 … all along.
    private func assertStrictAlternation(threads: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let web1 = try TestBackend(name: "web1"), web2 = try TestBackend(name: "web2")
        let (proxy, port) = try ProxyFixture.start(servers: [web1, web2], threads: threads)
        defer { proxy.stop() }
        let names = try sequence(port: port, count: 12, keepAliveClients: 0)
            + sequence(port: port, count: 12, keepAliveClients: threads)
        let expected = (0..<24).map { $0 % 2 == 0 ? "web1" : "web2" }
        XCTAssertEqual(names, expected, "nbthread \(threads)", file: file, line: line)
    }

    /// web1 weight 3, web2 weight 1: 16 requests on new connections, then 16 from four
    /// keep-alive clients taking turns.
    private func weightedSequence(threads: Int) throws -> [String] {
        let web1 = try TestBackend(name: "web1"), web2 = try TestBackend(name: "web2")
        let (proxy, port) = try ProxyFixture.start(backend: """
                server web1 127.0.0.1:\(web1.port) weight 3
                server web2 127.0.0.1:\(web2.port) weight 1
                """, threads: threads)
        defer { proxy.stop() }
        return try sequence(port: port, count: 16, keepAliveClients: 0)
            + sequence(port: port, count: 16, keepAliveClients: 4)
    }

    /// The servers that answered `count` sequential requests: each on a new connection
    /// (`keepAliveClients` 0), or from that many kept-alive clients in turn.
    private func sequence(port: Int, count: Int, keepAliveClients: Int) throws -> [String] {
        if keepAliveClients == 0 {
            return try (0..<count).map { _ in
                let response = try ProxyFixture.get(port: port)
                XCTAssertEqual(response.status, 200)
                return response.bodyText
            }
        }
        let clients = try (0..<keepAliveClients).map { _ in try TCP.Connection(port: port) }
        return try (0..<count).map { k in
            let client = clients[k % clients.count]
            try client.send("GET /\(k) HTTP/1.1\r\nHost: x\r\n\r\n")
            let response = try client.receiveResponse()
            XCTAssertEqual(response.status, 200)
            return response.bodyText
        }
    }
}
