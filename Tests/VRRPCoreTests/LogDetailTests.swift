import XCTest
import Foundation
@testable import VRRPCore

/// `vrrpd --log-detail` (issue 11, item 2): a track script's result is logged when it
/// changes, in keepalived 2.2.7's words (read from `keepalived -D` running the same
/// script: "Script `chk` now returning 1", "VRRP_Script(chk) failed (exited with status
/// 1)", "VRRP_Script(chk) succeeded"), not on every run.
final class LogDetailTests: XCTestCase {
    var lab: Lab?

    override func tearDown() {
        lab?.tearDown(keepLogsOnFailure: (testRun?.failureCount ?? 0) > 0)
        lab = nil
    }

    func testResultChangeLinesAreKeepalivedsWords() {
        XCTAssertEqual(ScriptRuntime.resultChangeLine(name: "chk_proxyd", detail: "exited with status 1"),
                       "Script `chk_proxyd` now returning 1")
        XCTAssertEqual(ScriptRuntime.resultChangeLine(name: "chk", detail: "exited with status 127 (cannot execute)"),
                       "Script `chk` now returning 127")
        XCTAssertEqual(ScriptRuntime.resultChangeLine(name: "chk", detail: "killed by signal 9"),
                       "Script `chk` killed by signal 9")
    }

    func testScriptResultsAreLoggedOnlyWhenTheyChange() throws {
        let lab = try Lab(hosts: ["a"])
        self.lab = lab
        let flag = lab.path("proxy-ok"), runLog = lab.path("runs")
        _ = FileManager.default.createFile(atPath: flag, contents: nil)
        let conf = """
        vrrp_script chk_proxyd {
          script "/bin/sh -c 'echo >> \(runLog); test -e \(flag)'"
          interval 0.1
          weight -20
        }

        """ + Lab.instanceConfig(priority: 100, advert: "0.1", extra: "  track_script {\n    chk_proxyd\n  }")
        // The lab starts vrrpd with -D (--log-detail).
        try lab.startVrrpd("a", on: "a", config: Lab.v3(conf))
        XCTAssertNotNil(lab.waitUntil(3) { lab.instance("a", on: "a")["priority"] as? Int == 100 })
        usleep(1_000_000)
        try FileManager.default.removeItem(atPath: flag)
        XCTAssertNotNil(lab.waitUntil(3) { lab.instance("a", on: "a")["priority"] as? Int == 80 })
        usleep(1_000_000)
        _ = FileManager.default.createFile(atPath: flag, contents: nil)
        XCTAssertNotNil(lab.waitUntil(3) { lab.instance("a", on: "a")["priority"] as? Int == 100 })
        usleep(500_000)
        lab.stop("a")
        let runs = ((try? String(contentsOfFile: runLog, encoding: .utf8)) ?? "").filter { $0 == "\n" }.count

        let lines = lab.log("a").split(separator: "\n").map(String.init).filter { $0.contains("chk_proxyd") }
        // About 30 runs in 3 s; five lines, each a change (the first result is one, as in keepalived).
        XCTAssertGreaterThanOrEqual(runs, 15, "the script ran \(runs) times")
        XCTAssertEqual(lines.map { $0.components(separatedBy: ": ").dropFirst().joined(separator: ": ") }, [
            "VRRP_Script(chk_proxyd) succeeded",
            "Script `chk_proxyd` now returning 1",
            "VRRP_Script(chk_proxyd) failed (exited with status 1)",
            "Script `chk_proxyd` now returning 0",
            "VRRP_Script(chk_proxyd) succeeded",
        ], lines.joined(separator: "\n"))
    }
}
