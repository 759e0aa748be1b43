import XCTest
@testable import ProxyCore

/// Inputs `scripts/fuzz` found crashing ProxyCore's parsers, cut down to what matters;
/// the fuzzer's own files are in Fuzz/corpus. Each crashed (a trap) before its fix.
final class FuzzFindingTests: XCTestCase {
    /// haproxy-lexer: an error past column 80 on a line with multi-byte characters. The
    /// caret column counts bytes, the echo window characters: the window started past the
    /// end of the line.
    func testLexerErrorEchoWithMultiByteCharacters() {
        let line = "a" + String(repeating: "é", count: 60) + " \"x"
        guard case let .failure(error) = ConfigLexer.split(line, environment: [:]) else {
            return XCTFail("an unmatched quote must be refused")
        }
        XCTAssertTrue(error.message.hasPrefix("unmatched quote at position "), error.message)
    }

    /// client-hello: a server_name extension whose length runs past the end of the
    /// message, with a name entry that does too: the name was read past the message.
    func testClientHelloWithServerNameRunningPastTheMessage() {
        var body: [UInt8] = [0x03, 0x03] + [UInt8](repeating: 0, count: 32) + [0x00]  // version, random, no session id
        body += [0x00, 0x02, 0x13, 0x01, 0x01, 0x00]  // one cipher, one compression method
        let serverName: [UInt8] = [0x00, 0x00, 0x00, 0xff,  // server_name, claiming 255 bytes
                                   0x00, 0x0b,  // list length 11
                                   0x00, 0x00, 0x08] + Array("abc".utf8)  // host_name of 8 bytes, 3 present
        body += [0x00, UInt8(serverName.count)] + serverName
        let handshake: [UInt8] = [0x01, 0x00, 0x00, UInt8(body.count)] + body
        let record: [UInt8] = [0x16, 0x03, 0x01, 0x00, UInt8(handshake.count)] + handshake
        XCTAssertEqual(ClientHelloParser.parse(record), .hello(type: 1, serverName: nil))
    }

    /// haproxy-config: `http-check expect rstatus (2|3+++…+)` with 126 `+` took over 2 GB
    /// in glibc's regcomp (each `+` doubles the compiled tree). Stacked quantifiers are now
    /// refused with PCRE2's words, as HAProxy 2.6 refuses them, and patterns glibc would
    /// expand past RegexGuard.limit as too large; ordinary ones still compile.
    func testStackedQuantifiersAndHugeRepeatsAreRefusedBeforeRegcomp() {
        func refusal(_ pattern: String) -> String? {
            if case let .failure(error) = CompiledRegex.compile(pattern) { return error.message }
            return nil
        }
        XCTAssertEqual(refusal("(2|3" + String(repeating: "+", count: 126) + ")[0-9]"),
                       "quantifier does not follow a repeatable item, erroffset=6")
        XCTAssertEqual(refusal("(2|3**)"), "quantifier does not follow a repeatable item, erroffset=5")
        XCTAssertEqual(refusal("a{2}{3}"), "quantifier does not follow a repeatable item, erroffset=6")
        XCTAssertEqual(refusal("((a{100}){100}){100}"), "regular expression is too large, erroffset=20")
        // PCRE2 takes this one; glibc would build 2^20 copies of `a`: refused all the same.
        XCTAssertEqual(refusal(String(repeating: "(", count: 20) + "a" + String(repeating: ")+", count: 20))?
            .hasPrefix("regular expression is too large, erroffset="), true)
        // 30,000 nested groups overflowed the stack in glibc's regcomp (a crash of `proxyd -c`);
        // PCRE2 refuses more than 250, and so does the guard, with HAProxy's offset.
        let nested = { (n: Int) in String(repeating: "(", count: n) + "a" + String(repeating: ")", count: n) }
        XCTAssertEqual(refusal(nested(30_000)), "parentheses are too deeply nested, erroffset=251")
        XCTAssertEqual(refusal("xy" + nested(251)), "parentheses are too deeply nested, erroffset=253")
        XCTAssertNil(refusal(nested(250)))
        // PCRE2's lazy and possessive marks, bracket expressions and literal braces still compile.
        for pattern in ["(2|3++)[0-9]", "a+?b", "(a+)+", "^/api/v[0-9]+/(users|items)$", "[]a-z]+",
                        "[[:alpha:]]{2,5}x", "a{,3}", "\\++", "[+*]{3}"] {
            XCTAssertNil(refusal(pattern), pattern)
        }
    }

    /// haproxy-config: `timeout client 1222…222d`. The digits are capped at 2^31 seconds
    /// (for microseconds), and that many days passed Int64 when multiplied into
    /// milliseconds: a trap. Now HAProxy's "timer overflow", whatever the unit.
    func testTimerOfManyDaysIsAnOverflowNotATrap() {
        for text in ["1222222222222222222222222222222d", "99999999999999999h", "9999999999999999999m",
                     "9999999999999999999s", "25d"] {
            XCTAssertEqual(ConfigUnits.milliseconds(text), .failure(.overflow), text)
        }
        XCTAssertEqual(ConfigUnits.milliseconds("24d"), .success(24 * 86_400_000))
        XCTAssertEqual(ConfigUnits.milliseconds("99999999999999999999us"), .failure(.overflow))
    }
}
