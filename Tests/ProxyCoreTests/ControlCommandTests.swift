import XCTest
@testable import ProxyCore

/// The runtime API's command layer on a built (not bound) runtime: parsing of command
/// lines, HAProxy's answers, and what the commands change.
final class ControlCommandTests: XCTestCase {
    static let config = """
        global
            nbthread 1
            stats socket /tmp/unused.sock level admin
            node lab-lb1

        defaults
            mode http
            timeout connect 5s

        listen stats
            bind 127.0.0.1:1
            stats enable
            stats uri /haproxy/stats

        frontend http-in
            bind 127.0.0.1:2
            maxconn 200
            default_backend app

        backend app
            balance leastconn
            server myweb1 127.0.0.1:8081 check inter 10s fall 3 rise 2
            server myweb2 127.0.0.1:8082 weight 20 maxconn 7
            server spare 127.0.0.1:8083 backup
            server off 127.0.0.1:8084 disabled

        """

    var runtime: ProxyRuntime!
    var plane: ControlPlane!

    override func setUpWithError() throws {
        let result = ConfigurationLoader.load(text: Self.config, name: "test.cfg")
        let configuration = try XCTUnwrap(result.configuration, "\(result.diagnostics)")
        runtime = try RuntimeBuilder.build(configuration, threads: 1)
        plane = ControlPlane(runtime: runtime, configuration: configuration)
    }

    override func tearDown() {
        runtime.shutdown()
    }

    /// `tracked`: the server whose health a server follows, as `backend/server` even when
    /// `track` named it without its backend (HAProxy 2.6 shows the same).
    func testShowStatNamesTrackedServers() throws {
        let result = ConfigurationLoader.load(text: """
            global
                nbthread 1
            defaults
                mode http
            frontend fe
                bind 127.0.0.1:3
                default_backend app
            backend app
                server a 127.0.0.1:8081 check
                server b 127.0.0.1:8081 track a
            backend other
                server c 127.0.0.1:8081 track app/a

            """, name: "track.cfg")
        let configuration = try XCTUnwrap(result.configuration, "\(result.diagnostics)")
        let runtime = try RuntimeBuilder.build(configuration, threads: 1)
        defer { runtime.shutdown() }
        let stat = ControlPlane(runtime: runtime, configuration: configuration).execute("show stat")
        let lines = stat.split(separator: "\n").map(String.init)
        let column = try XCTUnwrap(lines[0].dropFirst(2).split(separator: ",").firstIndex(of: "tracked"))
        var tracked: [String: String] = [:]
        for line in lines.dropFirst() {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            tracked["\(fields[0])/\(fields[1])"] = String(fields[column])
        }
        XCTAssertEqual(tracked["app/a"], "")
        XCTAssertEqual(tracked["app/b"], "app/a")
        XCTAssertEqual(tracked["other/c"], "app/a")
        XCTAssertEqual(tracked["app/BACKEND"], "")
    }

    func testSplittingCommandLines() {
        XCTAssertEqual(CommandRegistry.split("show info"), [["show", "info"]])
        XCTAssertEqual(CommandRegistry.split("show  info ;get weight a/b"), [["show", "info"], ["get", "weight", "a/b"]])
        XCTAssertEqual(CommandRegistry.split("set server a\\;b/c state ready"), [["set", "server", "a;b/c", "state", "ready"]])
        XCTAssertEqual(CommandRegistry.split(""), [[]])
    }

    func testStatRowsFollowHAProxysLayout() throws {
        let rows = plane.context.rows()
        XCTAssertEqual(rows.map { "\($0["pxname"].csv)/\($0["svname"].csv)" },
                       ["stats/FRONTEND", "stats/BACKEND", "http-in/FRONTEND",
                        "app/myweb1", "app/myweb2", "app/spare", "app/off", "app/BACKEND"])
        XCTAssertEqual(rows.map(\.proxyID), [2, 2, 3, 4, 4, 4, 4, 4])
        let csv = StatsFormat.csv(rows)
        let lines = csv.split(separator: "\n").map(String.init)
        // HAProxy 2.6.12's empty/filled pattern for a frontend, a `no check` server, a
        // checked server and a backend, with the values this config implies.
        XCTAssertEqual(lines[3], "http-in,FRONTEND,,,0,0,200,0,0,0,0,0,0,,,,,OPEN,,,,,,,,,1,3,0,,,,0,0,0,0,,,,0,0,0,0,0,0,,0,0,0,,,0,0,0,0,,,,,,,,,,,,,,,,,,,,,http,,0,0,0,0,0,0,0,,,0,0,,,,,,,0,,,,,,,,,-,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,")
        XCTAssertEqual(lines[5], "app,myweb2,0,0,0,0,7,0,0,0,,0,,0,0,0,0,no check,20,1,0,,,0,,,1,4,2,,0,,2,0,,0,,,,0,0,0,0,0,0,,,,0,0,0,,,,,-1,,,0,0,0,0,,,,,,,,,,,,127.0.0.1:8082,,http,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,0,20,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,")
        // Before its first check a server's health counter is at `rise`, under the top:
        // HAProxy 2.6 shows "UP 1/3" (one failure from DOWN) until a check passes.
        XCTAssertTrue(lines[4].hasPrefix("app,myweb1,0,0,0,0,,0,0,0,,0,,0,0,0,0,UP 1/3,1,1,0,0,0,0,0,,1,4,1,"), lines[4])
        XCTAssertTrue(lines[6].contains(",no check,1,0,1,"), "a backup server: act 0, bck 1")
        XCTAssertTrue(lines[7].contains(",MAINT,1,1,0,"), lines[7])
        // Backend: weight of the usable active servers, fullconn = maxconn 200 / 10.
        XCTAssertTrue(lines[8].hasPrefix("app,BACKEND,0,0,0,0,20,0,0,0,0,0,,0,0,0,0,UP,21,2,1,"), lines[8])
        XCTAssertTrue(lines[8].contains(",http,leastconn,"), lines[8])
    }

    func testShowInfoKeysInHAProxysOrder() {
        let info = plane.execute("show info")
        let keys = info.split(separator: "\n").map { String($0.split(separator: ":")[0]) }
        XCTAssertEqual(keys, ["Name", "Version", "Release_date", "Nbthread", "Nbproc", "Process_num", "Pid",
            "Uptime", "Uptime_sec", "Memmax_MB", "PoolAlloc_MB", "PoolUsed_MB", "PoolFailed", "Ulimit-n",
            "Maxsock", "Maxconn", "Hard_maxconn", "CurrConns", "CumConns", "CumReq", "MaxSslConns",
            "CurrSslConns", "CumSslConns", "Maxpipes", "PipesUsed", "PipesFree", "ConnRate", "ConnRateLimit",
            "MaxConnRate", "SessRate", "SessRateLimit", "MaxSessRate", "SslRate", "SslRateLimit", "MaxSslRate",
            "SslFrontendKeyRate", "SslFrontendMaxKeyRate", "SslFrontendSessionReuse_pct", "SslBackendKeyRate",
            "SslBackendMaxKeyRate", "SslCacheLookups", "SslCacheMisses", "CompressBpsIn", "CompressBpsOut",
            "CompressBpsRateLim", "Tasks", "Run_queue", "Idle_pct", "node", "Stopping", "Jobs",
            "Unstoppable Jobs", "Listeners", "ActivePeers", "ConnectedPeers", "DroppedLogs", "BusyPolling",
            "FailedResolutions", "TotalBytesOut", "TotalSplicdedBytesOut", "BytesOutRate",
            "DebugCommandsIssued", "CumRecvLogs", "Build info", "Memmax_bytes", "PoolAlloc_bytes",
            "PoolUsed_bytes", "Start_time_sec", "Tainted"])
        XCTAssertTrue(info.contains("\nnode: lab-lb1\n"))
        XCTAssertTrue(info.contains("\nNbthread: 1\n"))
        XCTAssertTrue(info.hasSuffix("Tainted: 0\n\n"))
        let typed = plane.execute("show info typed")
        XCTAssertTrue(typed.hasPrefix("0.Name.1:POS:str:proxyd\n1.Version.1:POS:str:"), typed)
        XCTAssertTrue(typed.contains("\n54.Unstoppable Jobs.1:MGP:u32:0\n"), typed)
    }

    func testAdminCommandsReachTheServerState() throws {
        let app = try XCTUnwrap(runtime.backend(named: "app"))
        let myweb1 = app.servers[0]
        XCTAssertEqual(plane.execute("set server app/myweb1 state drain"), "\n")
        XCTAssertEqual(myweb1.status.withLockedValue { $0.admin }, .drain)
        // The weight set, not the effective 0 of a drain (haproxy 2.6.12: `1 (initial 1)`).
        XCTAssertEqual(plane.execute("get weight app/myweb1"), "1 (initial 1)\n\n")
        XCTAssertEqual(plane.execute("set server app/myweb1 state ready; set server app/myweb2 weight 50%"), "\n\n")
        XCTAssertEqual(plane.execute("get weight app/myweb2"), "10 (initial 20)\n\n")
        XCTAssertEqual(plane.execute("set weight app/myweb2 7"), "\n")
        XCTAssertEqual(plane.execute("get weight app/myweb2"), "7 (initial 20)\n\n")
        XCTAssertEqual(plane.execute("disable server app/myweb1"), "\n")
        XCTAssertFalse(myweb1.isUsable.load(ordering: .relaxed))
        XCTAssertEqual(plane.execute("enable server app/myweb1"), "\n")
        XCTAssertTrue(myweb1.isUsable.load(ordering: .relaxed))
        XCTAssertEqual(plane.execute("set server app/myweb1 health down"), "\n")
        XCTAssertTrue(plane.execute("show stat").contains("\napp,myweb1,0,0,0,0,,0,0,0,,0,,0,0,0,0,DOWN,"))
        XCTAssertEqual(plane.execute("set server app/myweb1 health sideways"),
                       "'set server <srv> health' expects 'up', 'stopping', or 'down'.\n\n")
        XCTAssertEqual(plane.execute("set server app/myweb1 addr 10.77.0.9"),
                       "IP changed from '127.0.0.1' to '10.77.0.9' by 'stats socket command'\n\n")
        XCTAssertEqual(myweb1.address.ipAddress, "10.77.0.9")
        XCTAssertEqual(myweb1.address.port, 8081)
        XCTAssertEqual(plane.execute("set server app/myweb1 addr 10.77.0.9 port 81"),
                       "no need to change the addr, port changed from '8081' to '81' by 'stats socket command'\n\n")
        XCTAssertEqual(plane.execute("set server app/myweb1 addr nonsense"),
                       "Invalid addr 'nonsense' by 'stats socket command'\n\n")
        XCTAssertEqual(plane.execute("set maxconn frontend http-in 50"), "\n")
        XCTAssertTrue(plane.execute("show stat 3 1 -1").contains("\nhttp-in,FRONTEND,,,0,0,50,"))
        XCTAssertEqual(plane.execute("set maxconn global 99999999"), "Value out of range.\n\n")
        XCTAssertEqual(plane.execute("set maxconn server app/myweb1 12"), "\n")
        XCTAssertEqual(myweb1.maxConnections, 12)
        XCTAssertTrue(plane.execute("show stat 4 4 1").contains("\napp,myweb1,0,0,0,0,12,"))
        XCTAssertEqual(plane.execute("set maxconn server app/myweb1 0"), "\n")
        XCTAssertNil(myweb1.maxConnections)
        XCTAssertEqual(plane.execute("set maxconn server app/myweb1"), "Require <maxconn>.\n\n")
        XCTAssertEqual(plane.execute("set maxconn server app/myweb1 x"), "maxconn string empty or preceded by garbage\n")
        XCTAssertEqual(plane.execute("set maxconn server app/nope 3"), "No such server.\n\n")
        XCTAssertEqual(plane.execute("set server app/myweb1 state maint", level: .operator), "Permission denied\n\n")
    }

    func testHelpAndUnknownCommands() {
        let help = plane.execute("help")
        let lines = help.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        XCTAssertEqual(lines.first, "The following commands are valid at this level:")
        XCTAssertEqual(lines.suffix(5), ["  help [<command>]                        : list matching or all commands",
                                         "  prompt                                  : toggle interactive mode with prompt",
                                         "  quit                                    : disconnect", "", ""])
        let usages = lines.dropFirst().dropLast(5).map { String($0.dropFirst(2).prefix(40)) }
        XCTAssertEqual(usages, usages.sorted(), "alphabetical, as HAProxy lists them")
        XCTAssertTrue(plane.execute("get").hasPrefix(
            "Unknown command, but maybe one of the following ones is a better match:\n  get weight <bk>/<srv>"))
        XCTAssertTrue(plane.execute("").hasPrefix("Unknown command. Please enter one of the following commands only:\n"))
        XCTAssertEqual(plane.execute("show servers state nope"), "Can't find backend.\n\n")
        XCTAssertEqual(plane.execute("show stat nope 1 1"), "No such proxy.\n\n")
    }

    func testPrometheusExpositionUsesHAProxysNamesAndLabels() {
        let text = PrometheusExposition.render(plane.context)
        let lines = Set(text.split(separator: "\n").map(String.init))
        for expected in [
            "# HELP haproxy_frontend_current_sessions Number of current sessions on the frontend, backend or server",
            "# TYPE haproxy_frontend_current_sessions gauge",
            "haproxy_frontend_current_sessions{proxy=\"http-in\"} 0",
            "haproxy_frontend_limit_sessions{proxy=\"http-in\"} 200",
            "haproxy_frontend_status{proxy=\"http-in\",state=\"UP\"} 1",
            "haproxy_frontend_http_responses_total{proxy=\"http-in\",code=\"2xx\"} 0",
            "haproxy_backend_active_servers{proxy=\"app\"} 2",
            "haproxy_backend_weight{proxy=\"app\"} 21",
            "haproxy_server_limit_sessions{proxy=\"app\",server=\"myweb2\"} 7",
            "haproxy_server_limit_sessions{proxy=\"app\",server=\"myweb1\"} NaN",
            "haproxy_server_status{proxy=\"app\",server=\"off\",state=\"MAINT\"} 1",
            "haproxy_server_status{proxy=\"app\",server=\"myweb2\",state=\"UP\"} 1",
            "haproxy_server_last_session_seconds{proxy=\"app\",server=\"myweb1\"} -1",
            "haproxy_process_nbthread 1",
        ] {
            XCTAssertTrue(lines.contains(expected), expected)
        }
        // Every sample line is `name{labels} value` or `name value`.
        for line in lines where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            XCTAssertEqual(parts.count, 2, line)
            XCTAssertTrue(parts[0].hasPrefix("haproxy_"), line)
            // Integers, NaN, or seconds with six decimals (the time families).
            XCTAssertTrue(Int(parts[1]) != nil || parts[1] == "NaN"
                          || parts[1].range(of: #"^\d+\.\d{6}$"#, options: .regularExpression) != nil, line)
        }
    }

    func testClearCounters() throws {
        let counters = try XCTUnwrap(runtime.counters["http-in"])
        counters.totalSessions.add(5)
        counters.maxSessions.raise(to: 3)
        XCTAssertEqual(plane.execute("clear counters"), "\n")
        XCTAssertEqual(counters.maxSessions.current, 0, "max values are reset")
        XCTAssertEqual(counters.totalSessions.current, 5, "totals are not")
        XCTAssertEqual(plane.execute("clear counters all"), "\n")
        XCTAssertEqual(counters.totalSessions.current, 0)
    }
}

final class StatsFormatTests: XCTestCase {
    func testCSVQuotesAsHAProxy() {
        XCTAssertEqual(StatsFormat.csvField("plain"), "plain")
        XCTAssertEqual(StatsFormat.csvField("a,b"), "\"a,b\"")
        XCTAssertEqual(StatsFormat.csvField("say \"hi\""), "\"say \"\"hi\"\"\"")
    }

    func testUptimeText() {
        XCTAssertEqual(ShowInfo.uptimeText(21), "0d 0h00m21s")
        XCTAssertEqual(ShowInfo.uptimeText(90061), "1d 1h01m01s")
    }

    func testBasicAuthPieces() {
        XCTAssertEqual(Base64.decode(Array("aGFwcm94eTpwYXNzdzByZA==".utf8)), Array("haproxy:passw0rd".utf8))
        XCTAssertNil(Base64.decode(Array("not*base64".utf8)))
        XCTAssertTrue(StatsPage.constantTimeEquals(Array("a:b".utf8), Array("a:b".utf8)))
        XCTAssertFalse(StatsPage.constantTimeEquals(Array("a:b".utf8), Array("a:c".utf8)))
        XCTAssertFalse(StatsPage.constantTimeEquals(Array("a:b".utf8), Array("a:bb".utf8)))
        XCTAssertFalse(StatsPage.constantTimeEquals([], Array("a".utf8)))
        XCTAssertEqual(StatsPage.formDecode("b=%234+x"), "b=#4 x")
    }

    func testTypedTagsComeFromHAProxy() {
        XCTAssertEqual(StatFields.names.count, 127)
        XCTAssertEqual(StatFields.tag(StatFields.index["scur"]!, .frontend), "MGP:u32")
        XCTAssertEqual(StatFields.tag(StatFields.index["lastsess"]!, .server), "MAP:s32")
        XCTAssertEqual(StatFields.tag(StatFields.index["status"]!, .backend), "SGP:str")
    }
}

final class StatsRateTests: XCTestCase {
    func testRateCountsThisSecondAndKeepsItsMaximum() {
        let rate = RateCounter()
        XCTAssertEqual(rate.perSecond, 0)
        for _ in 0..<5 { rate.tick() }
        XCTAssertGreaterThanOrEqual(rate.perSecond, 5)
        XCTAssertLessThanOrEqual(rate.perSecond, 5)
        XCTAssertEqual(rate.maximum.current, 5)
        let counters = SessionCounters()
        counters.sessionOpened()
        counters.sessionOpened()
        XCTAssertEqual(counters.sessionRate.maximum.current, 2)
        XCTAssertEqual(counters.maxSessions.current, 2)
        counters.currentSessions.decrement()
        counters.clear(all: false)
        XCTAssertEqual(counters.maxSessions.current, 1, "clear counters: max back to the current value")
        XCTAssertEqual(counters.sessionRate.maximum.current, 0)
    }
}
