import Foundation
import XCTest

/// The statistics page (`stats enable` in a `listen` section), as the lab's config has it.
final class StatsPageTests: XCTestCase {
    struct Setup {
        let proxy: ProxydProcess
        let port: Int
        let statsPort: Int
        var socket: String { proxy.directory.path + "/admin.sock" }
    }

    private func start(_ servers: [TestBackend], admin: String = "") throws -> Setup {
        let port = TCP.freePort(), statsPort = TCP.freePort()
        let proxy = try ProxydProcess(config: """
            global
                nbthread 1
                stats socket {DIR}/admin.sock mode 600 level admin

            defaults
                mode http
                timeout connect 2s
                timeout client 10s
                timeout server 10s

            listen stats
                bind 127.0.0.1:\(statsPort)
                mode http
                stats enable
                stats refresh 10s
                stats show-node
                stats auth haproxy:passw0rd
                stats uri /haproxy/stats
            \(admin)

            frontend http-in
                bind 127.0.0.1:\(port)
                default_backend app

            backend app
                balance roundrobin
            \(ProxyFixture.serverLines(servers))

            """, waitForPorts: [port, statsPort])
        return Setup(proxy: proxy, port: port, statsPort: statsPort)
    }

    private func authorization(_ credentials: String) -> String {
        "Authorization: Basic \(Data(credentials.utf8).base64EncodedString())\r\n"
    }

    func testBasicAuthGuardsThePage() throws {
        let a = try TestBackend(name: "a")
        let setup = try start([a])
        defer { setup.proxy.stop() }
        let anonymous = try ProxyFixture.get(port: setup.statsPort, path: "/haproxy/stats")
        XCTAssertEqual(anonymous.status, 401)
        XCTAssertEqual(anonymous.header("WWW-Authenticate"), "Basic realm=\"HAProxy Statistics\"")
        XCTAssertEqual(anonymous.bodyText,
                       "<html><body><h1>401 Unauthorized</h1>\nYou need a valid user and password to access this content.\n</body></html>\n")
        let wrong = try ProxyFixture.get(port: setup.statsPort, path: "/haproxy/stats",
                                         headers: authorization("haproxy:passw0rX"))
        XCTAssertEqual(wrong.status, 401)
        let longer = try ProxyFixture.get(port: setup.statsPort, path: "/haproxy/stats",
                                          headers: authorization("haproxy:passw0rd1"))
        XCTAssertEqual(longer.status, 401)

        let page = try ProxyFixture.get(port: setup.statsPort, path: "/haproxy/stats",
                                        headers: authorization("haproxy:passw0rd"))
        XCTAssertEqual(page.status, 200)
        XCTAssertEqual(page.header("Content-Type"), "text/html")
        XCTAssertEqual(page.header("Refresh"), "10")
        XCTAssertTrue(page.bodyText.contains("<td class=ac><a name=\"app/a\"></a><a class=lfsb href=\"#app/a\">a</a></td>"), page.bodyText)
        XCTAssertTrue(page.bodyText.contains("<tr class=\"active_no_check\">"), page.bodyText)
        XCTAssertEqual(a.requestCount, 0, "the stats request is answered by proxyd itself")

        let head = try TCP.Connection(port: setup.statsPort)
        try head.send("HEAD /haproxy/stats HTTP/1.1\r\nHost: x\r\n\(authorization("haproxy:passw0rd"))Connection: close\r\n\r\n")
        let headText = String(decoding: head.receiveAll(), as: UTF8.self)
        XCTAssertTrue(headText.hasPrefix("HTTP/1.1 200 OK\r\n"), headText)
        XCTAssertTrue(headText.hasSuffix("\r\n\r\n"), "HEAD: headers only, " + headText)
        XCTAssertTrue(headText.contains("content-length: "), headText)

        let norefresh = try ProxyFixture.get(port: setup.statsPort, path: "/haproxy/stats;norefresh",
                                             headers: authorization("haproxy:passw0rd"))
        XCTAssertNil(norefresh.header("Refresh"))
        // Another path of the same listen section is not the stats page.
        XCTAssertEqual(try ProxyFixture.get(port: setup.statsPort, path: "/other").status, 503)
    }

    func testCSVAndJSONExports() throws {
        let a = try TestBackend(name: "a"), b = try TestBackend(name: "b")
        let setup = try start([a, b])
        defer { setup.proxy.stop() }
        for _ in 0..<2 { _ = try ProxyFixture.get(port: setup.port) }
        _ = try ControlClient.socat("set server app/b state maint", socket: setup.socket)
        let csv = try ProxyFixture.get(port: setup.statsPort, path: "/haproxy/stats;csv;norefresh",
                                       headers: authorization("haproxy:passw0rd"))
        XCTAssertEqual(csv.status, 200)
        XCTAssertEqual(csv.header("Content-Type"), "text/plain")
        let lines = csv.bodyText.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines[0], ControlClient.haproxyHeader)
        XCTAssertEqual(lines.dropFirst().map { $0.split(separator: ",").prefix(2).joined(separator: "/") },
                       ["stats/FRONTEND", "stats/BACKEND", "http-in/FRONTEND", "app/a", "app/b", "app/BACKEND"])
        XCTAssertTrue(lines[5].contains(",MAINT,"), lines[5])
        let up = try ProxyFixture.get(port: setup.statsPort, path: "/haproxy/stats;csv;up",
                                      headers: authorization("haproxy:passw0rd"))
        XCTAssertFalse(up.bodyText.contains("\napp,b,"), "`;up` hides servers that are not up")
        let json = try ProxyFixture.get(port: setup.statsPort, path: "/haproxy/stats;json",
                                        headers: authorization("haproxy:passw0rd"))
        XCTAssertEqual(json.header("Content-Type"), "application/json")
        XCTAssertNotNil(try JSONSerialization.jsonObject(with: Data(json.body)) as? [[[String: Any]]])
    }

    func testAdminFormNeedsStatsAdmin() throws {
        let a = try TestBackend(name: "a"), b = try TestBackend(name: "b")
        // Without `stats admin`, a POST is refused.
        var setup = try start([a, b])
        var connection = try TCP.Connection(port: setup.statsPort)
        let form = "s=a&action=maint&b=%234"
        try connection.send("POST /haproxy/stats HTTP/1.1\r\nHost: x\r\n\(authorization("haproxy:passw0rd"))"
            + "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: \(form.utf8.count)\r\n\r\n\(form)")
        var response = try connection.receiveResponse()
        XCTAssertEqual(response.status, 303)
        XCTAssertEqual(response.header("Location"), "/haproxy/stats;st=DENY")
        XCTAssertTrue(try ControlClient.socat("show stat", socket: setup.socket).contains("\napp,a,0,0,0,0,,0,0,0,,0,,0,0,0,0,no check,"))
        setup.proxy.stop()

        setup = try start([a, b], admin: "    stats admin if TRUE")
        defer { setup.proxy.stop() }
        let page = try ProxyFixture.get(port: setup.statsPort, path: "/haproxy/stats",
                                        headers: authorization("haproxy:passw0rd"))
        XCTAssertTrue(page.bodyText.contains("<input class='app-checkbox' type=\"checkbox\" name=\"s\" value=\"a\">"), page.bodyText)
        connection = try TCP.Connection(port: setup.statsPort)
        try connection.send("POST /haproxy/stats HTTP/1.1\r\nHost: x\r\n\(authorization("haproxy:passw0rd"))"
            + "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: \(form.utf8.count)\r\n\r\n\(form)")
        response = try connection.receiveResponse()
        XCTAssertEqual(response.status, 303)
        XCTAssertEqual(response.header("Location"), "/haproxy/stats;st=DONE")
        XCTAssertTrue(try ControlClient.socat("show stat", socket: setup.socket).contains("\napp,a,0,0,0,0,,0,0,0,,0,,0,0,0,0,MAINT,"))
        for _ in 0..<3 { XCTAssertEqual(try ProxyFixture.get(port: setup.port).bodyText, "b") }
        let done = try ProxyFixture.get(port: setup.statsPort, path: "/haproxy/stats;st=DONE",
                                        headers: authorization("haproxy:passw0rd"))
        XCTAssertTrue(done.bodyText.contains("Action processed successfully."))
    }

    func testStatsInAFrontendSectionAnswersBeforeRouting() throws {
        let a = try TestBackend(name: "a")
        let port = TCP.freePort()
        let proxy = try ProxydProcess(config: ProxyFixture.preamble() + """
            frontend web
                bind 127.0.0.1:\(port)
                stats enable
                stats uri /lb-status
                stats realm Load\\ balancer
                stats auth admin:secret
                default_backend app

            backend app
            \(ProxyFixture.serverLines([a]))

            """, waitForPorts: [port])
        defer { proxy.stop() }
        let denied = try ProxyFixture.get(port: port, path: "/lb-status")
        XCTAssertEqual(denied.status, 401)
        XCTAssertEqual(denied.header("WWW-Authenticate"), "Basic realm=\"Load balancer\"")
        let csv = try ProxyFixture.get(port: port, path: "/lb-status;csv", headers: authorization("admin:secret"))
        XCTAssertEqual(csv.status, 200)
        XCTAssertTrue(csv.bodyText.contains("\napp,a,"), csv.bodyText)
        XCTAssertEqual(a.requestCount, 0)
        XCTAssertEqual(try ProxyFixture.get(port: port, path: "/other").bodyText, "a", "other paths are forwarded")
        XCTAssertEqual(a.requestCount, 1)
    }

    /// Renders the page in a real headless Chromium behind basic auth: the DOM has a row
    /// per server with its status colour, and the screenshot is not an empty page.
    func testChromiumRendersTheServerRows() throws {
        let chromium = try ControlClient.require("chromium", package: "chromium")
        let a = try TestBackend(name: "web1"), b = try TestBackend(name: "web2")
        let setup = try start([a, b])
        defer { setup.proxy.stop() }
        _ = try ControlClient.socat("set server app/web2 state maint", socket: setup.socket)
        let url = "http://haproxy:passw0rd@127.0.0.1:\(setup.statsPort)/haproxy/stats"
        let flags = ["--headless", "--no-sandbox", "--disable-gpu", "--window-size=1400,700"]
        let dom = try ControlClient.run(chromium, flags + ["--dump-dom", url], timeout: 60).output
        XCTAssertTrue(dom.contains("<tr class=\"active_no_check\"><td class=\"ac\"><a name=\"app/web1\"></a><a class=\"lfsb\" href=\"#app/web1\">web1</a></td>"), dom)
        XCTAssertTrue(dom.contains("<tr class=\"maintain\"><td class=\"ac\"><a name=\"app/web2\"></a><a class=\"lfsb\" href=\"#app/web2\">web2</a></td>"), dom)
        XCTAssertTrue(dom.contains("MAINT</td>"), dom)

        let shot = setup.proxy.directory.appendingPathComponent("stats.png").path
        let blank = setup.proxy.directory.appendingPathComponent("blank.png").path
        try ControlClient.run(chromium, flags + ["--screenshot=" + shot, url], timeout: 60)
        try ControlClient.run(chromium, flags + ["--screenshot=" + blank, "data:text/html,<html></html>"], timeout: 60)
        let page = try Data(contentsOf: URL(fileURLWithPath: shot))
        let empty = try Data(contentsOf: URL(fileURLWithPath: blank))
        XCTAssertEqual(Array(page.prefix(4)), [0x89, 0x50, 0x4E, 0x47], "a PNG")
        // A page with its tables compresses far worse than an empty one.
        XCTAssertGreaterThan(page.count, empty.count * 4, "the screenshot shows content")
    }
}
