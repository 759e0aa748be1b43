import Foundation
import XCTest
@testable import VRRPCore

/// `vrrpd --dump-keywords` (the source of vrrpd.conf(5)) must say exactly what the
/// parser's keyword tables hold: every handled keyword `supported`, every keyword keepalived
/// has and vrrpd warns about `ignored`, nothing left out, nothing `unknown`. A keyword
/// added to a table without being added to Sources/vrrpd/Keywords.swift fails here.
final class KeywordDumpTests: XCTestCase {
    func testTheDumpIsTheParsersTables() throws {
        guard let vrrpd = Lab.vrrpd else { throw XCTSkip("vrrpd is not built") }
        let r = Lab.sh("\(vrrpd) --dump-keywords")
        XCTAssertEqual(r.status, 0, r.out)
        var dumped: [String: [String: String]] = [:]
        for line in r.out.split(separator: "\n") {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            XCTAssertEqual(f.count, 4, "malformed line: \(line)")
            guard f.count == 4 else { continue }
            XCTAssertNotEqual(f[2], "unknown", "\(f[0]) \(f[1]): the parser does not know it")
            dumped[f[0], default: [:]][f[1]] = f[2]
        }

        func expect<T>(_ name: String, _ section: ConfigParser.Section<T>) {
            var want: [String: String] = [:]
            for k in section.handlers.keys { want[k] = "supported" }
            for k in section.unsupported.keys { want[k] = "ignored" }
            XCTAssertEqual(dumped[name] ?? [:], want, "block \(name)")
        }
        expect("top level", ConfigParser.topLevel)
        expect("global_defs", ConfigParser.globalDefs)
        expect("vrrp_script", ConfigParser.vrrpScript)
        expect("vrrp_track_proxyd", ConfigParser.proxydTrack)
        expect("vrrp_instance", ConfigParser.instance)
        expect("vrrp_sync_group", ConfigParser.syncGroup)
        XCTAssertEqual(dumped["authentication"], ["auth_type": "supported", "auth_pass": "supported"])
        XCTAssertEqual(dumped["virtual_ipaddress"]?.filter { $0.value == "supported" }.keys.sorted(),
                       ["brd", "dev", "label", "scope"])
    }
}
