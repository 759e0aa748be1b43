import XCTest
@testable import ProxyCore

/// The pure parts of TLS: version ranges from HAProxy's options, the ClientHello reader,
/// `sni` expressions, crt-list lines.
final class TLSVersionRangeTests: XCTestCase {
    func range(_ options: [String], bind: Bool = true) throws -> ClosedRange<TLSVersion> {
        try TLSVersion.range(options: options, defaultMinimum: bind ? .tls12 : .tls10)
    }

    func testDefaultsAndExplicitBounds() throws {
        XCTAssertEqual(try range([]), .tls12 ... .tls13, "HAProxy 2.2+: TLS 1.2 minimum on binds")
        XCTAssertEqual(try range(["no-sslv3"]), .tls12 ... .tls13, "the lab's option changes nothing")
        XCTAssertEqual(try range(["ssl-min-ver TLSv1.3"]), .tls13 ... .tls13)
        XCTAssertEqual(try range(["ssl-min-ver TLSv1.0", "ssl-max-ver TLSv1.2"]), .tls10 ... .tls12)
        XCTAssertEqual(try range(["no-tlsv13"]), .tls12 ... .tls12)
        XCTAssertEqual(try range(["force-tlsv12"]), .tls12 ... .tls12)
        XCTAssertEqual(try range(["no-tlsv10"], bind: false), .tls11 ... .tls13)
    }

    func testImpossibleRangesAreErrors() {
        XCTAssertThrowsError(try range(["no-tlsv12", "no-tlsv13"]))
        XCTAssertThrowsError(try range(["ssl-min-ver TLSv1.3", "ssl-max-ver TLSv1.2"]))
        XCTAssertThrowsError(try range(["no-tlsv11"], bind: false), "a hole between 1.0 and 1.2")
        XCTAssertThrowsError(try range(["ssl-min-ver TLSv9"]))
    }

    /// `SslFrontendSessionReuse_pct` from this second's rates, as HAProxy 2.6 rounds it
    /// (1 new key among 5 connections: 80, as haproxy printed it).
    func testSessionReusePercent() {
        XCTAssertEqual(TLSStatistics.reusePercent(keys: 1, connections: 5), 80)
        XCTAssertEqual(TLSStatistics.reusePercent(keys: 2, connections: 5), 60)
        XCTAssertEqual(TLSStatistics.reusePercent(keys: 1, connections: 3), 67)
        XCTAssertEqual(TLSStatistics.reusePercent(keys: 0, connections: 4), 100)
        XCTAssertEqual(TLSStatistics.reusePercent(keys: 3, connections: 3), 0)
        XCTAssertEqual(TLSStatistics.reusePercent(keys: 0, connections: 0), 0)
    }

    /// crt-list `[options]`, with HAProxy 2.6's words for what it refuses.
    func testCrtListOptions() throws {
        let o = try CertificateList.parseOptions(["alpn", "h2,http/1.1", "ssl-min-ver", "TLSv1.2", "verify", "optional",
                                                  "ciphers", "HIGH", "no-ca-names"], at: "X", caBase: nil)
        XCTAssertEqual(o.alpn, ["h2", "http/1.1"])
        XCTAssertEqual(o.versionOptions, ["ssl-min-ver TLSv1.2"])
        XCTAssertEqual(o.verify, "optional")
        XCTAssertEqual(o.ciphers, "HIGH")
        XCTAssertTrue(o.noCANames)
        func message(_ words: [String]) -> String {
            do { _ = try CertificateList.parseOptions(words, at: "X", caBase: nil); return "accepted" }
            catch { return "\(error)" }
        }
        XCTAssertEqual(message(["foo", "bar"]), "X: unknown ssl keyword foo")
        XCTAssertEqual(message(["alpn"]), "X: ssl args out of '[]' for alpn")
        XCTAssertEqual(message(["verify", "maybe"]),
                       "'crt-list' : 'verify' : unknown verify method 'maybe', only 'none', 'optional', and 'required' are supported")
        XCTAssertTrue(message(["allow-0rtt"]).contains("not supported by proxyd yet"))
    }

    func testSNIExpressions() throws {
        XCTAssertEqual(try TLSSetup.serverName("str(nginx.test)"), .fixed("nginx.test"))
        XCTAssertNil(try TLSSetup.serverName(nil))
        XCTAssertEqual(try TLSSetup.serverName("req.hdr(Host)"), .requestHeader("host"))
        XCTAssertEqual(try TLSSetup.serverName("hdr(x-sni)"), .requestHeader("x-sni"))
        XCTAssertEqual(try TLSSetup.serverName("ssl_fc_sni"), .frontendServerName)
        XCTAssertThrowsError(try TLSSetup.serverName("req.hdr(host),lower"))
        XCTAssertThrowsError(try TLSSetup.serverName("src"))
        let inputs = ServerNameInputs(headers: ["host": "a.test:8443"], frontendServerName: nil)
        XCTAssertEqual(inputs.evaluate(.requestHeader("host")), "a.test:8443", "as sent, port and all (HAProxy)")
        XCTAssertNil(inputs.evaluate(.frontendServerName))
        XCTAssertNil(inputs.evaluate(.requestHeader("x-none")))
    }
}

final class ClientHelloParserTests: XCTestCase {
    /// A ClientHello with the given SNI (and a padding extension before it).
    func hello(serverName: String?) -> [UInt8] {
        var extensions: [UInt8] = [0x00, 0x15, 0x00, 0x03, 0, 0, 0]  // padding, 3 bytes
        if let serverName {
            let name = Array(serverName.utf8)
            let entry: [UInt8] = [0] + u16(name.count) + name
            let list = u16(entry.count) + entry
            extensions += [0x00, 0x00] + u16(list.count) + list
        }
        var body: [UInt8] = [0x03, 0x03] + [UInt8](repeating: 7, count: 32)
        body += [0]                       // session id
        body += u16(4) + [0x13, 0x01, 0x13, 0x02]
        body += [1, 0]                    // compression: null
        body += u16(extensions.count) + extensions
        return [1, 0, UInt8(body.count >> 8), UInt8(body.count & 0xff)] + body
    }

    func u16(_ v: Int) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xff)] }

    func records(_ handshake: [UInt8], size: Int) -> [UInt8] {
        var out: [UInt8] = []
        var i = 0
        while i < handshake.count {
            let chunk = Array(handshake[i..<min(i + size, handshake.count)])
            out += [0x16, 0x03, 0x01] + u16(chunk.count) + chunk
            i += size
        }
        return out
    }

    func testFindsTheServerName() {
        let bytes = records(hello(serverName: "a.test"), size: 16_384)
        XCTAssertEqual(ClientHelloParser.parse(bytes), .hello(type: 1, serverName: "a.test"))
        XCTAssertEqual(ClientHelloParser.parse(records(hello(serverName: nil), size: 16_384)),
                       .hello(type: 1, serverName: nil))
    }

    func testWaitsForEveryPieceOfAHelloSplitAcrossRecordsAndReads() {
        let bytes = records(hello(serverName: "split.test"), size: 10)
        for cut in [0, 3, 5, 14, 15, bytes.count / 2, bytes.count - 1] {
            XCTAssertEqual(ClientHelloParser.parse(Array(bytes[0..<cut])), .needMore, "cut at \(cut)")
        }
        XCTAssertEqual(ClientHelloParser.parse(bytes), .hello(type: 1, serverName: "split.test"))
    }

    func testOtherBytesAreNotTLS() {
        XCTAssertEqual(ClientHelloParser.parse(Array("GET / HTTP/1.1\r\n".utf8)), .notTLS)
        XCTAssertEqual(ClientHelloParser.parse([0x16, 0x02, 0x00, 0x00, 0x10]), .notTLS)
        XCTAssertEqual(ClientHelloParser.parse([0x17, 0x03, 0x03, 0x00, 0x10]), .notTLS, "application data first")
        var truncated = hello(serverName: "x.test")
        truncated.removeLast(20)
        truncated[3] = UInt8(truncated.count - 4)  // a length that says the body ends early
        truncated[2] = 0
        XCTAssertNotEqual(ClientHelloParser.parse(records(truncated, size: 16_384)), .needMore)
    }
}

final class TLSBase64Tests: XCTestCase {
    func testDecodesWhatOpenSSLWrites() {
        XCTAssertEqual(TLSBase64.decode("aGVsbG8="), Array("hello".utf8))
        XCTAssertEqual(TLSBase64.decode("aGVsbG8h"), Array("hello!".utf8))
        XCTAssertEqual(TLSBase64.decode("aA=="), Array("h".utf8))
        XCTAssertEqual(TLSBase64.decode(""), [])
        XCTAssertNil(TLSBase64.decode("aGVsbG8"), "length not a multiple of 4")
        XCTAssertNil(TLSBase64.decode("aG=sbG8="), "padding inside")
        XCTAssertNil(TLSBase64.decode("aGVs*G8="))
    }
}
