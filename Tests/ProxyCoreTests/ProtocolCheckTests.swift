import XCTest
@testable import ProxyCore

/// The protocol checks' bytes and verdicts, without sockets. The expected bytes were
/// recorded from haproxy 2.6 on the wire (a server that printed what it received).
final class ProtocolCheckTests: XCTestCase {
    private func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    private func sent(_ check: ProtocolCheck) -> String {
        hex(CheckEvaluation.protocolSteps(check).flatMap { step -> [UInt8] in
            if case .send(let bytes) = step { return bytes }
            return []
        })
    }

    func testRequestsAreHAProxysBytes() {
        XCTAssertEqual(sent(.mysql(user: "haproxy", preFourOne: false)),
                       "290000010082000000800001210000000000000000000000000000000000000000000000686170726f787900000100000001")
        XCTAssertEqual(sent(.mysql(user: "ab", preFourOne: true)), "090000010080000001616200000100000001")
        XCTAssertEqual(sent(.mysql(user: nil, preFourOne: false)), "", "no user: the greeting alone")
        XCTAssertEqual(sent(.pgsql(user: "pguser")), "000000150003000075736572007067757365720000")
        XCTAssertEqual(sent(.redis), "2a310d0a24340d0a50494e470d0a")
        XCTAssertEqual(sent(.ldap), "300c020101600702010304008000")
        XCTAssertEqual(sent(.smtp(greeting: "EHLO example.org")), hex(Array("EHLO example.org\r\nQUIT\r\n".utf8)))
        let hello = CheckEvaluation.sslClientHello(unixTime: 0x6B16_985B)
        XCTAssertEqual(hex(hello), "16030000790100007503006b16985b484150524f585953534c43484b0a484150524f585953534c43484b0a00004e"
            + "000100020003000400050006000700080009000a000b000c000d000e000f0010001100120013001400150016001700180019001a001b"
            + "002f0030003100320033003400350036003700380039003a0100")
        XCTAssertEqual(hello.count, 5 + 0x79, "the record length covers the rest")
    }

    private func judge(_ text: String, _ reply: CheckEvaluation.ProtocolReply, step: Int = 2,
                       final: Bool = false) -> CheckEvaluation.ProtocolVerdict {
        CheckEvaluation.judgeProtocol(Array(text.utf8), reply, step: step, final: final)
    }

    func testRedisAndSMTPVerdicts() {
        XCTAssertEqual(judge("+PONG\r\n", .redis), .passed(CheckResult(status: .l7ok, code: 0, info: "Redis server is ok")))
        XCTAssertEqual(judge("-NOAUTH Authentication required.\r\n", .redis), .needMore, "waits until the server closes")
        XCTAssertEqual(judge("-NOAUTH Authentication required.\r\n", .redis, final: true),
                       .failed(CheckResult(status: .l7status, code: 0, info: "-NOAUTH Authentication required.")))
        XCTAssertEqual(judge("", .redis, final: true),
                       .failed(CheckResult(status: .l7status, code: 0, info: "TCPCHK got an empty response at step 2")))

        XCTAssertEqual(judge("220 mail ESMTP\r\n", .smtp(banner: true)),
                       .passed(CheckResult(status: .l7ok, code: 220, info: "mail ESMTP")))
        XCTAssertEqual(judge("554 go away\r\n", .smtp(banner: true)),
                       .failed(CheckResult(status: .l7status, code: 554, info: "go away")))
        XCTAssertEqual(judge("220-first line\r\n", .smtp(banner: true)),
                       .failed(CheckResult(status: .l7response, info: "220-first line")), "HAProxy's banner rule wants a space")
        XCTAssertEqual(judge("HTTP/1.1 400 Bad\r\n", .smtp(banner: true)),
                       .failed(CheckResult(status: .l7response, info: "HTTP/1.1 400 Bad")))
        XCTAssertEqual(judge("22", .smtp(banner: true)), .needMore)
        // A reply of several lines is judged once its last line is in.
        XCTAssertEqual(judge("250-localhost\r\n", .smtp(banner: false), step: 5), .needMore)
        XCTAssertEqual(judge("250-localhost\r\n250 HELP\r\n", .smtp(banner: false), step: 5),
                       .passed(CheckResult(status: .l7ok, code: 250, info: "localhost")))
        XCTAssertEqual(judge("501 bad helo\r\n", .smtp(banner: false), step: 5),
                       .failed(CheckResult(status: .l7status, code: 501, info: "bad helo")))
    }

    func testMySQLVerdicts() {
        // A greeting: length 0x0a, sequence 0, protocol 10, the version, NUL.
        let version = Array("10.11.19-MariaDB".utf8)
        let payload: [UInt8] = [0x0A] + version + [0x00]
        let greeting: [UInt8] = [UInt8(payload.count), 0, 0, 0] + payload
        XCTAssertEqual(CheckEvaluation.judgeProtocol(greeting, .mysql(login: false), step: 2, final: false),
                       .passed(CheckResult(status: .l7ok, code: 0, info: "10.11.19-MariaDB")))
        XCTAssertEqual(CheckEvaluation.judgeProtocol(Array(greeting.prefix(6)), .mysql(login: false), step: 2, final: false),
                       .needMore)
        XCTAssertEqual(CheckEvaluation.judgeProtocol(greeting, .mysql(login: true), step: 3, final: false), .needMore,
                       "a login waits for the answer after the greeting")
        let denied = Array("#28000Access denied".utf8)
        let error: [UInt8] = [UInt8(3 + denied.count), 0, 0, 2, 0xFF, 0x15, 0x04] + denied
        XCTAssertEqual(CheckEvaluation.judgeProtocol(greeting + error, .mysql(login: true), step: 3, final: false),
                       .failed(CheckResult(status: .l7status, code: 1045, info: "#28000Access denied")))
        let ok: [UInt8] = [7, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0]
        XCTAssertEqual(CheckEvaluation.judgeProtocol(greeting + ok, .mysql(login: true), step: 3, final: false),
                       .passed(CheckResult(status: .l7ok, code: 0, info: "10.11.19-MariaDB")))
        XCTAssertEqual(CheckEvaluation.judgeProtocol([3, 0, 0], .mysql(login: false), step: 2, final: true),
                       .failed(CheckResult(status: .l7response)))
    }

    func testPgSQLLDAPAndSSLVerdicts() {
        let authOK: [UInt8] = [0x52, 0, 0, 0, 8, 0, 0, 0, 0]
        XCTAssertEqual(CheckEvaluation.judgeProtocol(authOK, .pgsql, step: 3, final: false),
                       .passed(CheckResult(status: .l7ok, code: 0, info: "PostgreSQL server is ok")))
        XCTAssertEqual(CheckEvaluation.judgeProtocol(Array(authOK.prefix(6)), .pgsql, step: 3, final: false), .needMore)
        let fatal: [UInt8] = [0x45, 0, 0, 0, 0x20] + Array("SFATAL".utf8) + [0] + Array("C28000".utf8) + [0, 0]
        XCTAssertEqual(CheckEvaluation.judgeProtocol(fatal, .pgsql, step: 3, final: false),
                       .failed(CheckResult(status: .l7response, info: "FATAL")))
        XCTAssertEqual(CheckEvaluation.judgeProtocol(Array("J\u{0}\u{0}\u{0}\u{a}5.5.5-10".utf8), .pgsql, step: 3, final: false),
                       .failed(CheckResult(status: .l7status, code: 0, info: "PostgreSQL unknown error")))

        // slapd's answer to the anonymous bind: success.
        let bound: [UInt8] = [0x30, 0x0C, 0x02, 0x01, 0x01, 0x61, 0x07, 0x0A, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00]
        XCTAssertEqual(CheckEvaluation.judgeProtocol(bound, .ldapBind, step: 2, final: false),
                       .passed(CheckResult(status: .l7ok, code: 0, info: "Success")))
        var refused = bound
        refused[9] = 49  // invalidCredentials
        XCTAssertEqual(CheckEvaluation.judgeProtocol(refused, .ldapBind, step: 2, final: false),
                       .failed(CheckResult(status: .l7status, code: 49,
                                           info: "See RFC: http://tools.ietf.org/html/rfc4511#section-4.1.9")))
        XCTAssertEqual(CheckEvaluation.judgeProtocol(Array(bound.prefix(8)), .ldapBind, step: 2, final: false), .needMore)
        XCTAssertEqual(CheckEvaluation.judgeProtocol(Array("-ERR unknown command\r\n".utf8), .ldapBind, step: 2, final: false),
                       .failed(CheckResult(status: .l7response, info: "Not LDAPv3 protocol")))
        XCTAssertEqual(CheckEvaluation.judgeProtocol([0x30, 0x84], .ldapBind, step: 2, final: true),
                       .failed(CheckResult(status: .l7response, info: "Not LDAPv3 protocol")), "short: no read past the end")

        XCTAssertEqual(CheckEvaluation.judgeProtocol([0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x46], .sslHello, step: 2, final: false),
                       .passed(CheckResult(status: .l6ok)))
        XCTAssertEqual(CheckEvaluation.judgeProtocol(Array("HTTP/1.1 400 Bad".utf8), .sslHello, step: 2, final: false),
                       .failed(CheckResult(status: .l6response)))
        XCTAssertEqual(CheckEvaluation.judgeProtocol([], .sslHello, step: 2, final: true),
                       .failed(CheckResult(status: .l6response, info: "TCPCHK got an empty response at step 2")))
        XCTAssertEqual(CheckEvaluation.protocolTimeout(.sslHello), .l6timeout)
        XCTAssertEqual(CheckEvaluation.protocolTimeout(.redis), .l7timeout)
    }

    private func load(_ option: String) -> LoadResult {
        let text = """
        defaults
            mode tcp
            timeout connect 1s
            timeout client 1s
            timeout server 1s
        frontend f
            bind 127.0.0.1:1
            default_backend b
        backend b
            option \(option)
            server s 127.0.0.1:2 check

        """
        return ConfigurationLoader.load(text: text, name: "t.cfg", options: LoadOptions(resolveServers: false))
    }

    private func kind(_ option: String) -> HealthCheckSettings.Kind? {
        load(option).configuration?.proxies.first { $0.name == "b" }?.healthCheck.kind
    }

    func testOptionsParseAsHAProxy() {
        XCTAssertEqual(kind("mysql-check"), .protocolCheck(.mysql(user: nil, preFourOne: false)))
        XCTAssertEqual(kind("mysql-check user haproxy post-41"), .protocolCheck(.mysql(user: "haproxy", preFourOne: false)))
        XCTAssertEqual(kind("mysql-check user haproxy pre-41"), .protocolCheck(.mysql(user: "haproxy", preFourOne: true)))
        XCTAssertEqual(kind("pgsql-check user pg"), .protocolCheck(.pgsql(user: "pg")))
        XCTAssertEqual(kind("redis-check"), .protocolCheck(.redis))
        XCTAssertEqual(kind("smtpchk"), .protocolCheck(.smtp(greeting: "HELO localhost")))
        XCTAssertEqual(kind("smtpchk EHLO mx.example"), .protocolCheck(.smtp(greeting: "EHLO mx.example")))
        XCTAssertEqual(kind("smtpchk FOO bar"), .protocolCheck(.smtp(greeting: "HELO localhost")), "HAProxy's fallback")
        XCTAssertEqual(kind("ldap-check"), .protocolCheck(.ldap))
        XCTAssertEqual(kind("ssl-hello-chk"), .protocolCheck(.sslHello))
        // The messages are HAProxy 2.6's (haproxy -c on the same lines).
        let refused = [
            "pgsql-check": "'option pgsql-check' expects 'user <username>' as argument.",
            "pgsql-check user a b": "'option pgsql-check' cannot handle unexpected argument 'b'.",
            "mysql-check user": "'option mysql-check user' expects <username> as argument.",
            "mysql-check foo": "'option mysql-check' only supports optional values: 'user' (got 'foo').",
            "mysql-check user a foo": "keyword 'user' only supports 'post-41' and 'pre-41' (got 'foo').",
            "mysql-check user a post-41 x": "'option mysql-check' cannot handle unexpected argument 'x'.",
            "redis-check x": "'option redis-check' cannot handle unexpected argument 'x'.",
            "smtpchk HELO a b": "'option smtpchk' cannot handle unexpected argument 'b'.",
            "ssl-hello-chk x": "'option ssl-hello-chk' cannot handle unexpected argument 'x'.",
        ]
        for (option, message) in refused {
            let r = load(option)
            XCTAssertEqual(r.exitCode, 1, option)
            XCTAssertTrue(r.diagnostics.contains { $0.message.contains("parsing [t.cfg:10]") && $0.message.contains(message) },
                          "\(option): \(r.diagnostics.map(\.message))")
        }
    }
}
