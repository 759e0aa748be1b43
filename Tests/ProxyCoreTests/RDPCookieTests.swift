import XCTest
@testable import ProxyCore

/// The RDP cookie as HAProxy 2.6's `req.rdp_cookie` reads it (Balancing/RDPCookie.swift).
final class RDPCookieTests: XCTestCase {
    /// TPKT (4 bytes) and COTP CR (7 bytes) headers, then `text`.
    func packet(_ text: String) -> [UInt8] {
        [3, 0, 0, 0, 0, 0xE0, 0, 0, 0, 0, 0] + Array(text.utf8)
    }

    func value(_ text: String, name: String?) -> String? {
        let bytes = packet(text)
        guard case .value(let range) = RDPCookie.find(in: bytes, name: name.map { Array($0.utf8) }) else { return nil }
        return String(decoding: bytes[range], as: UTF8.self)
    }

    func testFindsTheCookieValue() {
        XCTAssertEqual(value("Cookie: mstshash=alice\r\nrest", name: "mstshash"), "alice")
        XCTAssertEqual(value("COOKIE:   MSTSHASH=bob\r\n", name: "mstshash"), "bob")  // case-insensitive names
        XCTAssertEqual(value("Cookie: msts=3640205228.15629.0000\r\n", name: nil), "3640205228.15629.0000")
        XCTAssertEqual(value("Cookie: mstshash=\r\n", name: "mstshash"), "")
        XCTAssertNil(value("Cookie: other=x\r\n", name: "mstshash"))
        XCTAssertNil(value("Cookie: mstshash=x\rX", name: "mstshash"))  // CR without LF
    }

    func testTellsTooShortFromAbsent() {
        func lookup(_ text: String, _ name: String? = "mstshash") -> RDPCookie.Lookup {
            RDPCookie.find(in: packet(text), name: name.map { Array($0.utf8) })
        }
        XCTAssertEqual(RDPCookie.find(in: [UInt8]([3, 0, 0]), name: nil), .needMore)
        XCTAssertEqual(lookup("Cook"), .needMore)
        XCTAssertEqual(lookup("Cookie: msts"), .needMore)
        XCTAssertEqual(lookup("Cookie: mstshash=ali"), .needMore)
        XCTAssertEqual(lookup("Cookie: mstshash=alice\r"), .needMore)
        XCTAssertEqual(lookup("Hello, world: x\r\n"), .absent)
        XCTAssertEqual(lookup("Cookie: x\r\n", nil), .absent)  // no `=` before the line's end
    }

    func testDecodesMicrosoftsAddressEncoding() {
        // Microsoft's own example: 172.31.249.216, port 3389.
        let decoded = RDPCookie.serverAddress(Array("3640205228.15629.0000".utf8))
        XCTAssertEqual(decoded?.address, [172, 31, 249, 216])
        XCTAssertEqual(decoded?.port, 3389)
        XCTAssertNil(RDPCookie.serverAddress(Array("3640205228.15629".utf8)))  // no dot after the port
        XCTAssertNil(RDPCookie.serverAddress(Array("36402x5228.15629.0".utf8)))
    }

    func testWaitsForTheWholeTPKTPacket() {
        func incomplete(_ bytes: [UInt8]) -> Bool { bytes.withUnsafeBytes { RDPCookie.packetIncomplete($0) } }
        XCTAssertTrue(incomplete([3, 0]))
        XCTAssertTrue(incomplete([3, 0, 0, 20] + [UInt8](repeating: 0, count: 10)))
        XCTAssertFalse(incomplete([3, 0, 0, 14] + [UInt8](repeating: 0, count: 10)))
        XCTAssertFalse(incomplete([0x16, 3, 1]))  // TLS, not TPKT
    }

    /// `RDP_COOKIE` is `req.rdp_cookie_cnt gt 0`; a proxy may define a predefined name
    /// again (HAProxy 2.6 takes it), and its own definition wins.
    func testPredefinedACLAndItsRedefinition() throws {
        let r = FrontendConfig.load("""
        \thttp-request deny if RDP_COOKIE
        \tacl TRUE always_false
        \thttp-request deny if TRUE
        """)
        XCTAssertEqual(r.exitCode, 0, FrontendConfig.messages(r))
        let fe = try XCTUnwrap(r.configuration?.proxies.first { $0.name == "fe" })
        let rdp = try XCTUnwrap(fe.httpRequestRules.first?.condition?.alternatives.first?.first?.criteria.first)
        XCTAssertEqual(rdp.text, "req.rdp_cookie_cnt gt 0")
        XCTAssertEqual(rdp.patterns, [.integerRange(lower: 1, upper: nil)])
        let redefined = try XCTUnwrap(fe.httpRequestRules.last?.condition?.alternatives.first?.first?.criteria.first)
        XCTAssertEqual(redefined.fetch, .alwaysFalse)
    }
}
