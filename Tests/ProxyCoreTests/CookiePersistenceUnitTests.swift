import XCTest
@testable import ProxyCore
import Shared

/// The cookie codec and the `cookie`/persistence keywords (issue 15) on known input.
final class CookiePersistenceUnitTests: XCTestCase {
    private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }
    private func text(_ b: [UInt8]?) -> String? { b.map { String(decoding: $0, as: UTF8.self) } }

    func testPairsAreTrimmedAndKeepTheirPlace() {
        let header = bytes(" a=1;SRV = b2 ;  flag; c=x=y ;; ")
        let pairs = CookieCodec.pairs(header)
        XCTAssertEqual(pairs.map { text(Array(header[$0.name])) }, ["a", "SRV", "flag", "c"])
        XCTAssertEqual(pairs.map { text(Array(header[$0.value])) }, ["1", "b2", "", "x=y"])
        XCTAssertEqual(CookieCodec.pairs([]), [])
    }

    func testEditsRebuildTheHeader() {
        let header = bytes("a=1; SRV=b2; c=3")
        XCTAssertNil(CookieCodec.apply([.keep, .keep, .keep], to: header))
        XCTAssertEqual(text(CookieCodec.apply([.keep, .delete, .keep], to: header)), "a=1; c=3")
        XCTAssertEqual(text(CookieCodec.apply([.keep, .value(bytes("abc")), .keep], to: header)), "a=1; SRV=abc; c=3")
        XCTAssertEqual(text(CookieCodec.apply([.delete], to: bytes("SRV=b2"))), "", "the whole header goes")
    }

    /// Any bytes: pairs stay inside the header, keeping every pair changes nothing, and
    /// deleting every pair empties it.
    func testAnyHeaderBytesAreSafe() {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("a=; |~\t,\"=".utf8) + [0, 0xFF]
        for _ in 0..<2000 {
            let header = (0..<Int.random(in: 0...24, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }
            let pairs = CookieCodec.pairs(header)
            for pair in pairs {
                XCTAssertTrue(pair.name.lowerBound >= 0 && pair.value.upperBound <= header.count && pair.name.upperBound <= pair.value.lowerBound)
            }
            XCTAssertNil(CookieCodec.apply(pairs.map { _ in .keep }, to: header))
            if !pairs.isEmpty { XCTAssertEqual(CookieCodec.apply(pairs.map { _ in .delete }, to: header), []) }
            _ = CookieCodec.setCookiePair(header)
            _ = CookieDate.decode(header.prefix(5)[...])
        }
    }

    func testSetCookiePairIsTheFirstOnly() {
        let header = bytes("JSESSIONID=abc; Path=/; HttpOnly")
        let pair = CookieCodec.setCookiePair(header)!
        XCTAssertEqual(text(Array(header[pair.name])), "JSESSIONID")
        XCTAssertEqual(text(Array(header[pair.value])), "abc")
    }

    func testInsertedCookieInHAProxysOrder() {
        var settings = CookieSettings(name: "SRV")
        settings.mode = .insert
        settings.domains = [".a.com", ".b.com"]
        settings.httpOnly = true
        settings.secure = true
        settings.attributes = ["SameSite=Lax"]
        XCTAssertEqual(text(CookieCodec.insertedCookie(settings, value: bytes("s1"))),
                       "SRV=s1; path=/; domain=.a.com; domain=.b.com; HttpOnly; Secure; SameSite=Lax")
    }

    func testCacheability() {
        func cacheable(_ method: HTTPMethod = .get, _ status: Int = 200, pragma: [String] = [], cc: [String] = [],
                       expires: Bool = false) -> Bool {
            CookieCodec.isCacheable(method: method, status: status, pragma: pragma.map(bytes), cacheControl: cc.map(bytes),
                                    hasExpires: expires)
        }
        XCTAssertFalse(cacheable(), "no freshness information")
        XCTAssertTrue(cacheable(cc: ["max-age=60"]))
        XCTAssertTrue(cacheable(expires: true))
        XCTAssertFalse(cacheable(cc: ["public"]))
        XCTAssertFalse(cacheable(cc: ["max-age=60, private"]))
        XCTAssertFalse(cacheable(cc: ["max-age=0"]))
        XCTAssertFalse(cacheable(pragma: ["no-cache"], cc: ["max-age=60"]))
        XCTAssertFalse(cacheable(.post, cc: ["max-age=60"]))
        XCTAssertFalse(cacheable(.get, 500, cc: ["max-age=60"]))
    }

    func testXXHash64KnownValues() {
        // Values from the reference implementation (Python's xxhash).
        XCTAssertEqual(XXHash64.hash([]), 0xEF46_DB37_51D8_E999)
        XCTAssertEqual(XXHash64.hash(bytes("abc")), 0x44BC_2CF5_AD77_0999)
        XCTAssertEqual(XXHash64.hash(bytes("0123456789abcdefghijklmnopqrstuvwxyzABCDEF")), 0x0D14_E236_1A4F_A1FF)
    }

    func testCookieDatesAsHAProxyWritesThem() {
        // HAProxy 2.6 wrote `SRV=a1|axZ1F` at Unix time 1796633873.
        XCTAssertEqual(text(CookieDate.encode((1_796_633_873 + 3) >> 2)), "axZ1F")
        XCTAssertEqual(CookieDate.decode(bytes("axZ1F")[...]), (1_796_633_873 + 3) >> 2)
        XCTAssertNil(CookieDate.decode(bytes("ax-1F")[...]))
    }

    // MARK: the parser

    private func load(_ lines: String) -> LoadResult {
        ConfigurationLoader.load(text: """
            defaults
                mode http
            backend b
            \(lines)
                server s1 127.0.0.1:1 cookie a1

            """, name: "t.cfg", options: LoadOptions(resolveServers: false))
    }

    func testCookieLineBecomesTheModel() throws {
        let r = load("    cookie SRV insert indirect nocache postonly preserve httponly secure domain .x attr A=1 maxidle 30m maxlife 8h\n    option persist")
        let backend = try XCTUnwrap(r.configuration?.proxies.first { $0.name == "b" })
        let cookie = try XCTUnwrap(backend.persistence.cookie)
        XCTAssertEqual(cookie.name, "SRV")
        XCTAssertEqual(cookie.mode, .insert)
        XCTAssertTrue(cookie.indirect && cookie.noCache && cookie.postOnly && cookie.preserve && cookie.httpOnly && cookie.secure)
        XCTAssertEqual(cookie.domains, [".x"])
        XCTAssertEqual(cookie.attributes, ["A=1"])
        XCTAssertEqual(cookie.maxIdle, 1800)
        XCTAssertEqual(cookie.maxLife, 8 * 3600)
        XCTAssertTrue(backend.persistence.persistWhileDown)
        XCTAssertEqual(backend.servers.first?.cookie, "a1")
    }

    func testErrorsNameTheLine() {
        let cases: [(String, String)] = [
            ("    cookie", "parsing [t.cfg:4] : 'cookie' expects <cookie_name> as argument."),
            ("    cookie S insert prefix", "parsing [t.cfg:4] : cookie 'rewrite', 'insert' and 'prefix' modes are incompatible."),
            ("    cookie S preserve", "parsing [t.cfg:4] : cookie 'preserve' requires at least 'insert' or 'indirect'."),
            ("    cookie S attr a;b", "parsing [t.cfg:4]: character '%x3B' is not permitted in attribute value."),
            ("    cookie S insert maxidle 30x", "parsing [t.cfg:4]: unexpected character 'x' in argument to <maxidle>."),
            ("    cookie S insert maxlife", "parsing [t.cfg:4]: 'maxlife' expects <lifetime> in seconds as argument."),
            ("    force-persist", "parsing [t.cfg:4] : 'force-persist' requires either 'if' or 'unless' followed by a condition."),
            ("    use-server s1", "parsing [t.cfg:4] : 'use-server' requires either 'if' or 'unless' followed by a condition."),
            ("    use-server nosuch if TRUE", "parsing [t.cfg:4] : proxy 'b' : unable to find server 'nosuch' referenced in a 'use-server' rule."),
        ]
        for (line, expected) in cases {
            let r = load(line)
            XCTAssertEqual(r.exitCode, 1, line)
            XCTAssertTrue(r.diagnostics.contains { "\($0)".contains(expected) }, "\(line): \(r.diagnostics)")
        }
    }
}
