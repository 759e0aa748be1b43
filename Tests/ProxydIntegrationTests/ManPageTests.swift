import Foundation
import XCTest

/// The manual pages (issue 11, item 6): proxyd.cfg(5) and vrrpd.conf(5) are generated from
/// the keyword tables by scripts/man and must be what it generates now; every page renders
/// without a warning; `man proxyd` works after scripts/install.
final class ManPageTests: XCTestCase {
    static let repo = CheckModeTests.repoRoot.path
    static let pages = ["man/proxyd.8", "man/vrrpd.8", "man/proxyd.cfg.5", "man/vrrpd.conf.5"]

    /// Regenerates the keyword pages from this build and compares them with the committed
    /// ones: a keyword added, removed or changed in a table without `scripts/man` fails here.
    func testTheKeywordPagesAreWhatTheTablesHold() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("man-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var env = ProcessInfo.processInfo.environment
        env["PROXYD_BIN_DIR"] = ProxydProcess.binaryDirectory.path
        let r = try Sandbox.runProcess("\(Self.repo)/scripts/man", ["--output", dir], environment: env, timeout: 120)
        XCTAssertEqual(r.status, 0, r.output)
        for page in ["proxyd.cfg.5", "vrrpd.conf.5"] {
            let fresh = try String(contentsOfFile: "\(dir)/\(page)", encoding: .utf8)
            let committed = try String(contentsOfFile: "\(Self.repo)/man/\(page)", encoding: .utf8)
            if fresh != committed {
                let diff = try Sandbox.runProcess("/usr/bin/diff", ["-u", "\(Self.repo)/man/\(page)", "\(dir)/\(page)"], timeout: 20)
                XCTFail("man/\(page) is not what the keyword tables give: run scripts/man\n\(diff.output)")
            }
        }
    }

    /// The dump the page comes from lists the tables' keywords, and the parser agrees with
    /// each status: a few fixed points.
    func testTheKeywordDumpSaysWhatTheParserDoes() throws {
        let r = try Sandbox.runProcess(ProxydProcess.proxydPath, ["--dump-keywords"], timeout: 30)
        XCTAssertEqual(r.status, 0)
        let lines = Set(r.output.split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false).prefix(3).joined(separator: " ") })
        for expected in ["section global supported", "section peers supported", "section mailers unsupported", "global nbthread supported",
                         "global tune.bufsize supported", "global tune.ssl.keylog ignored", "global lua-load unsupported",
                         "proxy balance supported", "proxy stick-table supported", "option httpchk supported",
                         "option spop-check unsupported", "bind ssl supported", "bind accept-netscaler-cip unsupported",
                         "server check supported", "server resolvers supported", "server redir unsupported",
                         "resolvers nameserver supported", "section resolvers supported", "timeout client supported",
                         "balance roundrobin supported", "balance hash unsupported", "http-request set-header supported",
                         "http-request track-sc0 supported", "acl path supported", "stats uri supported",
                         "userlist user supported", "peers peer supported", "peers log unsupported"] {
            XCTAssertTrue(lines.contains(expected), "--dump-keywords lacks '\(expected)'")
        }
        XCTAssertFalse(r.output.contains("\tunknown\t"))
    }

    func testEveryPageRendersWithoutWarnings() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/man") else {
            throw XCTSkip("man is not installed (Debian packages man-db and groff)")
        }
        for page in Self.pages {
            let r = try Sandbox.runProcess("/bin/sh", ["-c", "MANWIDTH=80 man --warnings -l \"$1\" 2>&1 >/dev/null", "sh",
                                                       "\(Self.repo)/\(page)"], timeout: 60)
            XCTAssertEqual(r.status, 0, "\(page): \(r.output)")
            XCTAssertEqual(r.output, "", "\(page) renders with warnings")
            let text = try Sandbox.runProcess("/bin/sh", ["-c", "MANWIDTH=80 MANPAGER=cat man -l \"$1\" 2>/dev/null", "sh",
                                                          "\(Self.repo)/\(page)"], timeout: 60)
            XCTAssertTrue(text.output.contains("NAME"), "\(page) rendered as: \(text.output.prefix(300))")
        }
    }

    /// After scripts/install (in a sandbox), `man proxyd` and the three others open.
    func testManFindsEveryPageAfterInstall() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/man") else {
            throw XCTSkip("man is not installed (Debian packages man-db and groff)")
        }
        try Sandbox.skipUnlessAvailable()
        let r = try Sandbox.run(ServiceTests.install + """

            for page in proxyd vrrpd proxyd.cfg vrrpd.conf; do
              # Debian's /usr/local/man is a link to /usr/local/share/man.
              step "where-$page" sh -c "readlink -f \\$(man -w $page)"
              step "open-$page" sh -c "MANPAGER=cat MANWIDTH=80 man $page | head -1"
            done
            """)
        for (page, section) in [("proxyd", 8), ("vrrpd", 8), ("proxyd.cfg", 5), ("vrrpd.conf", 5)] {
            XCTAssertEqual(r.step("where-\(page)").output, "/usr/local/share/man/man\(section)/\(page).\(section)", r.output)
            XCTAssertTrue(r.step("open-\(page)").output.hasPrefix("\(page.uppercased())(\(section))"), r.step("open-\(page)").output)
        }
    }
}
