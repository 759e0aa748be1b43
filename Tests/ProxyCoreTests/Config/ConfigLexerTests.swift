import XCTest
@testable import ProxyCore
import Shared

final class ConfigLexerTests: XCTestCase {
    func words(_ line: String, _ env: [String: String] = [:]) -> [String] {
        switch ConfigLexer.split(line, environment: env) {
        case let .success(w): return w
        case let .failure(e): XCTFail("unexpected error \(e)"); return []
        }
    }

    func testSplitsOnSpacesAndTabs() {
        XCTAssertEqual(words("\tserver  myweb1\tmyweb1:80 check"), ["server", "myweb1", "myweb1:80", "check"])
        XCTAssertEqual(words("   "), [])
    }

    func testCommentsStartAnywhereOutsideQuotes() {
        XCTAssertEqual(words("default_backend a#b"), ["default_backend", "a"])
        XCTAssertEqual(words("# whole line"), [])
        XCTAssertEqual(words("x \"a#b\" 'c#d'"), ["x", "a#b", "c#d"])
    }

    func testBackslashEscapes() {
        XCTAssertEqual(words("a\\ b"), ["a b"])
        XCTAssertEqual(words("\"a\\x41\\tb\""), ["aA\tb"])
        XCTAssertEqual(words("a\\qb"), ["a\\qb"])          // unknown escape kept as written
        XCTAssertEqual(words("a\\#b"), ["a#b"])
    }

    func testSingleQuotesAreLiteral() {
        XCTAssertEqual(words("'a$FOO\\x'", ["FOO": "bar"]), ["a$FOO\\x"])
    }

    func testEnvironmentOnlyInsideDoubleQuotes() {
        let env = ["FOO": "bar"]
        XCTAssertEqual(words("\"a$FOO\"x", env), ["abarx"])
        XCTAssertEqual(words("\"a${FOO}x\"", env), ["abarx"])
        XCTAssertEqual(words("a${FOO}x", env), ["a${FOO}x"])
        XCTAssertEqual(words("\"a${NOPE}x\"", env), ["ax"])
        XCTAssertEqual(words("\"${NOPE-dflt}\"", env), ["dflt"])
    }

    func testQuotesGlueToWords() {
        XCTAssertEqual(words("a\"b c\"d"), ["ab cd"])
        XCTAssertEqual(words("x \"\""), ["x", ""])
    }

    func testUnmatchedQuotePointsAtItsOpening() {
        guard case let .failure(e) = ConfigLexer.split("\t\tdefault_backend 'abc", environment: [:]) else {
            return XCTFail("expected an error")
        }
        XCTAssertEqual(e.position, 19)
        XCTAssertEqual(e.trimmedLine, "default_backend 'abc")
        XCTAssertEqual(e.column, 16)
        XCTAssertEqual(e.kind, .unmatchedQuote)
    }

    func lexError(_ line: String) -> ConfigLexer.LexError? {
        if case let .failure(e) = ConfigLexer.split(line, environment: [:]) { return e }
        return nil
    }

    func testInvalidHexAndVariableNamesAreErrors() {
        XCTAssertEqual(lexError("\tdefault_backend a\\x4g")?.kind, .invalidHexSequence)
        XCTAssertEqual(lexError("\tdefault_backend a\\x4g")?.position, 19)
        XCTAssertEqual(lexError("x \"${HOME\"")?.kind, .unmatchedBrace)
        XCTAssertEqual(lexError("x \"$\"")?.kind, .forbiddenVariableCharacter)
        XCTAssertEqual(lexError("x \"${}\"")?.kind, .forbiddenVariableCharacter)
        XCTAssertEqual(lexError("x \"$1\"")?.kind, .forbiddenVariableCharacter)
    }

    func testPseudoVariables() {
        let lookup: (String) -> String? = { [".FILE": "a.cfg", ".LINE": "7", ".SECTION": "web", "X": "1"][$0] }
        XCTAssertEqual(try ConfigLexer.split("x \"${.FILE}:${.LINE}:${.SECTION}:$X\"", lookup: lookup).get(), ["x", "a.cfg:7:web:1"])
        guard case let .failure(e) = ConfigLexer.split("x \"${.FOO}\"", lookup: lookup) else { return XCTFail() }
        XCTAssertEqual(e.kind, .forbiddenVariableCharacter)
    }

    func testAtMost64Words() {
        let ok = (1...63).map(String.init).joined(separator: " ")
        XCTAssertNil(lexError("description " + ok))
        let e = lexError("\tdescription " + (1...67).map(String.init).joined(separator: " "))
        XCTAssertEqual(e?.kind, .tooManyWords(lastWord: "63"))
        XCTAssertEqual(e?.message, "too many words, truncating after word 64, position 190: <63>.")
    }
}

final class ConfigUnitsTests: XCTestCase {
    func testTimes() {
        XCTAssertEqual(try ConfigUnits.milliseconds("5000").get(), 5000)
        XCTAssertEqual(try ConfigUnits.milliseconds("10s").get(), 10_000)
        XCTAssertEqual(try ConfigUnits.milliseconds("2m").get(), 120_000)
        XCTAssertEqual(try ConfigUnits.milliseconds("1h").get(), 3_600_000)
        XCTAssertEqual(try ConfigUnits.milliseconds("1d").get(), 86_400_000)
        XCTAssertEqual(try ConfigUnits.milliseconds("1500us").get(), 2)
        XCTAssertEqual(try ConfigUnits.milliseconds("7ms").get(), 7)
    }

    func testTimeErrors() {
        XCTAssertEqual(ConfigUnits.milliseconds("10x"), .failure(.unexpectedCharacter("x")))
        XCTAssertEqual(ConfigUnits.milliseconds("1.5s"), .failure(.unexpectedCharacter(".")))
        XCTAssertEqual(ConfigUnits.milliseconds("10S"), .failure(.unexpectedCharacter("S")))
        XCTAssertEqual(ConfigUnits.milliseconds("99999999999"), .failure(.overflow))
        XCTAssertEqual(ConfigUnits.milliseconds(""), .failure(.empty))
        // Where the unit belongs, HAProxy names the first character it cannot use.
        XCTAssertEqual(ConfigUnits.milliseconds("1ux"), .failure(.unexpectedCharacter("u")))
    }

    /// HAProxy 2.6 ignores what follows a valid unit, with a warning (`inter 1s[`).
    func testWhatFollowsAValidUnitIsIgnoredAndFound() {
        XCTAssertEqual(try ConfigUnits.milliseconds("1s[").get(), 1000)
        XCTAssertEqual(try ConfigUnits.milliseconds("5m]").get(), 300_000)
        XCTAssertEqual(try ConfigUnits.milliseconds("2msx").get(), 2)
        XCTAssertEqual(try ConfigUnits.milliseconds("1500usx").get(), 2)
        XCTAssertEqual(ConfigUnits.trailingAfterUnit("1s["), "[")
        XCTAssertEqual(ConfigUnits.trailingAfterUnit("2msx"), "x")
        XCTAssertEqual(ConfigUnits.trailingAfterUnit("1m"), nil)
        XCTAssertEqual(ConfigUnits.trailingAfterUnit("1ms"), nil)
        XCTAssertEqual(ConfigUnits.trailingAfterUnit("100"), nil)
        XCTAssertEqual(ConfigUnits.trailingAfterUnit("1x"), nil, "an error, not a warning")
    }

    func testSizes() {
        XCTAssertEqual(try ConfigUnits.bytes("16384").get(), 16384)
        XCTAssertEqual(try ConfigUnits.bytes("16k").get(), 16384)
        XCTAssertEqual(try ConfigUnits.bytes("1M").get(), 1 << 20)
        XCTAssertEqual(try ConfigUnits.bytes("1g").get(), 1 << 30)
        XCTAssertEqual(ConfigUnits.bytes("1q"), .failure(.unexpectedCharacter("q")))
    }

    func testDidYouMean() {
        XCTAssertEqual(DidYouMean.suggest("bindd", among: ["bind", "balance", "mode"]), "bind")
        XCTAssertEqual(DidYouMean.suggest("daemonn", among: ["daemon", "nbthread"]), "daemon")
        XCTAssertEqual(DidYouMean.suggest("httpchkk", among: ["httpchk", "httplog", "tcplog"]), "httpchk")
        XCTAssertNil(DidYouMean.suggest("zzzzzz", among: ["bind", "mode"]))
    }
}
