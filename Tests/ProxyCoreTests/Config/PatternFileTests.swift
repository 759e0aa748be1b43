import Foundation
import XCTest
@testable import ProxyCore
import Shared

/// ACL pattern files read as HAProxy 2.6 reads them, with its messages (compared with
/// `haproxy -c` 2.6.12 on the same lines and files).
final class PatternFileTests: XCTestCase {
    func testLinesAsHAProxyReadsThem() {
        let text = "# comment\n/admin\n  /secret\n\n   \n #kept\n /with space \n\t/tab\r\nlast"
        XCTAssertEqual(PatternFile.parse(Array(text.utf8), asMap: false).map { "\($0.line):\($0.key)" },
                       ["2:/admin", "3:/secret", "6:#kept", "7:/with space ", "8:/tab", "9:last"])
        let map = "# k v\nwww.example.com   web be\napi\tapi\nalone\n"
        XCTAssertEqual(PatternFile.parse(Array(map.utf8), asMap: true).map { "\($0.key)=\($0.value ?? "nil")" },
                       ["www.example.com=web be", "api=api", "alone="])
    }

    func testErrorsAsHAProxy() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ru-pf-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let paths = dir.appendingPathComponent("paths.lst").path
        try "# c\n/admin\n".write(toFile: paths, atomically: true, encoding: .utf8)
        func alerts(_ acl: String) -> [String] {
            ConfigurationLoader.load(text: "defaults\n  mode http\nfrontend f\n  bind :8080\n  \(acl)\n", name: "e.cfg",
                                     options: LoadOptions()).diagnostics.filter { $0.location != nil && $0.severity == .alert }.map { $0.message }
        }
        XCTAssertEqual(alerts("acl x path -f \(dir.path)/missing.lst"),
                       ["parsing [e.cfg:5] : error detected while parsing ACL 'x' : failed to open pattern file <\(dir.path)/missing.lst>."])
        XCTAssertEqual(alerts("acl x path -f"), ["parsing [e.cfg:5] : error detected while parsing ACL 'x' : failed to open pattern file <>."])
        XCTAssertEqual(alerts("acl x src -f \(paths)"),
                       ["parsing [e.cfg:5] : error detected while parsing ACL 'x' : '/admin' is not a valid IPv4 or IPv6 address at line 2 of file '\(paths)'."])
        XCTAssertEqual(alerts("acl x path_beg -f \(paths) -f \(paths) /inline"), [])
    }
}

/// `use_backend %[…,map(FILE)]` with a file that cannot be read: `haproxy -c` 2.6.12's words.
final class MapFileCheckTests: XCTestCase {
    func testMissingMapFileAsHAProxy() {
        let text = "defaults\n  mode http\nfrontend f\n  bind :8080\n  use_backend %[req.hdr(host),lower,map(/nonexistent/hosts.map,b)]\nbackend b\n  server s 127.0.0.1:1\n"
        let alerts = ConfigurationLoader.load(text: text, name: "e.cfg", options: LoadOptions()).diagnostics
            .filter { $0.location != nil && $0.severity == .alert }.map { $0.message }
        XCTAssertEqual(alerts, ["Parsing [e.cfg:5]: failed to parse use_backend rule '%[req.hdr(host),lower,map(/nonexistent/hosts.map,b)]' : failed to parse sample expression <req.hdr(host),lower,map(/nonexistent/hosts.map,b)]> : invalid args in converter 'map' : failed to open pattern file </nonexistent/hosts.map>."])
    }
}
