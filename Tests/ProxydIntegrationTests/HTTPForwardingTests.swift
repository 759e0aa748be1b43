import Foundation
import XCTest

/// proxyd in `mode http` in front of backends the tests start, driven as a client would.
final class HTTPForwardingTests: XCTestCase {
    func testRoundRobinSpreadsNewConnectionsInOrder() throws {
        let a = try TestBackend(name: "a"), b = try TestBackend(name: "b"), c = try TestBackend(name: "c")
        let port = TCP.freePort()
        let proxy = try ProxydProcess(config: ProxyFixture.preamble() + """
            frontend fe
                bind 127.0.0.1:\(port)
                default_backend app
            backend app
                balance roundrobin
            \(ProxyFixture.serverLines([a, b, c]))
            """, waitForPorts: [port])
        defer { proxy.stop() }
        var seen: [String] = []
        for _ in 0..<6 { seen.append(try ProxyFixture.get(port: port).bodyText) }
        XCTAssertEqual(seen, ["a", "b", "c", "a", "b", "c"])
    }

    func testWeightsShareRequestsInProportion() throws {
        let a = try TestBackend(name: "a"), b = try TestBackend(name: "b")
        let (proxy, port) = try ProxyFixture.start(backend: """
                server a 127.0.0.1:\(a.port) weight 3
                server b 127.0.0.1:\(b.port) weight 1
                """)
        defer { proxy.stop() }
        var seen: [String] = []
        for _ in 0..<8 { seen.append(try ProxyFixture.get(port: port).bodyText) }
        XCTAssertEqual(seen.filter { $0 == "a" }.count, 6)
        XCTAssertEqual(seen.filter { $0 == "b" }.count, 2)
    }

    func testKeepAliveReusesOneServerConnection() throws {
        let a = try TestBackend(name: "a")
        let (proxy, port) = try ProxyFixture.start(servers: [a])
        defer { proxy.stop() }
        let client = try TCP.Connection(port: port)
        for _ in 0..<20 {
            try client.send("GET / HTTP/1.1\r\nHost: test\r\n\r\n")
            let response = try client.receiveResponse()
            XCTAssertEqual(response.status, 200)
            XCTAssertEqual(response.bodyText, "a")
        }
        XCTAssertEqual(a.requestCount, 20)
        XCTAssertEqual(a.connectionCount, 1, "20 keep-alive requests should share one server connection")
    }

    func testPipelinedRequestsAreAnsweredInOrder() throws {
        let slow = try TestBackend(name: "slow", behaviour: .slow(.milliseconds(200)))
        let fast = try TestBackend(name: "fast")
        let (proxy, port) = try ProxyFixture.start(servers: [slow, fast])
        defer { proxy.stop() }
        let client = try TCP.Connection(port: port)
        let one = "GET / HTTP/1.1\r\nHost: test\r\n\r\n"
        try client.send(one + one + one)
        var bodies: [String] = []
        var data: [UInt8] = []
        while bodies.count < 3 {
            if let response = HTTPTestResponse.parse(data) {
                bodies.append(response.bodyText)
                data.removeFirst(response.byteCount)
                continue
            }
            guard let chunk = client.receiveSome(), !chunk.isEmpty else { break }
            data += chunk
        }
        XCTAssertEqual(bodies, ["slow", "fast", "slow"])
    }

    /// More pipelined requests than the session buffers while it answers (16 KiB): the
    /// client waits its turn and every request is answered, in order.
    func testPipelinedRequestsBeyondTheBufferAreAllAnsweredInOrder() throws {
        let web = try TestBackend(name: "web")
        let (proxy, port) = try ProxyFixture.start(servers: [web])
        defer { proxy.stop() }
        let client = try TCP.Connection(port: port)
        let count = 600
        let paths = (0..<count).map { String(format: "/pipelined/%05d/padding-padding", $0) }
        try client.send(paths.map { "GET \($0) HTTP/1.1\r\nHost: test\r\n\r\n" }.joined())
        var answered = 0
        var data: [UInt8] = []
        while answered < count {
            if let response = HTTPTestResponse.parse(data) {
                XCTAssertEqual(response.bodyText, "web")
                answered += 1
                data.removeFirst(response.byteCount)
                continue
            }
            guard let chunk = client.receiveSome(), !chunk.isEmpty else { break }
            data += chunk
        }
        XCTAssertEqual(answered, count)
        let seen = web.heads.compactMap { $0.split(separator: " ").dropFirst().first.map(String.init) }
        XCTAssertEqual(seen, paths)
    }

    func testChunkedRequestBodyIsForwardedWhole() throws {
        let counter = try TestBackend(name: "count", behaviour: .countBody)
        let (proxy, port) = try ProxyFixture.start(servers: [counter])
        defer { proxy.stop() }
        let client = try TCP.Connection(port: port)
        try client.send("POST /up HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n")
        try client.send("5\r\nhello\r\n")
        try client.send("10\r\n0123456789abcdef\r\n0\r\n\r\n")
        let response = try client.receiveResponse()
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.bodyText, "21")
        // The connection stays usable after a chunked body.
        try client.send("POST /up HTTP/1.1\r\nHost: test\r\nContent-Length: 3\r\n\r\nabc")
        XCTAssertEqual(try client.receiveResponse().bodyText, "3")
    }

    func testExpect100ContinueIsRelayed() throws {
        let counter = try TestBackend(name: "count", behaviour: .continueThenCount)
        let (proxy, port) = try ProxyFixture.start(servers: [counter])
        defer { proxy.stop() }
        let client = try TCP.Connection(port: port)
        try client.send("PUT /f HTTP/1.1\r\nHost: test\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        let interim = try client.receiveResponse()
        XCTAssertEqual(interim.status, 100)
        try client.send("data")
        let final = try client.receiveResponse()
        XCTAssertEqual(final.status, 200)
        XCTAssertEqual(final.bodyText, "4")
    }

    func testWebSocketUpgradeBecomesATunnel() throws {
        let echo = try TestBackend(name: "ws", behaviour: .upgradeEcho)
        let (proxy, port) = try ProxyFixture.start(servers: [echo], defaults: "timeout tunnel 1h")
        defer { proxy.stop() }
        let client = try TCP.Connection(port: port)
        try client.send("GET /chat HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
        let switching = try client.receiveResponse()
        XCTAssertEqual(switching.status, 101)
        for message in ["ping", "frames are opaque bytes", String(repeating: "x", count: 100_000)] {
            try client.send(message)
            XCTAssertEqual(String(decoding: client.receive(count: message.utf8.count), as: UTF8.self), message)
        }
    }

    func testForwardForAddsClientAddress() throws {
        let a = try TestBackend(name: "a")
        let port = TCP.freePort()
        let proxy = try ProxydProcess(config: ProxyFixture.preamble() + """
            frontend fe
                bind 127.0.0.1:\(port)
                option forwardfor
                default_backend app
            backend app
            \(ProxyFixture.serverLines([a]))
            """, waitForPorts: [port])
        defer { proxy.stop() }
        _ = try ProxyFixture.get(port: port)
        XCTAssertTrue(a.heads.last?.contains("\r\nX-Forwarded-For: 127.0.0.1") ?? false, a.heads.last ?? "no request")
    }

    func testServerCloseModeClosesServerSideOnly() throws {
        let a = try TestBackend(name: "a")
        let port = TCP.freePort()
        let proxy = try ProxydProcess(config: ProxyFixture.preamble() + """
            frontend fe
                bind 127.0.0.1:\(port)
                option http-server-close
                default_backend app
            backend app
            \(ProxyFixture.serverLines([a]))
            """, waitForPorts: [port])
        defer { proxy.stop() }
        let client = try TCP.Connection(port: port)
        for _ in 0..<3 {
            try client.send("GET / HTTP/1.1\r\nHost: test\r\nConnection: keep-alive\r\n\r\n")
            XCTAssertEqual(try client.receiveResponse().status, 200)
        }
        XCTAssertEqual(a.connectionCount, 3, "each request gets its own server connection")
        XCTAssertTrue(a.heads.allSatisfy { $0.contains("\r\nConnection: close") && !$0.contains("keep-alive") })
    }

    func testClientHalfCloseGetsItsAnswerThenTheConnectionCloses() throws {
        let a = try TestBackend(name: "a")
        let (proxy, port) = try ProxyFixture.start(servers: [a])
        defer { proxy.stop() }
        let client = try TCP.Connection(port: port, timeout: 3)
        try client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        client.shutdownWrite()
        let started = Date()
        let all = client.receiveAll()
        XCTAssertEqual(HTTPTestResponse.parse(all)?.bodyText, "a")
        XCTAssertLessThan(Date().timeIntervalSince(started), 2, "closed after the answer, not at a timeout")
    }

    func testAClientThatLeavesTakesItsServerConnectionWithIt() throws {
        let a = try TestBackend(name: "a")
        let (proxy, port) = try ProxyFixture.start(servers: [a])
        defer { proxy.stop() }
        // Each client's first request gets its own server connection (http-reuse safe);
        // clients that close after it must not leave one idle connection each.
        for _ in 0..<100 {
            XCTAssertEqual(try ProxyFixture.get(port: port, headers: "Connection: close\r\n").status, 200)
        }
        usleep(200_000)
        XCTAssertEqual(a.connectionCount, 100)
        XCTAssertEqual(a.openConnections, 0, "closed with their clients")
    }

    /// Many kept-alive clients at once: each exchange finds an idle server connection
    /// from the rounds before, none is opened again (a small pool bound once made every
    /// round reconnect most of them).
    func testManyKeptAliveClientsReuseTheirServerConnections() throws {
        let a = try TestBackend(name: "a")
        let (proxy, port) = try ProxyFixture.start(servers: [a])
        defer { proxy.stop() }
        let clients = try (0..<200).map { _ in try TCP.Connection(port: port) }
        for round in 0..<4 {
            for client in clients { try client.send("GET /round\(round) HTTP/1.1\r\nHost: x\r\n\r\n") }
            for client in clients { XCTAssertEqual(try client.receiveResponse().status, 200) }
        }
        XCTAssertEqual(a.requestCount, 800)
        XCTAssertLessThanOrEqual(a.connectionCount, 210, "server connections reused across rounds")
    }
}
