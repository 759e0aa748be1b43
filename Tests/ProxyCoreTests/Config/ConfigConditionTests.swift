import XCTest
@testable import ProxyCore

/// HAProxy's conditional blocks (`.if`/`.elif`/`.else`/`.endif`) and `-cc` expressions.
/// CheckModeTests and the `broken` corpus check the same against `haproxy -c` / `-cc`.
final class ConfigConditionTests: XCTestCase {
    func value(_ text: String, _ env: [String: String] = [:]) -> Bool? {
        try? ConfigCondition.evaluate(text, environment: env).get()
    }

    func testTermsAndOperators() {
        XCTAssertEqual(value(""), false, "empty is false")
        XCTAssertEqual(value("0"), false)
        XCTAssertEqual(value("1"), true)
        XCTAssertEqual(value("-1"), true)
        XCTAssertEqual(value("00"), false)
        XCTAssertEqual(value("!0"), true)
        XCTAssertEqual(value("!!1"), true)
        XCTAssertEqual(value("1 && 0"), false)
        XCTAssertEqual(value("1&&1"), true)
        XCTAssertEqual(value("0 || 1"), true)
        // && binds tighter: (0 && 0) || 1, and 1 || (0 && 0).
        XCTAssertEqual(value("0 && 0 || 1"), true)
        XCTAssertEqual(value("0 || 0 && 1"), false)
        XCTAssertEqual(value("(0 || 1) && !(0)"), true)
        XCTAssertEqual(value("  1  "), true)
    }

    func testPredicates() {
        XCTAssertEqual(value("defined(A)", ["A": ""]), true, "defined whatever its value")
        XCTAssertEqual(value("defined(B)", ["A": "1"]), false)
        XCTAssertEqual(value("defined()"), false)
        XCTAssertEqual(value("streq(a b,a b)"), true)
        XCTAssertEqual(value("strneq(a,b)"), true)
        XCTAssertEqual(value("streq(,)"), true)
        XCTAssertEqual(value("feature(OPENSSL)"), true)
        XCTAssertEqual(value("feature(LUA)"), false, "a '-' feature of proxyd -vv")
        XCTAssertEqual(value("feature(NOPE)"), false)
    }

    /// Compared with the HAProxy release whose language proxyd reads (2.6.12).
    func testVersions() {
        XCTAssertEqual(value("version_atleast(2.5)"), true)
        XCTAssertEqual(value("version_atleast(2.6)"), true)
        XCTAssertEqual(value("version_atleast(2.6.12)"), true)
        XCTAssertEqual(value("version_atleast(2.6.13)"), false)
        XCTAssertEqual(value("version_atleast(2.4-dev19)"), true)
        XCTAssertEqual(value("version_atleast(2.7-dev1)"), false)
        XCTAssertEqual(value("version_before(2.7)"), true)
        XCTAssertEqual(value("version_before(2.6.12)"), false)
        XCTAssertEqual(value("version_atleast(x)"), false, "unreadable: false, as HAProxy")
        XCTAssertTrue(ConfigCondition.Version("2.6-dev1")! < ConfigCondition.Version("2.6-rc1")!)
        XCTAssertTrue(ConfigCondition.Version("2.6-rc1")! < ConfigCondition.Version("2.6")!)
    }

    /// HAProxy's words and positions (1-based in the expression).
    func testErrors() {
        func failure(_ text: String) -> ConfigCondition.Failure? {
            if case .failure(let f) = ConfigCondition.evaluate(text, environment: [:]) { return f }
            return nil
        }
        XCTAssertEqual(failure("foo"), .init(message: "unparsable conditional expression 'foo'", position: 1))
        XCTAssertEqual(failure("bogus(1)"), .init(message: "unparsable conditional expression 'bogus(1)'", position: 1))
        XCTAssertEqual(failure("1 &&"), .init(message: "unparsable conditional expression '&&'", position: 3))
        XCTAssertEqual(failure("(1"), .init(message: "expected ')' after conditional expression '(1'", position: 1))
        XCTAssertEqual(failure("defined(HOME) x"),
                       .init(message: "unexpected character 'x' at the end of conditional expression 'defined(HOME) x'", position: 15))
        XCTAssertEqual(failure("streq(a)")?.position, 8)
        XCTAssertEqual(failure("streq(a)")?.message,
                       "missing arguments (got 1/2), type 'string' expected in argument 1 of predicate 'streq' used in conditional expression")
        XCTAssertNotNil(failure("defined(A"), "an unclosed predicate")
    }

    func load(_ text: String, _ options: LoadOptions = LoadOptions(resolveServers: false)) -> LoadResult {
        ConfigurationLoader.load(text: text, name: "c.cfg", options: options)
    }

    func testBlocksKeepOrSkipLines() {
        let r = load("""
            .if version_atleast(2.5)
            global
                maxconn 111
            .elif 1
            global
                maxconn 222
            .else
            global
                bogus keyword never parsed
            .endif
            .if 0
              .if bogus(
              .endif
              .unknown directive skipped
            .elif defined(NOPE)
            .else
            defaults
                timeout client 7s
            .endif

            """)
        XCTAssertEqual(r.exitCode, 2, r.diagnostics.map(\.message).joined(separator: "\n"))
        XCTAssertEqual(r.configuration?.global.maxconn, 111)
        XCTAssertTrue(r.diagnostics.isEmpty, r.diagnostics.map(\.message).joined(separator: "\n"))
    }

    func testMessagesAndTheirLevels() {
        var options = LoadOptions(resolveServers: false)
        let text = ".notice \"n\"\n.warning \"w\"\n.diag \"d\"\n"
        XCTAssertEqual(load(text, options).diagnostics.map(\.severity), [.notice, .warning])
        options.diagnosticMode = true
        let r = load(text, options)
        XCTAssertEqual(r.diagnostics.map(\.severity), [.notice, .warning, .diag])
        XCTAssertEqual(r.diagnostics.last?.message, "parsing [c.cfg:3]: 'd'.")
        let alert = load(".alert \"stop here\"\nglobal\n  bogus\n")
        XCTAssertEqual(alert.exitCode, 1)
        XCTAssertEqual(alert.diagnostics.map(\.message),
                       ["parsing [c.cfg:1]: 'stop here'.", "Error(s) found in configuration file : c.cfg"],
                       "an .alert stops the load: the next lines are not read")
    }

    func testStructureErrorsStopTheLoad() {
        for (text, message) in [
            (".else\n", "parsing [c.cfg:1]: lone '.else' with no matching '.if'."),
            (".if 1\nglobal\n", "parsing [c.cfg:2]: non-terminated '.if' block."), // the last line, as HAProxy
            (".if 0\n.else\n.elif 1\n.endif\n", "parsing [c.cfg:3]: '.elif' after '.else' is not permitted."),
            (".if 1\n.endif\n.endif\n", "parsing [c.cfg:3]: lone '.endif' with no matching '.if'."),
        ] {
            let r = load(text)
            XCTAssertEqual(r.exitCode, 1, text)
            XCTAssertEqual(r.diagnostics.first?.message, message, text)
        }
    }

    /// -dS and -dV, as HAProxy's: the command line wins over the configuration.
    func testDebugSwitchesOverrideTheConfiguration() {
        var options = LoadOptions(resolveServers: false)
        options.disableSplice = true
        options.disableServerVerify = true
        let r = load("global\n  ssl-server-verify required\n", options)
        XCTAssertEqual(r.configuration?.global.noSplice, true)
        XCTAssertEqual(r.configuration?.global.sslServerVerifyRequired, false)
    }
}
