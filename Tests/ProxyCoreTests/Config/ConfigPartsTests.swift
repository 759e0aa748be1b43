import XCTest
@testable import ProxyCore
import Shared

/// Smaller pieces of the model and parsers.
final class ConfigPartsTests: XCTestCase {
    func testFormatStrings() throws {
        let f = try HTTPRuleParser.format("%[src] via %ci, %{+Q}r 100%% [%[req.hdr(host),lower]]").get()
        XCTAssertEqual(f.parts, [
            .sample("src"), .literal(" via "), .variable("ci"), .literal(", "), .variable("{+Q}r"),
            .literal(" 100% ["), .sample("req.hdr(host),lower"), .literal("]"),
        ])
        XCTAssertFalse(f.isConstant)
        XCTAssertTrue(try HTTPRuleParser.format("plain text").get().isConstant)
        XCTAssertThrowsError(try HTTPRuleParser.format("%[src").get())
    }

    func testRegexes() throws {
        let r = try CompiledRegex.compile("^/api/v[0-9]+", caseInsensitive: true).get()
        XCTAssertTrue(r.matches("/API/v2/x"))
        XCTAssertFalse(r.matches("/x/api/v2"))
        let bytes = Array("/api/v1".utf8)
        XCTAssertTrue(bytes.withUnsafeBufferPointer { r.matches(bytes: $0) })
        guard case .failure = CompiledRegex.compile("(abc") else { return XCTFail("a bad regex compiles") }
    }

    func testNetworks() throws {
        let net = try XCTUnwrap(ACLParser.parseNetwork("10.1.0.0/16"))
        XCTAssertTrue(net.contains(.v4(10, 1, 200, 3)))
        XCTAssertFalse(net.contains(.v4(10, 2, 0, 1)))
        XCTAssertEqual(ACLParser.parseNetwork("192.168.0.0/255.255.0.0")?.prefixLength, 16)
        XCTAssertNil(ACLParser.parseNetwork("192.168.0.0/255.0.255.0"))
        let v6 = try XCTUnwrap(ACLParser.parseNetwork("2001:db8::/32"))
        XCTAssertTrue(v6.contains(try XCTUnwrap(AddressParser.numericIP("2001:db8:1::5"))))
        XCTAssertFalse(v6.contains(.v4(10, 0, 0, 1)))
        XCTAssertEqual(AddressParser.numericIP("2001:db8:0:0:1:0:0:1")?.description, "2001:db8::1:0:0:1")
        XCTAssertEqual(AddressParser.numericIP("::")?.description, "::")
        XCTAssertNil(AddressParser.numericIP("1.2.3.4.5"))
    }

    func testHostPortSplitting() {
        XCTAssertEqual(AddressParser.splitHostPortText(":::80")?.0, "::")
        XCTAssertEqual(AddressParser.splitHostPortText(":::80")?.1, "80")
        XCTAssertEqual(AddressParser.splitHostPortText("[::1]:443")?.0, "::1")
        XCTAssertEqual(AddressParser.splitHostPortText("myweb1:80")?.0, "myweb1")
        XCTAssertNil(AddressParser.splitHostPortText("myweb1")?.1)
    }

    func load(_ text: String) -> LoadResult {
        ConfigurationLoader.load(text: text, name: "t.cfg", options: LoadOptions(resolveServers: false))
    }

    func testOptionsLogsAndChecks() throws {
        let r = load("""
        global
        \tlog 127.0.0.1:5140 len 2048 format rfc5424 local3 info notice
        \tlog stdout format raw daemon
        defaults
        \tmode http
        \ttimeout client 10s
        \ttimeout connect 2s
        \ttimeout server 10s
        \toption http-server-close
        \toption forwardfor except 127.0.0.0/8 header X-Real-IP if-none
        frontend f
        \tbind :80
        \tno option http-server-close
        \toption httpclose
        \tlog global
        \tdefault_backend b
        backend b
        \toption tcp-check
        \ttcp-check connect port 6379
        \ttcp-check send PING\\r\\n
        \ttcp-check expect string +PONG
        \ttcp-check send-binary 0a0b
        \tserver s 127.0.0.1:6379 check

        """)
        XCTAssertEqual(r.exitCode, 0, "\(r.diagnostics)")
        let c = try XCTUnwrap(r.configuration)
        XCTAssertEqual(c.global.logs[0].destination, .udp(host: "127.0.0.1", port: 5140))
        XCTAssertEqual(c.global.logs[0].length, 2048)
        XCTAssertEqual(c.global.logs[0].format, .rfc5424)
        XCTAssertEqual(c.global.logs[0].facilityCode, 19)
        XCTAssertEqual(c.global.logs[0].maxLevel, .info)
        XCTAssertEqual(c.global.logs[0].minLevel, .notice)
        XCTAssertEqual(c.global.logs[1].destination, .stdout)
        let f = try XCTUnwrap(c.proxy(named: "f"))
        XCTAssertEqual(f.httpConnectionMode, .close)
        XCTAssertEqual(f.forwardFor?.header, "X-Real-IP")
        XCTAssertEqual(f.forwardFor?.ifNone, true)
        XCTAssertEqual(f.forwardFor?.except?.description, "127.0.0.0/8")
        XCTAssertEqual(f.logs.count, 2)
        XCTAssertEqual(f.timeouts.effectiveHTTPRequest, 10_000)
        XCTAssertEqual(f.timeouts.effectiveHTTPKeepAlive, 10_000)
        let b = try XCTUnwrap(c.backend(named: "b"))
        XCTAssertEqual(b.httpConnectionMode, .serverClose, "from the defaults")
        XCTAssertEqual(b.timeouts.effectiveQueue, 2000)
        guard case let .tcpCheck(rules) = b.healthCheck.kind else { return XCTFail("tcp-check expected") }
        XCTAssertEqual(rules.count, 4)
        XCTAssertEqual(rules[0], .connect(port: 6379, address: nil, ssl: false, sni: nil, sendProxy: false, linger: false))
        XCTAssertEqual(rules[1], .send("PING\r\n"))
        XCTAssertEqual(rules[2], .expect(CheckExpectation(kind: .string("+PONG"))))
        XCTAssertEqual(rules[3], .sendBinary([0x0a, 0x0b]))
    }

    func testDefaultsFromDefaultsAndHTTPCheckSend() throws {
        let r = load("""
        defaults base
        \tmode http
        \ttimeout client 1s
        \ttimeout connect 1s
        \ttimeout server 1s
        defaults web from base
        \toption httpchk
        \thttp-check send meth HEAD uri /health ver HTTP/1.1 hdr Host example.com
        \thttp-check expect status 200-299,304
        backend b from web
        \tserver s 127.0.0.1:1 check
        frontend f from web
        \tbind :80
        \tdefault_backend b

        """)
        XCTAssertEqual(r.exitCode, 0, "\(r.diagnostics)")
        let b = try XCTUnwrap(r.configuration?.backend(named: "b"))
        XCTAssertEqual(b.mode, .http)
        guard case let .http(request, expectations) = b.healthCheck.kind else { return XCTFail("httpchk expected") }
        XCTAssertEqual(request.method, "HEAD")
        XCTAssertEqual(request.uri, "/health")
        XCTAssertEqual(request.version, "HTTP/1.1")
        XCTAssertEqual(request.headers.first?.name, "Host")
        XCTAssertEqual(expectations.first?.kind, .status([200...299, 304...304]))
    }

    func testEmptyConditionsFollowHAProxy() throws {
        let r = load("""
        frontend f
        \tbind :80
        \ttimeout client 1s
        \tmode http
        \tacl a path /x
        \tuse_backend b if
        \tuse_backend b if a ||
        backend b
        \tmode http

        """)
        XCTAssertEqual(r.exitCode, 0, "\(r.diagnostics)")
        let rules = try XCTUnwrap(r.configuration?.proxy(named: "f")?.useBackendRules)
        XCTAssertEqual(rules[0].condition?.alternatives.count, 0, "a bare 'if' never matches")
        XCTAssertEqual(rules[1].condition?.alternatives.count, 2)
        XCTAssertEqual(rules[1].condition?.alternatives[1].count, 0, "an empty alternative always matches")
    }

    func testRulesOfNamedDefaultsComeFirst() throws {
        let r = load("""
        defaults web
        \tmode http
        \ttimeout client 1s
        \tacl blocked src 192.0.2.0/24
        \thttp-request deny if blocked
        frontend f from web
        \tbind :80
        \thttp-request set-header X-A b

        """)
        XCTAssertEqual(r.exitCode, 0, "\(r.diagnostics)")
        let f = try XCTUnwrap(r.configuration?.proxy(named: "f"))
        XCTAssertEqual(f.httpRequestRules.count, 2)
        guard case .deny = f.httpRequestRules[0].action else { return XCTFail("the defaults' rule comes first") }
        XCTAssertEqual(f.httpRequestRules[0].condition?.alternatives.first?.first?.name, "blocked")
        XCTAssertTrue(f.acls.isEmpty, "the defaults' ACLs are not the proxy's")
    }
}
