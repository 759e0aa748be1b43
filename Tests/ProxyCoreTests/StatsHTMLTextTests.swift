import XCTest
@testable import ProxyCore

/// How the HTML stats page writes values and colours rows, as HAProxy 2.6 does.
final class StatsHTMLTextTests: XCTestCase {
    typealias T = StatsHTMLText

    func testThousandsAreGroupedInSpans() {
        XCTAssertEqual(T.grouped(0), "0")
        XCTAssertEqual(T.grouped(999), "999")
        XCTAssertEqual(T.grouped(3228), "<span class=\"rls\">3</span>228")
        XCTAssertEqual(T.grouped(1_234_567), "<span class=\"rls\">1</span><span class=\"rls\">234</span>567")
        XCTAssertEqual(T.grouped(100_000), "<span class=\"rls\">100</span>000")
    }

    func testLimitsAndDurations() {
        XCTAssertEqual(T.limit(.empty), "-")
        XCTAssertEqual(T.limit(.number(0)), "-")
        XCTAssertEqual(T.limit(.number(7)), "7")
        XCTAssertEqual(T.duration(seconds: 0), "0s")
        XCTAssertEqual(T.duration(seconds: 34), "34s")
        XCTAssertEqual(T.duration(seconds: 64), "1m4s")
        XCTAssertEqual(T.duration(seconds: 7500), "2h5m")
        XCTAssertEqual(T.duration(seconds: 90000), "1d1h")
        XCTAssertEqual(T.age(.number(-1)), "?", "never")
        XCTAssertEqual(StatsHTMLProcess.bitRate(750), "750 bps")
        XCTAssertEqual(StatsHTMLProcess.bitRate(32_629), "32.629 kbps")
        XCTAssertEqual(StatsHTMLProcess.bitRate(1_200_000), "1.200 Mbps")
    }

    private func server(_ status: String, backup: Bool = false) -> StatRow {
        var row = StatRow(kind: .server, proxyID: 2, serverID: 1,
                          values: Array(repeating: .empty, count: StatFields.names.count))
        row["status"] = .string(status)
        row["bck"] = .number(backup ? 1 : 0)
        return row
    }

    /// Every legend state, from the CSV status.
    func testRowClassesFollowTheLegend() {
        let cases: [(String, Bool, String)] = [
            ("UP", false, "active_up"), ("UP", true, "backup_up"),
            ("UP 1/3", false, "active_going_down"), ("UP 2/3", true, "backup_going_down"),
            ("DOWN 1/2", false, "active_going_up"), ("DOWN 1/2", true, "backup_going_up"),
            ("DOWN", false, "active_down"), ("DOWN", true, "backup_down"),
            ("no check", false, "active_no_check"), ("MAINT", true, "maintain"),
            ("DRAIN", false, "active_draining"), ("DRAIN", true, "backup_draining"),
            ("NOLB", false, "active_nolb"),
        ]
        for (status, backup, expected) in cases {
            XCTAssertEqual(StatsHTMLRows.stateClass(server(status, backup: backup)), expected, "\(status) backup \(backup)")
        }
        var drained = server("DRAIN")
        drained["lastchg"] = .number(64)
        XCTAssertEqual(StatsHTMLRows.statusText(drained), "1m4s DRAIN &darr;")
        XCTAssertEqual(StatsHTMLRows.statusText(server("no check")), "<i>no check</i>")
    }

    func testScopeAndOptionsOfARequest() {
        let form = StatsRequestOptions(";up?scope=po")
        XCTAssertTrue(form.upOnly)
        XCTAssertEqual(form.scope, "po")
        let inline = StatsRequestOptions(";norefresh;scope=web;csv")
        XCTAssertTrue(inline.noRefresh)
        XCTAssertTrue(inline.words.contains("csv"))
        XCTAssertEqual(inline.scope, "web")
        XCTAssertNil(StatsRequestOptions("?scope=").scope, "an empty scope shows everything")
        XCTAssertEqual(StatsRequestOptions("?scope=" + String(repeating: "x", count: 30)).scope?.count, 20)
    }
}
