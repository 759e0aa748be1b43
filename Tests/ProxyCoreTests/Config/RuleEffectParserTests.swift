import XCTest
@testable import ProxyCore
import Shared

/// `set-log-level`, `silent-drop`, `set-src`, `set-src-port` read as HAProxy 2.6 reads them
/// (messages compared with `haproxy -c` 2.6.12 on the same lines).
final class RuleEffectParserTests: XCTestCase {
    private func load(_ rule: String) -> LoadResult {
        ConfigurationLoader.load(text: "defaults\n  mode http\nfrontend f\n  bind :8080\n  \(rule)\n  default_backend b\nbackend b\n  server s 127.0.0.1:80\n",
                                 name: "e.cfg", options: LoadOptions())
    }

    private func alerts(_ rule: String) -> [String] {
        load(rule).diagnostics.filter { $0.severity == .alert && $0.location != nil }.map { $0.message }
    }

    func testAccepted() throws {
        let r = load("http-request set-log-level err if { path /x }")
        let rules = try XCTUnwrap(r.configuration?.proxies.first { $0.name == "f" }?.httpRequestRules, "\(r.diagnostics)")
        XCTAssertEqual(rules.first?.action, .setLogLevel(.level(.err)))
        for rule in ["http-request set-log-level silent", "http-response set-log-level debug", "http-request silent-drop",
                     "http-response silent-drop if { status 500 }", "http-request set-src hdr(x-real-ip)",
                     "http-request set-src req.hdr(x-forwarded-for,1)", "http-request set-src-port int(4242)",
                     "http-request set-src ipv4(10.77.0.1) if { path /a }"] {
            XCTAssertEqual(load(rule).exitCode, 0, "\(rule): \(load(rule).diagnostics)")
        }
        let src = try XCTUnwrap(load("http-request set-src req.hdr(x-forwarded-for,1)").configuration?
            .proxies.first { $0.name == "f" }?.httpRequestRules.first)
        XCTAssertEqual(src.action, .setSource(SourceRewrite(target: .address, sample: .header(name: "x-forwarded-for", occurrence: 1),
                                                            expression: "req.hdr(x-forwarded-for,1)")))
    }

    func testErrorsAsHAProxy() {
        let head = "parsing [e.cfg:5] : error detected in frontend 'f' while parsing"
        XCTAssertEqual(alerts("http-request set-log-level"),
                       ["\(head) 'http-request set-log-level' rule : expects exactly 1 argument (log level name or 'silent')."])
        XCTAssertEqual(alerts("http-request set-log-level foo"),
                       ["\(head) 'http-request set-log-level' rule : expects exactly 1 argument (log level name or 'silent')."])
        XCTAssertEqual(alerts("http-request silent-drop x"),
                       ["parsing [e.cfg:5]: 'http-request silent-drop' expects either 'if' or 'unless' followed by a condition but found 'x'."])
        XCTAssertEqual(alerts("http-request set-src"), ["\(head) 'http-request set-src' rule : missing fetch method."])
        XCTAssertEqual(alerts("http-request set-src foo(1)"), ["\(head) 'http-request set-src' rule : unknown fetch method 'foo'."])
        // Valid in HAProxy, not evaluated by proxyd yet: said so.
        XCTAssertEqual(alerts("http-request set-src src,ipmask(24)").first?.contains("valid in HAProxy"), true)
    }
}

/// `http-after-response` read as HAProxy 2.6 reads it.
final class AfterResponseParserTests: XCTestCase {
    private func load(_ rule: String) -> LoadResult {
        ConfigurationLoader.load(text: "defaults\n  mode http\nfrontend f\n  bind :8080\n  \(rule)\n  default_backend b\nbackend b\n  server s 127.0.0.1:80\n",
                                 name: "e.cfg", options: LoadOptions())
    }

    func testRules() throws {
        let r = load("http-after-response set-status 299 reason Fine if { status 200 }")
        let rules = try XCTUnwrap(r.configuration?.proxies.first { $0.name == "f" }?.httpAfterResponseRules, "\(r.diagnostics)")
        XCTAssertEqual(rules.first?.action, .setStatus(code: 299, reason: "Fine"))
        XCTAssertNotNil(rules.first?.condition)
        // As `haproxy -c` 2.6.12 says it.
        let unknown = load("http-after-response foo").diagnostics.filter { $0.location != nil }.map { $0.message }
        XCTAssertEqual(unknown, ["parsing [e.cfg:5]: 'http-after-response' expects 'ot-group', 'add-header', 'allow', 'capture', 'del-header', 'replace-header', 'replace-value', 'set-header', 'set-status', 'strict-mode', 'set-var-fmt(*)', 'set-var(*)', 'unset-var(*)', but got 'foo'."])
        XCTAssertEqual(load("http-after-response set-var(txn.x) str(1)").diagnostics.first?.message.contains("not supported by proxyd yet"), true)
        XCTAssertEqual(load("http-after-response set-header X y z").diagnostics.first?.message,
                       "parsing [e.cfg:5]: 'http-after-response set-header' expects either 'if' or 'unless' followed by a condition but found 'z'.")
    }
}

/// `rate-limit sessions` read as HAProxy 2.6 reads it (messages from `haproxy -c` 2.6.12).
final class RateLimitParserTests: XCTestCase {
    private func load(_ line: String) -> LoadResult {
        ConfigurationLoader.load(text: "defaults\n  mode http\nfrontend f\n  bind :8080\n  \(line)\n  default_backend b\nbackend b\n  server s 127.0.0.1:80\n",
                                 name: "e.cfg", options: LoadOptions())
    }

    func testRateLimit() {
        XCTAssertEqual(load("rate-limit sessions 10").configuration?.proxies.first { $0.name == "f" }?.rateLimitSessions, 10)
        func alerts(_ line: String) -> [String] {
            load(line).diagnostics.filter { $0.severity == .alert && $0.location != nil }.map { $0.message }
        }
        XCTAssertEqual(alerts("rate-limit foo 1"), ["parsing [e.cfg:5] : 'rate-limit' only supports 'sessions' (got 'foo')"])
        XCTAssertEqual(alerts("rate-limit sessions"), ["parsing [e.cfg:5] : 'rate-limit sessions' expects expects an integer value (in sessions/second)"])
        XCTAssertEqual(alerts("rate-limit sessions x"), ["parsing [e.cfg:5] : 'rate-limit sessions' : unexpected character 'x' in integer value 'x'"])
    }
}

/// `http-error` read as HAProxy 2.6 reads it (messages from `haproxy -c` 2.6.12).
final class HTTPErrorParserTests: XCTestCase {
    func testHTTPError() {
        func load(_ line: String) -> LoadResult {
            ConfigurationLoader.load(text: "defaults\n  mode http\nfrontend f\n  bind :8080\n  \(line)\n  default_backend b\nbackend b\n  server s 127.0.0.1:80\n",
                                     name: "e.cfg", options: LoadOptions())
        }
        func alerts(_ line: String) -> [String] {
            load(line).diagnostics.filter { $0.severity == .alert && $0.location != nil }.map { $0.message }
        }
        let page = load("http-error status 503 content-type text/plain string sorry").configuration?.proxies.first { $0.name == "f" }?.errorFiles[503]
        XCTAssertEqual(page.map { String(decoding: $0, as: UTF8.self) },
                       "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 5\r\ncontent-type: text/plain\r\n\r\nsorry")
        XCTAssertEqual(alerts("http-error foo"), ["parsing [e.cfg:5] : http-error : expects at least a <status> as arguments.\n"])
        XCTAssertEqual(alerts("http-error status 999 string x"), ["parsing [e.cfg:5] : http-error : Unexpected status code '999'"])
        XCTAssertEqual(alerts("http-error status 503 lf-string x"),
                       ["parsing [e.cfg:5] : http-error : a content type must be defined with a log-format payload"])
    }
}

/// `retry-on` read as HAProxy 2.6 reads it (messages from `haproxy -c` 2.6.12).
final class RetryOnParserTests: XCTestCase {
    func testRetryOn() {
        func load(_ line: String, in section: String = "backend b") -> LoadResult {
            ConfigurationLoader.load(text: "defaults\n  mode http\n\(section)\n  \(line)\n  server s 127.0.0.1:80\n",
                                     name: "e.cfg", options: LoadOptions())
        }
        func alerts(_ line: String, in section: String = "backend b") -> [String] {
            load(line, in: section).diagnostics.filter { $0.severity == .alert && $0.location != nil }.map { $0.message }
        }
        var expected = RetryConditions()
        expected.statuses = [503, 504]
        expected.connectionFailure = false
        XCTAssertEqual(load("retry-on 503 504").configuration?.proxies.first?.retryOn, expected)
        XCTAssertEqual(load("retry-on all-retryable-errors").configuration?.proxies.first?.retryOn.statuses, [500, 502, 503, 504])
        XCTAssertEqual(alerts("retry-on"), ["parsing [e.cfg:4] : 'retry-on' needs at least one keyword to specify when to retry"])
        XCTAssertEqual(alerts("retry-on foo"), ["parsing [e.cfg:4] : 'retry-on': unknown keyword 'foo'"])
        XCTAssertEqual(alerts("retry-on none 503"), ["parsing [e.cfg:4] : 'retry-on' 'none' keyworld only usable alone"])
        XCTAssertEqual(alerts("retry-on 503", in: "frontend f\n  bind :8080").first,
                       "parsing [e.cfg:5] : 'retry-on' only available in backend or listen section")
    }
}
