import XCTest
@testable import ProxyCore
import Shared

/// Stick tables (issue 15): the parser's model and messages, HAProxy's sliding-window
/// rate, the size bound with least-recently-used eviction, and expiry.
final class StickTableTests: XCTestCase {
    func load(_ body: String) -> LoadResult {
        FrontendConfig.load(body)
    }

    func messages(_ r: LoadResult) -> String { FrontendConfig.messages(r) }

    func testTableTrackingAndFetchesAreModelled() throws {
        let r = load("""
        \tstick-table type string len 8 size 100k expire 30s store http_req_rate(10s),conn_cur,gpc0
        \ttcp-request connection track-sc1 src
        \thttp-request track-sc0 req.hdr(x-user) table fe if { path_beg /api }
        \thttp-request deny deny_status 429 if { sc_http_req_rate(0) gt 10 }
        \thttp-request sc-inc-gpc0(0) if { src_conn_cur(fe) ge 5 }
        """)
        XCTAssertEqual(r.exitCode, 0, messages(r))
        let fe = try XCTUnwrap(r.configuration?.proxies.first { $0.name == "fe" })
        let table = try XCTUnwrap(fe.stickTable)
        XCTAssertEqual(table.keyType, .string(length: 8))
        XCTAssertEqual(table.size, 102_400)
        XCTAssertEqual(table.expireMs, 30_000)
        XCTAssertEqual(table.stores, [.httpRequestRate: 10_000, .connCurrent: 0, .gpc0: 0])
        XCTAssertEqual(fe.tcpRequestRules.first?.action, .track(TrackAction(counter: 1, key: .source, table: "fe")))
        XCTAssertEqual(fe.httpRequestRules.first?.action, .track(TrackAction(counter: 0, key: .header(name: "x-user"), table: "fe")))
        XCTAssertNotNil(fe.httpRequestRules.first?.condition)
        XCTAssertEqual(fe.httpRequestRules.last?.action, .incrementGPC(counter: 0, gpc: 0))
        guard case .stick(let fetch) = fe.httpRequestRules[1].condition?.alternatives.first?.first?.criteria.first?.fetch else {
            return XCTFail("sc_http_req_rate(0) is no stick fetch")
        }
        XCTAssertEqual(fetch, StickFetch(subject: .counter(0), operation: .read(.httpRequestRate), table: nil))
    }

    func testErrorsNameTheLine() {
        let cases: [(String, String)] = [
            ("\tstick-table type ip store http_req_rate(10s)", "parsing [t.cfg:8] : stick-table: missing size."),
            ("\tstick-table type ip size 1k store foo", "parsing [t.cfg:8] : stick-table: unknown store option 'foo'."),
            ("\tstick-table type ip size 1k store http_req_rate", "parsing [t.cfg:8] : stick-table: missing argument to store option 'http_req_rate'."),
            ("\tstick-table type foo size 1k", "parsing [t.cfg:8] : stick-table: unknown type 'foo'."),
            ("\thttp-request track-sc0 src", "parsing [t.cfg:8] : Proxy 'fe': unable to find table 'fe' referenced by track-sc0."),
            ("\tstick-table type ip size 1k\n\ttcp-request connection track-sc2 src table nope",
             "parsing [t.cfg:9] : Proxy 'fe': unable to find table 'nope' referenced by track-sc2."),
            ("\tstick-table type ip size 1k\n\thttp-request deny if { src_conn_rate(nope) gt 1 }",
             "parsing [t.cfg:9]: unable to find table 'nope' referenced in arg 1 of ACL keyword 'src_conn_rate' in proxy 'fe'."),
        ]
        for (body, expected) in cases {
            let r = load(body)
            XCTAssertNotEqual(r.exitCode, 0, body)
            XCTAssertTrue(messages(r).contains(expected), "\(body)\n\(messages(r))")
        }
        let stick = ConfigurationLoader.load(text: """
        backend be
        \tstick on src table nope
        \tserver s1 127.0.0.1:8081

        """, name: "s.cfg", options: LoadOptions(resolveServers: false))
        XCTAssertTrue(messages(stick).contains("parsing [s.cfg:2] : Proxy 'be': unable to find stick-table 'nope'."), messages(stick))
    }

    /// `peers NAME` names a `peers` section (PeersTests covers the section itself).
    func testPeersNamesASection() {
        let r = load("\tstick-table type ip size 1k peers mypeers")
        XCTAssertEqual(r.exitCode, 1, messages(r))
        XCTAssertTrue(messages(r).contains("Proxy 'fe': unable to find sync peers 'mypeers'."), messages(r))
    }

    /// HAProxy's freq_ctr: the current period's count plus the previous period's,
    /// weighted by the part of it still inside the window.
    func testRateSlidesOverThePeriod() {
        var rate = PeriodRate()
        for _ in 0..<10 { rate.add(1, period: 1000, now: 5000) }
        XCTAssertEqual(rate.read(period: 1000, now: 5000), 10)
        XCTAssertEqual(rate.read(period: 1000, now: 5999), 10)
        XCTAssertEqual(rate.read(period: 1000, now: 6250), 7)   // 10 × 750/1000
        XCTAssertEqual(rate.read(period: 1000, now: 6900), 1)
        rate.add(4, period: 1000, now: 6500)
        XCTAssertEqual(rate.read(period: 1000, now: 6500), 4 + 5)
        XCTAssertEqual(rate.read(period: 1000, now: 8100), 0)   // two periods later: nothing left
    }

    func testSizeBoundEvictsLeastRecentlyUsedUnusedEntries() {
        let table = StickTable(StickTableDefinition(name: "t", keyType: .integer, size: 3, expireMs: 1000,
                                                    stores: [.gpc0: 0]))
        table.withLock {
            let a = table.entry(StickKeys.integerKey(1), now: 10)!
            a.useCount = 1  // tracked: never evicted
            _ = table.entry(StickKeys.integerKey(2), now: 20)
            _ = table.entry(StickKeys.integerKey(3), now: 30)
            _ = table.existing(StickKeys.integerKey(2), now: 35).map { table.touch($0, now: 35) }
            _ = table.entry(StickKeys.integerKey(4), now: 40)  // full: 3 (least recently used, unused) goes
            XCTAssertNotNil(table.existing(StickKeys.integerKey(1), now: 40))
            XCTAssertNotNil(table.existing(StickKeys.integerKey(2), now: 40))
            XCTAssertNil(table.existing(StickKeys.integerKey(3), now: 40))
            XCTAssertEqual(table.count, 3)
            // Expiry: 1000 ms after the last use, unless in use.
            XCTAssertNil(table.existing(StickKeys.integerKey(4), now: 1040))
            XCTAssertNotNil(table.existing(StickKeys.integerKey(1), now: 5000))
        }
        let full = StickTable(StickTableDefinition(name: "n", keyType: .integer, size: 1, noPurge: true))
        full.withLock {
            XCTAssertNotNil(full.entry(StickKeys.integerKey(1), now: 1))
            XCTAssertNil(full.entry(StickKeys.integerKey(2), now: 2), "nopurge keeps the old entry")
        }
    }

    /// A big table is freed without a chain of releases as deep as it is long.
    func testABigTableFillsEvictsAndGoes() {
        var table: StickTable? = StickTable(StickTableDefinition(name: "big", keyType: .integer, size: 50_000,
                                                                 stores: [.httpRequestRate: 10_000]))
        table!.withLock {
            for n in 0..<60_000 { _ = table!.entry(StickKeys.integerKey(n), now: n + 1) }
            XCTAssertEqual(table!.count, 50_000)
            XCTAssertNil(table!.existing(StickKeys.integerKey(9_999), now: 70_000), "the oldest went first")
            XCTAssertNotNil(table!.existing(StickKeys.integerKey(10_000), now: 70_000))
        }
        table = nil
    }

    func testKeysConvertAsHAProxyDoes() {
        XCTAssertEqual(StickKeys.address([10, 0, 0, 1], for: .ipv6), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 10, 0, 0, 1])
        XCTAssertNil(StickKeys.address([UInt8](repeating: 1, count: 16), for: .ip))
        XCTAssertEqual(StickKeys.display(StickKeys.address([10, 0, 0, 1], for: .string(length: 32))!, type: .string(length: 32)), "10.0.0.1")
        XCTAssertEqual(StickKeys.display(StickKeys.text(Array("abcdefghijk".utf8), for: .string(length: 8))!, type: .string(length: 8)), "abcdefgh")
        XCTAssertEqual(StickKeys.display(StickKeys.address([10, 0, 0, 1], for: .integer)!, type: .integer), "167772161")
    }
}

/// `show table`, `set table`, `clear table` in process: HAProxy's answers and levels.
final class StickTableCommandTests: XCTestCase {
    func testCommandsAnswerAsHAProxyAtEachLevel() throws {
        let result = ConfigurationLoader.load(text: """
            global
                nbthread 1
            defaults
                mode http
            frontend fe
                bind 127.0.0.1:3
                stick-table type string len 4 size 2 store gpc0,http_req_rate(10s)
                default_backend be
            backend be
                stick-table type integer size 10
                server s 127.0.0.1:8081

            """, name: "t.cfg")
        let configuration = try XCTUnwrap(result.configuration, "\(result.diagnostics)")
        let runtime = try RuntimeBuilder.build(configuration, threads: 1)
        defer { runtime.shutdown() }
        let plane = ControlPlane(runtime: runtime, configuration: configuration)
        func masked(_ text: String) -> String {
            text.replacingOccurrences(of: #"0x[0-9a-f]+:"#, with: "0x?:", options: .regularExpression)
        }
        XCTAssertEqual(plane.execute("show table"),
                       "# table: be, type: integer, size:10, used:0\n# table: fe, type: string, size:2, used:0\n\n")
        XCTAssertEqual(plane.execute("set table fe key abcdef data.gpc0 3 data.http_req_rate 9"), "\n")
        XCTAssertEqual(plane.execute("set table fe key zz data.gpc0 1"), "\n")
        XCTAssertEqual(masked(plane.execute("show table fe")), """
            # table: fe, type: string, size:2, used:2
            0x?: key=abcd use=0 exp=0 gpc0=3 http_req_rate(10000)=9
            0x?: key=zz use=0 exp=0 gpc0=1 http_req_rate(10000)=0


            """)
        // Full: the least recently used entry goes for a new key.
        XCTAssertEqual(plane.execute("set table fe key new data.gpc0 5"), "\n")
        XCTAssertEqual(masked(plane.execute("show table fe data.gpc0 ge 1")), """
            # table: fe, type: string, size:2, used:2
            0x?: key=new use=0 exp=0 gpc0=5 http_req_rate(10000)=0
            0x?: key=zz use=0 exp=0 gpc0=1 http_req_rate(10000)=0


            """)
        XCTAssertEqual(plane.execute("show table fe key abcd"), "\n")
        XCTAssertEqual(plane.execute("show table fe data.gpc0 xx 1"),
                       "Filter entry #1: Require and operator among \"eq\", \"ne\", \"le\", \"ge\", \"lt\", \"gt\"\n\n")
        XCTAssertEqual(plane.execute("set table fe key a data.conn_cur 1"), "Data type not stored in this table\n\n")
        XCTAssertEqual(plane.execute("show table nope"), "No such table\n\n")
        XCTAssertEqual(plane.execute("set table fe key"), "Key value expected\n\n")
        XCTAssertEqual(plane.execute("set table fe foo"),
                       "Required arguments: <table> key <key> [data.<store_data_type> <value>]*\n\n")
        XCTAssertEqual(plane.execute("set table fe key a data.gpc0 x"), "Require a valid integer value to store\n\n")
        XCTAssertEqual(plane.execute("set table be key 12 data.gpc0 1"), "Data type not stored in this table\n\n")
        // Levels.
        XCTAssertEqual(plane.execute("show table fe", level: .user),
                       "# table: fe, type: string, size:2, used:2\n# contents not dumped due to insufficient privileges\n\n")
        XCTAssertEqual(plane.execute("clear table fe", level: .user), "\n")
        XCTAssertEqual(plane.execute("set table fe key x data.gpc0 1", level: .user), "Permission denied\n\n")
        XCTAssertEqual(plane.execute("clear table fe key zz", level: .operator), "\n")
        XCTAssertEqual(masked(plane.execute("show table fe")), """
            # table: fe, type: string, size:2, used:1
            0x?: key=new use=0 exp=0 gpc0=5 http_req_rate(10000)=0


            """)
    }
}
