import XCTest
@testable import ProxyCore
import Shared

/// `replace-path`, `replace-pathq`, `replace-uri`, `set-pathq` read as HAProxy 2.6 reads
/// them (messages compared with `haproxy -c`), and HAProxy's `exp_replace` on bytes.
final class RequestLineRuleTests: XCTestCase {
    private func load(_ rule: String) -> LoadResult {
        ConfigurationLoader.load(text: "defaults\n  mode http\nfrontend f\n  bind :8080\n  \(rule)\n  default_backend b\nbackend b\n  server s 127.0.0.1:80\n",
                                 name: "e.cfg", options: LoadOptions())
    }

    private func alerts(_ rule: String) -> [String] {
        load(rule).diagnostics.filter { $0.severity == .alert && $0.location != nil }.map { $0.message }
    }

    func testAcceptedForms() throws {
        let r = load(#"http-request replace-path /foo/(.*) /\1 if { path_beg /foo }"#)
        XCTAssertEqual(r.exitCode, 0, "\(r.diagnostics)")
        let rules = try XCTUnwrap(r.configuration?.proxies.first { $0.name == "f" }?.httpRequestRules)
        guard case .editRequestLine(.replace(.path, let regex, let format)) = rules.first?.action else {
            return XCTFail("\(rules)")
        }
        XCTAssertEqual(regex.source, "/foo/(.*)")
        XCTAssertEqual(format.raw, #"/\1"#, "the lexer keeps a backslash before a digit")
        XCTAssertNotNil(rules.first?.condition)
        for rule in [#"http-request replace-pathq ^/a(.*) /b\1"#, #"http-request replace-uri ^/u(.*) /U\1"#,
                     "http-request set-pathq /new?x=%[src]", "http-request set-path /p", "http-request set-method PUT"] {
            XCTAssertEqual(load(rule).exitCode, 0, rule)
        }
    }

    /// Each message as `haproxy -c` 2.6.12 prints it for the same line (the regex error text
    /// differs: HAProxy's is PCRE's, proxyd's POSIX's).
    func testErrorsAsHAProxy() {
        let head = "parsing [e.cfg:5] : error detected in frontend 'f' while parsing"
        XCTAssertEqual(alerts("http-request replace-path /a"),
                       ["\(head) 'http-request replace-path' rule : expects exactly 2 arguments <match-regex> and <replace-format>."])
        XCTAssertEqual(alerts("http-request replace-uri a b c"),
                       ["\(head) 'http-request replace-uri' rule : expects exactly 2 arguments <match-regex> and <replace-format>."])
        XCTAssertEqual(alerts("http-request set-pathq a b"),
                       ["\(head) 'http-request set-pathq' rule : expects exactly 1 argument <format>."])
        let regex = alerts("http-request replace-path ( x")
        XCTAssertEqual(regex.count, 1)
        XCTAssertTrue(regex.first?.hasPrefix("\(head) 'http-request replace-path' rule : failed to parse the regex : regex '(' is invalid (error=") ?? false, "\(regex)")
    }

    func testExpReplace() throws {
        let regex = try XCTUnwrap(CapturingRegex(CompiledRegex.compile("/foo/([a-z]*)(x)?").get()))
        func replace(_ subject: String, _ template: String) -> String? {
            Array(subject.utf8).withUnsafeBytes { regex.replace($0, with: Array(template.utf8)) }
                .map { String(decoding: $0, as: UTF8.self) }
        }
        // The whole subject becomes the template, not only the matched text.
        XCTAssertEqual(replace("/x/foo/bar", #"/\1"#), "/bar")
        XCTAssertEqual(replace("/foo/bar", #"[\2]\x41\\\q"#), #"[]A\q"#, "an unmatched group is empty")
        XCTAssertNil(replace("/bar", #"/\1"#))
    }
}
