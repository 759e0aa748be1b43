import Foundation
import XCTest

/// Who may use the statistics page: `stats admin` only when its condition matches (a POST
/// otherwise gets HAProxy's `;st=DENY`), and `stats auth` credentials that never appear in
/// the logs or the runtime API's answers, even when a client gets them wrong.
final class StatsAccessTests: XCTestCase {
    struct Setup {
        let proxy: ProxydProcess
        let statsPort: Int
        var socket: String { proxy.directory.path + "/admin.sock" }
    }

    private func start(_ servers: [TestBackend], admin: String, log: LogReceiver? = nil) throws -> Setup {
        let statsPort = TCP.freePort()
        let proxy = try ProxydProcess(config: """
            global
                nbthread 1
                stats socket {DIR}/admin.sock mode 600 level admin
            \(log.map { "    log \($0.path) local0" } ?? "")

            defaults
                mode http
                log global
                option httplog
                timeout connect 2s
                timeout client 10s
                timeout server 10s

            listen stats
                bind 127.0.0.1:\(statsPort)
                acl elsewhere src 10.1.2.3
                stats enable
                stats auth haproxy:S3cretPw0rd
                stats uri /haproxy/stats
                \(admin)

            backend app
            \(ProxyFixture.serverLines(servers))

            """, waitForPorts: [statsPort])
        return Setup(proxy: proxy, statsPort: statsPort)
    }

    private func authorization(_ credentials: String) -> String {
        "Authorization: Basic \(Data(credentials.utf8).base64EncodedString())\r\n"
    }

    /// POSTs the admin form putting server `a` in maintenance; the Location it answers.
    private func post(_ setup: Setup) throws -> String? {
        let connection = try TCP.Connection(port: setup.statsPort)
        defer { connection.close() }
        let form = "s=a&action=maint&b=app"
        try connection.send("POST /haproxy/stats HTTP/1.1\r\nHost: x\r\n\(authorization("haproxy:S3cretPw0rd"))"
            + "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: \(form.utf8.count)\r\n\r\n\(form)")
        let response = try connection.receiveResponse()
        XCTAssertEqual(response.status, 303)
        return response.header("Location")
    }

    func testStatsAdminOnlyWhenItsConditionMatches() throws {
        let a = try TestBackend(name: "a")
        for (condition, allowed) in [("stats admin if FALSE", false), ("stats admin if elsewhere", false),
                                     ("stats admin if { src 10.0.0.0/8 }", false), ("stats admin unless TRUE", false),
                                     ("stats admin if { src 127.0.0.1 }", true)] {
            let setup = try start([a], admin: condition)
            defer { setup.proxy.stop() }
            let page = try ProxyFixture.get(port: setup.statsPort, path: "/haproxy/stats",
                                            headers: authorization("haproxy:S3cretPw0rd"))
            XCTAssertEqual(page.status, 200)
            XCTAssertEqual(page.bodyText.contains("name=\"s\" value=\"a\""), allowed,
                           "\(condition): the admin form is shown only to an admin")
            XCTAssertEqual(try post(setup), "/haproxy/stats;st=\(allowed ? "DONE" : "DENY")", condition)
            let status = try ControlClient.socat("show stat", socket: setup.socket)
                .split(separator: "\n").first { $0.hasPrefix("app,a,") }?.split(separator: ",", omittingEmptySubsequences: false)
            XCTAssertEqual(status.map { String($0[17]) }, allowed ? "MAINT" : "no check", condition)
        }
    }

    func testCredentialsAreNeverLoggedNorShown() throws {
        let a = try TestBackend(name: "a")
        let log = try LogReceiver()
        defer { log.stop() }
        let setup = try start([a], admin: "stats admin if TRUE", log: log)
        defer { setup.proxy.stop() }
        let wrong = try ProxyFixture.get(port: setup.statsPort, path: "/haproxy/stats",
                                         headers: authorization("haproxy:Wr0ngGuess"))
        XCTAssertEqual(wrong.status, 401)
        let right = try ProxyFixture.get(port: setup.statsPort, path: "/haproxy/stats;csv",
                                         headers: authorization("haproxy:S3cretPw0rd"))
        XCTAssertEqual(right.status, 200)
        XCTAssertNotNil(log.wait(for: "/haproxy/stats;csv"), "the right request is logged")
        XCTAssertNotNil(log.wait(for: " 401 "), "the refused request is logged")

        var seen = log.messages
        for command in ["show info", "show stat", "show sess", "show errors", "show servers state", "show backend"] {
            seen.append(try ControlClient.socat(command, socket: setup.socket))
        }
        seen.append(right.bodyText)
        let secrets = ["S3cretPw0rd", "Wr0ngGuess", Data("haproxy:S3cretPw0rd".utf8).base64EncodedString(),
                       Data("haproxy:Wr0ngGuess".utf8).base64EncodedString()]
        for text in seen {
            for secret in secrets {
                XCTAssertFalse(text.contains(secret), "'\(secret)' shows in: \(text)")
            }
        }
    }
}
