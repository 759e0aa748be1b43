import Foundation
import XCTest

/// ACLs, `use_backend` and `http-request`/`http-response` rules, as an operator writes them.
final class RoutingTests: XCTestCase {
    func testUseBackendFollowsACLs() throws {
        let api = try TestBackend(name: "api"), static1 = try TestBackend(name: "static"), web = try TestBackend(name: "web")
        let admin = try TestBackend(name: "admin")
        let port = TCP.freePort()
        let proxy = try ProxydProcess(config: ProxyFixture.preamble() + """
            frontend fe
                bind 127.0.0.1:\(port)
                acl is_api path_beg /api/
                acl is_static path_end .css .js
                acl host_admin hdr(host) -i admin.example.com
                acl is_post method POST
                use_backend api if is_api !is_post || is_api { hdr_beg(x-force) yes }
                use_backend static if is_static
                use_backend admin if host_admin
                default_backend web
            backend api
                server api 127.0.0.1:\(api.port)
            backend static
                server st 127.0.0.1:\(static1.port)
            backend admin
                server ad 127.0.0.1:\(admin.port)
            backend web
                server web 127.0.0.1:\(web.port)
            """, waitForPorts: [port])
        defer { proxy.stop() }
        func route(_ request: String) throws -> String {
            let client = try TCP.Connection(port: port)
            try client.send(request)
            return try client.receiveResponse().bodyText
        }
        XCTAssertEqual(try route("GET /api/users HTTP/1.1\r\nHost: x\r\n\r\n"), "api")
        XCTAssertEqual(try route("POST /api/users HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"), "web")
        XCTAssertEqual(try route("POST /api/users HTTP/1.1\r\nHost: x\r\nX-Force: yes\r\nContent-Length: 0\r\n\r\n"), "api")
        XCTAssertEqual(try route("GET /site/a.css?v=2 HTTP/1.1\r\nHost: x\r\n\r\n"), "static")
        XCTAssertEqual(try route("GET / HTTP/1.1\r\nHost: ADMIN.example.com\r\n\r\n"), "admin")
        XCTAssertEqual(try route("GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n"), "web")
    }

    func testHTTPRequestAndResponseRules() throws {
        let web = try TestBackend(name: "web")
        let port = TCP.freePort()
        let proxy = try ProxydProcess(config: ProxyFixture.preamble() + """
            frontend fe
                bind 127.0.0.1:\(port)
                acl blocked path_beg /private
                http-request deny if blocked
                http-request redirect location /new if { path /old }
                http-request return status 200 content-type text/plain string "pong" if { path /ping }
                http-request set-header X-Client %[src]
                http-request del-header X-Secret
                http-request add-header X-Via proxyd
                http-response set-header X-Served-By proxyd
                http-response del-header X-Server
                default_backend web
            backend web
                server web 127.0.0.1:\(web.port)
            """, waitForPorts: [port])
        defer { proxy.stop() }

        let denied = try ProxyFixture.get(port: port, path: "/private/x")
        XCTAssertEqual(denied.status, 403)
        XCTAssertTrue(denied.bodyText.contains("Request forbidden by administrative rules."))

        let moved = try ProxyFixture.get(port: port, path: "/old")
        XCTAssertEqual(moved.status, 302)
        XCTAssertEqual(moved.header("location"), "/new")

        let pong = try ProxyFixture.get(port: port, path: "/ping")
        XCTAssertEqual(pong.status, 200)
        XCTAssertEqual(pong.bodyText, "pong")
        XCTAssertEqual(pong.header("content-type"), "text/plain")
        XCTAssertEqual(web.requestCount, 0, "deny, redirect and return never reach the server")

        let forwarded = try ProxyFixture.get(port: port, path: "/", headers: "X-Secret: s3cret\r\nX-Client: forged\r\n")
        XCTAssertEqual(forwarded.bodyText, "web")
        XCTAssertEqual(forwarded.header("X-Served-By"), "proxyd")
        XCTAssertNil(forwarded.header("X-Server"), "http-response del-header removed the server's header")
        let head = try XCTUnwrap(web.heads.last)
        XCTAssertFalse(head.contains("s3cret"))
        XCTAssertFalse(head.contains("forged"))
        XCTAssertTrue(head.contains("\r\nX-Client: 127.0.0.1"))
        XCTAssertTrue(head.contains("\r\nX-Via: proxyd"))
    }

    func testListenersOnSeveralAddressesAndAUnixSocket() throws {
        let web = try TestBackend(name: "web")
        let port1 = TCP.freePort(), port2 = TCP.freePort()
        let socketPath = FileManager.default.temporaryDirectory.appendingPathComponent("proxyd-\(port1).sock").path
        let proxy = try ProxydProcess(config: ProxyFixture.preamble() + """
            frontend fe
                bind 127.0.0.1:\(port1)
                bind [::]:\(port2)
                bind unix@\(socketPath)
                default_backend web
            backend web
                server web 127.0.0.1:\(web.port)
            """, waitForPorts: [port1, port2])
        defer { proxy.stop() }
        XCTAssertEqual(try ProxyFixture.get(port: port1).bodyText, "web")
        XCTAssertEqual(try ProxyFixture.get(port: port2).bodyText, "web", "[::] accepts IPv4 clients too")
        let curl = Process()
        curl.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        curl.arguments = ["-s", "--unix-socket", socketPath, "http://x/"]
        let out = Pipe()
        curl.standardOutput = out
        try curl.run()
        curl.waitUntilExit()
        XCTAssertEqual(String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self), "web")
    }

    func testPrometheusExporterService() throws {
        let web = try TestBackend(name: "web")
        let (proxy, port) = try ProxyFixture.start(
            servers: [web], frontend: "http-request use-service prometheus-exporter if { path /metrics }")
        defer { proxy.stop() }
        XCTAssertEqual(try ProxyFixture.get(port: port, path: "/").bodyText, "web")
        let metrics = try ProxyFixture.get(port: port, path: "/metrics")
        XCTAssertEqual(metrics.status, 200)
        XCTAssertTrue(metrics.header("content-type")?.hasPrefix("text/plain") ?? false)
        XCTAssertTrue(metrics.bodyText.contains("\nhaproxy_server_current_sessions{proxy=\"app\",server=\"web\"} 0\n"),
                      metrics.bodyText)
        XCTAssertEqual(web.requestCount, 1, "the metrics never reach a server")

        // Every metric family is one HAProxy 2.6's own exporter has, with the same type
        // (proxyd leaves out those of features it lacks: compression, cache, pipes, …).
        guard FileManager.default.isExecutableFile(atPath: HAProxyComparisonTests.haproxy) else { return }
        let haproxyPort = TCP.freePort()
        let config = proxy.configText.replacingOccurrences(of: "127.0.0.1:\(port)", with: "127.0.0.1:\(haproxyPort)")
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("prom-\(haproxyPort).cfg").path
        try config.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let reference = Process()
        reference.executableURL = URL(fileURLWithPath: HAProxyComparisonTests.haproxy)
        reference.arguments = ["-db", "-f", path]
        reference.standardError = FileHandle.nullDevice
        try reference.run()
        defer { reference.terminate(); reference.waitUntilExit() }
        XCTAssertTrue(TCP.waitUntilListening(port: haproxyPort, timeout: 10))
        let theirs = try ProxyFixture.get(port: haproxyPort, path: "/metrics").bodyText
        let families = { (text: String) in Set(text.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }) }
        let ours = families(metrics.bodyText)
        XCTAssertTrue(ours.isSubset(of: families(theirs)), "\(ours.subtracting(families(theirs)))")
        XCTAssertGreaterThan(ours.count, 100)
        // Same help texts, in HAProxy's order.
        let helps = { (text: String) in text.split(separator: "\n").filter { $0.hasPrefix("# HELP ") } }
        let theirHelps = helps(theirs)
        let ourHelps = helps(metrics.bodyText)
        XCTAssertTrue(Set(ourHelps).isSubset(of: Set(theirHelps)), "\(Set(ourHelps).subtracting(theirHelps))")
        let positions = ourHelps.compactMap { theirHelps.firstIndex(of: $0) }
        XCTAssertEqual(positions, positions.sorted(), "families in HAProxy's order")
        // Times in seconds with six decimals, as HAProxy prints them.
        XCTAssertNotNil(metrics.bodyText.range(
            of: #"\nhaproxy_server_total_time_average_seconds\{proxy="app",server="web"\} \d+\.\d{6}\n"#,
            options: .regularExpression), metrics.bodyText)
    }
}
