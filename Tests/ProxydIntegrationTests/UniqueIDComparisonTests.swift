import Foundation
import XCTest

/// `unique-id-format` and `unique-id-header` (issue 15) side by side with Debian's
/// HAProxy 2.6: the header the server gets (after the rules' headers), the `unique-id`
/// fetch in a rule, and `%ID` in the log. The format has only parts both proxies share
/// (a request header, the addresses in hexadecimal after `%{+X}o`).
final class UniqueIDComparisonTests: XCTestCase {
    static let config = """
        global
            nbthread 1
        defaults
            mode http
            timeout connect 2s
            timeout client 5s
            timeout server 5s
        frontend fe
            bind 127.0.0.1:PORT
            log LOG local0
            log-format "uid id=%ID fetch=%[unique-id]"
            unique-id-format %{+X}o\\ %[req.hdr(x-req),lower]_%ci_%fi
            unique-id-header X-Unique-ID
            http-request set-header X-Id-Fetch %[unique-id]
            option forwardfor
            default_backend be
        backend be
            server echo 127.0.0.1:SERVER

        """

    func testUniqueIDAsInHAProxy() throws {
        let sides = try SideBySideHTTP(Self.config)
        defer { sides.stop() }
        let requests = [
            "GET /a HTTP/1.1\r\nHost: t\r\nX-Req: AbC\r\n\r\n",
            "GET /b HTTP/1.1\r\nHost: t\r\n\r\n",
        ]
        let (expected, actual) = try sides.exchange(requests)
        XCTAssertEqual(actual, expected)
        XCTAssertTrue(expected[0].contains("x-unique-id: abc_7f000001_7f000001"), expected[0])
        let (haproxyLines, proxydLines) = sides.logs(prefix: "uid id=", count: 3)
        XCTAssertEqual(proxydLines, haproxyLines)
        XCTAssertTrue(haproxyLines.contains("uid id=abc_7F000001_7F000001 fetch=abc_7F000001_7F000001"), "\(haproxyLines)")
    }
}
