import Foundation
import XCTest

/// `option mysql-check`, `pgsql-check`, `redis-check`, `smtpchk`, `ldap-check` and
/// `ssl-hello-chk` against the real servers (MariaDB, PostgreSQL, Redis, an SMTP server,
/// slapd, OpenSSL), proxyd and HAProxy 2.6 side by side on the same config: the same
/// `option log-health-checks` sentences when the servers answer, when a check is pointed
/// at the wrong protocol, and when the servers stop.
final class ProtocolCheckComparisonTests: XCTestCase {
    private struct Case {
        var backend: String
        var option: String
        var server: RealServer
        /// What the first sentence says after the server's name (so that two programs
        /// failing alike cannot pass).
        var expected: String
        var up: Bool { expected.hasPrefix("succeeded") }
    }

    private func config(log: LogReceiver, port: Int, stats: Int, socket: String, cases: [Case]) -> String {
        var text = """
        global
            log \(log.path) local0
            stats socket \(socket) level admin
        defaults
            mode tcp
            log global
            option log-health-checks
            timeout connect 1s
            timeout client 5s
            timeout server 5s
            timeout check 1s
        listen stats
            mode http
            bind 127.0.0.1:\(stats)
            stats uri /stats
        frontend fe
            bind 127.0.0.1:\(port)
            default_backend \(cases[0].backend)

        """
        for c in cases {
            text += "backend \(c.backend)\n    \(c.option)\n"
            text += "    server s1 127.0.0.1:\(c.server.port) check inter 300ms rise 1 fall 1\n"
        }
        return text
    }

    /// The first sentence about `backend`'s server that `matching` accepts, its duration blanked.
    private func sentence(_ log: LogReceiver, _ backend: String, after: Int = 0,
                          _ matching: (String) -> Bool = { _ in true }) -> String? {
        let prefix = "Health check for server \(backend)/s1 "
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if let found = log.messages.dropFirst(after).first(where: { $0.hasPrefix(prefix) && matching($0) }) {
                return found.replacingOccurrences(of: #"check duration: [0-9]+ms"#, with: "check duration: Nms",
                                                  options: .regularExpression)
            }
            usleep(50_000)
        }
        return nil
    }

    /// `pxname/svname` → the stats CSV's fields.
    private func statsRows(_ port: Int) throws -> [String: [String: String]] {
        let text = try ProxyFixture.get(port: port, path: "/stats;csv").bodyText
        let lines = text.split(separator: "\n").map(String.init)
        guard let header = lines.first, header.hasPrefix("# ") else { throw TestFailure("no CSV header: \(text.prefix(200))") }
        let names = header.dropFirst(2).split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        var rows: [String: [String: String]] = [:]
        for line in lines.dropFirst() {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            rows[fields[0] + "/" + fields[1]] = Dictionary(zip(names, fields), uniquingKeysWith: { a, _ in a })
        }
        return rows
    }

    /// Each server's row once while no check runs (`settled`) and once while one does
    /// (`running`: HAProxy marks it `* L7STS` and blanks what it found), from reading
    /// `rows` for 1.5 s and until every server was seen settled (at most 5 s).
    private func checkViews(_ keys: [String], rows: () throws -> [String: [String: String]],
                            running isRunning: ([String: String]) -> Bool) throws
        -> (settled: [String: [String: String]], running: [String: [String: String]]) {
        var settled: [String: [String: String]] = [:], running: [String: [String: String]] = [:]
        let start = Date()
        while Date().timeIntervalSince(start) < 5 {
            for (key, row) in try rows() where keys.contains(key) {
                if isRunning(row) {
                    running[key] = running[key] ?? row
                } else {
                    settled[key] = settled[key] ?? row
                }
            }
            if Date().timeIntervalSince(start) > 1.5, settled.count == keys.count { break }
            usleep(30_000)
        }
        return (settled, running)
    }

    /// `show stat` rows, settled and while checking.
    private func statViews(_ port: Int, _ keys: [String]) throws
        -> (settled: [String: [String: String]], running: [String: [String: String]]) {
        try checkViews(keys, rows: { try statsRows(port) }, running: { $0["check_status"]?.hasPrefix("* ") == true })
    }

    /// `show servers state` rows (`backend/server` → column name → value), settled and
    /// while checking (bit 0x1 of `srv_check_state`, HAProxy's CHK_ST_INPROGRESS).
    private func serverStateViews(_ socket: String, _ keys: [String]) throws
        -> (settled: [String: [String: String]], running: [String: [String: String]]) {
        try checkViews(keys, rows: {
            let lines = try ControlClient.socat("show servers state", socket: socket).split(separator: "\n")
            guard let header = lines.first(where: { $0.hasPrefix("# ") }) else { throw TestFailure("no header") }
            let names = header.dropFirst(2).split(separator: " ").map(String.init)
            var rows: [String: [String: String]] = [:]
            for line in lines where !line.hasPrefix("#") && line.contains(" ") {
                let fields = line.split(separator: " ").map(String.init)
                rows[fields[1] + "/" + fields[3]] = Dictionary(zip(names, fields), uniquingKeysWith: { a, _ in a })
            }
            return rows
        }, running: { (Int($0["srv_check_state"] ?? "") ?? 0) & 0x1 != 0 })
    }

    func testProtocolChecksAgreeWithHAProxy() throws {
        let mariadb = try ProtocolServers.mariadb()
        let postgres = try ProtocolServers.postgres()
        let redis = try ProtocolServers.redis()
        let lockedRedis = try ProtocolServers.redis(password: "secret")
        let smtp = try ProtocolServers.smtp()
        let slapd = try ProtocolServers.slapd()
        let tls = try ProtocolServers.tls()
        let servers = [mariadb, postgres, redis, lockedRedis, smtp, slapd, tls]
        defer { servers.forEach { $0.stop() } }
        let cases = [
            Case(backend: "my1", option: "option mysql-check", server: mariadb,
                 expected: "succeeded, reason: Layer7 check passed, code: 0, info: \"5.5.5-"),
            Case(backend: "my2", option: "option mysql-check user haproxy", server: mariadb,
                 expected: "succeeded, reason: Layer7 check passed, code: 0, info: \"5.5.5-"),
            Case(backend: "my3", option: "option mysql-check user nosuch post-41", server: mariadb,
                 expected: "failed, reason: Layer7 wrong status, code: 1045, info: \"#28000Access denied for user 'nosuch'@"),
            Case(backend: "pg1", option: "option pgsql-check user postgres", server: postgres,
                 expected: "succeeded, reason: Layer7 check passed, code: 0, info: \"PostgreSQL server is ok\""),
            Case(backend: "rd1", option: "option redis-check", server: redis,
                 expected: "succeeded, reason: Layer7 check passed, code: 0, info: \"Redis server is ok\""),
            Case(backend: "sm1", option: "option smtpchk EHLO proxyd.test", server: smtp,
                 expected: "succeeded, reason: Layer7 check passed, code: 221, info: \"Bye\""),
            Case(backend: "sm2", option: "option smtpchk", server: smtp,
                 expected: "succeeded, reason: Layer7 check passed, code: 221, info: \"Bye\""),
            Case(backend: "ld1", option: "option ldap-check", server: slapd,
                 expected: "succeeded, reason: Layer7 check passed, code: 0, info: \"Success\""),
            Case(backend: "tl1", option: "option ssl-hello-chk", server: tls,
                 expected: "succeeded, reason: Layer6 check passed"),
            // Checks that speak the wrong protocol to a real server.
            Case(backend: "x1", option: "option pgsql-check user x", server: mariadb,
                 expected: "failed, reason: Layer7 wrong status, code: 0, info: \"PostgreSQL unknown error\""),
            Case(backend: "x2", option: "option ldap-check", server: tls,
                 expected: "failed, reason: Layer7 invalid response, info: \"TCPCHK got an empty response at step 2\""),
            Case(backend: "x3", option: "option ssl-hello-chk", server: smtp, expected: "failed, reason: Layer6 invalid response"),
            Case(backend: "x4", option: "option redis-check", server: smtp, expected: "failed, reason: Layer7 timeout"),
            Case(backend: "x5", option: "option smtpchk", server: mariadb, expected: "failed, reason: Layer7 invalid response"),
            Case(backend: "x6", option: "option mysql-check", server: redis, expected: "failed, reason: Layer7 timeout"),
            // Real servers that answer, but not yes.
            Case(backend: "pg2", option: "option pgsql-check user rejected", server: postgres,
                 expected: "failed, reason: Layer7 invalid response, info: \"FATAL\""),
            Case(backend: "rd2", option: "option redis-check", server: lockedRedis, expected: "failed, reason: Layer7 timeout"),
        ]
        let haproxyLog = try LogReceiver(), proxydLog = try LogReceiver()
        defer { haproxyLog.stop(); proxydLog.stop() }
        let haproxyPort = RealServer.freeLowPort(), proxydPort = RealServer.freeLowPort()
        let haproxyStats = RealServer.freeLowPort(), proxydStats = RealServer.freeLowPort()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pcc-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let haproxySocket = directory.appendingPathComponent("haproxy.sock").path
        let proxydSocket = directory.appendingPathComponent("proxyd.sock").path
        let haproxy = try ReferenceHAProxy(config: config(log: haproxyLog, port: haproxyPort, stats: haproxyStats,
                                                          socket: haproxySocket, cases: cases),
                                           waitForPorts: [haproxyPort, haproxyStats])
        defer { haproxy.stop() }
        let proxyd = try ProxydProcess(config: config(log: proxydLog, port: proxydPort, stats: proxydStats,
                                                      socket: proxydSocket, cases: cases),
                                       waitForPorts: [proxydPort, proxydStats])
        defer { proxyd.stop() }

        for c in cases {
            let theirs = sentence(haproxyLog, c.backend)
            let ours = sentence(proxydLog, c.backend)
            XCTAssertEqual(ours, theirs, "\(c.backend): \(c.option)")
            XCTAssertTrue(ours?.hasPrefix("Health check for server \(c.backend)/s1 \(c.expected)") ?? false,
                          "\(c.backend): \(ours ?? "no sentence")")
        }

        // What `show stat` says of each server's last check, and of a check under way.
        let keys = cases.map { "\($0.backend)/s1" }
        let theirStats = try statViews(haproxyStats, keys), ourStats = try statViews(proxydStats, keys)
        // While checking, only the marked status is compared: HAProxy raises its
        // in-progress flag a moment before it clears the last result and text.
        let fields = ["status", "check_status", "check_code", "last_chk"]
        for key in keys {
            let theirs = try XCTUnwrap(theirStats.settled[key]), ours = try XCTUnwrap(ourStats.settled[key])
            for field in fields { XCTAssertEqual(ours[field], theirs[field], "\(key) \(field)") }
            guard let theirsRunning = theirStats.running[key], let oursRunning = ourStats.running[key] else { continue }
            XCTAssertEqual(oursRunning["check_status"], theirsRunning["check_status"], "\(key) while checking")
        }
        // The checks that wait for `timeout check` (1 s of each 1.3 s) are seen under way.
        for key in ["x4/s1", "x6/s1"] {
            XCTAssertEqual(theirStats.running[key]?["check_status"], "* L7TOUT", key)
            XCTAssertEqual(ourStats.running[key]?["check_status"], "* L7TOUT", key)
        }
        XCTAssertEqual(ourStats.running["x4/s1"]?["last_chk"], "")

        // `show servers state`: the check's status and result as HAProxy numbers them
        // (L7OK 15, L7STS 17, …), and the check under way (state 7, result 0).
        let theirStates = try serverStateViews(haproxySocket, keys), ourStates = try serverStateViews(proxydSocket, keys)
        let columns = ["srv_op_state", "srv_check_status", "srv_check_result", "srv_check_health", "srv_check_state"]
        for key in keys {
            let theirs = try XCTUnwrap(theirStates.settled[key]), ours = try XCTUnwrap(ourStates.settled[key])
            for column in columns { XCTAssertEqual(ours[column], theirs[column], "\(key) \(column)") }
            guard let theirsRunning = theirStates.running[key], let oursRunning = ourStates.running[key] else { continue }
            XCTAssertEqual(oursRunning["srv_check_state"], theirsRunning["srv_check_state"], "\(key) while checking")
        }
        XCTAssertEqual(ourStates.settled["my1/s1"]?["srv_check_status"], "15")  // HCHK_STATUS_L7OKD
        XCTAssertEqual(ourStates.settled["x1/s1"]?["srv_check_status"], "17")  // HCHK_STATUS_L7STS
        XCTAssertEqual(ourStates.running["x4/s1"]?["srv_check_state"], "7")
        XCTAssertEqual(ourStates.running["x4/s1"]?["srv_check_result"], "0")  // CHK_RES_UNKNOWN

        // The servers stop: each check that passed now fails to connect, alike.
        let marks = (haproxyLog.messages.count, proxydLog.messages.count)
        servers.forEach { $0.kill() }
        for c in cases where c.up {
            let refused = { (s: String) in s.contains("Layer4 connection problem") }
            let theirs = sentence(haproxyLog, c.backend, after: marks.0, refused)
            XCTAssertEqual(sentence(proxydLog, c.backend, after: marks.1, refused), theirs, c.backend)
            XCTAssertEqual(theirs, "Health check for server \(c.backend)/s1 failed, reason: Layer4 connection problem, "
                + "info: \"Connection refused\", check duration: Nms, status: 0/1 DOWN.")
        }
    }
}
