import XCTest
@testable import ProxyCore

/// Bad input is normal input: mutated configs give diagnostics, never a crash or a hang.
final class ConfigRobustnessTests: XCTestCase {
    /// A small deterministic generator (xorshift), so failures reproduce.
    struct Generator {
        var state: UInt64
        mutating func next(_ bound: Int) -> Int {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return Int(state % UInt64(max(bound, 1)))
        }
    }

    static let seedConfig = """
    global
    \tlog /dev/log local0
    \tstats socket /run/proxyd/admin.sock mode 660 level admin
    \tssl-default-bind-options no-sslv3
    defaults named
    \tmode http
    \toption httplog
    \ttimeout connect 5s
    \ttimeout client "${CLIENT_TIMEOUT-50s}"
    \ttimeout server 50s
    frontend web from named
    \tbind *:8080,:8081 name web
    \tacl api path_beg -i /api 'x y' "a\\tb"
    \tuse_backend app if api !{ src 10.0.0.0/8 } || METH_GET
    \thttp-request set-header X-Forwarded-Proto https if { dst_port 443 }
    \thttp-request return status 200 content-type text/plain string ok if { path /ping }
    \tdefault_backend app
    backend app
    \tbalance hdr(host) use_domain_only
    \thash-type consistent
    \toption httpchk GET /healthz
    \thttp-check expect rstatus (2|3)[0-9][0-9]
    \tdefault-server inter 2s fall 3 rise 2
    \tserver a 127.0.0.1:8001 check weight 10
    \tserver b [::1]:8002 check backup
    userlist admins
    \tuser alice insecure-password secret

    """

    func testMutatedConfigsNeverCrash() {
        var g = Generator(state: 0x9E37_79B9_7F4A_7C15)
        let alphabet = Array(" \t\"'\\#${}[]:,-!|x09\n%(".utf8)
        let base = Array(Self.seedConfig.utf8)
        var outcomes: [Int32: Int] = [:]
        for _ in 0..<400 {
            var bytes = base
            for _ in 0...g.next(6) {
                guard !bytes.isEmpty else { break }
                let at = g.next(bytes.count)
                switch g.next(4) {
                case 0: bytes[at] = alphabet[g.next(alphabet.count)]
                case 1: bytes.removeSubrange(at..<min(bytes.count, at + 1 + g.next(12)))
                case 2: bytes.insert(contentsOf: (0...g.next(4)).map { _ in alphabet[g.next(alphabet.count)] }, at: at)
                default: bytes.insert(UInt8(truncatingIfNeeded: g.next(256)), at: at)
                }
            }
            let r = ConfigurationLoader.load(text: String(decoding: bytes, as: UTF8.self), name: "fuzz.cfg",
                                             options: LoadOptions(resolveServers: false))
            XCTAssertTrue([0, 1, 2].contains(r.exitCode))
            if r.exitCode == 1 { XCTAssertTrue(r.diagnostics.contains { $0.severity == .alert }) }
            outcomes[r.exitCode, default: 0] += 1
        }
        XCTAssertGreaterThan(outcomes[1] ?? 0, 100, "most mutations should be refused")
        XCTAssertGreaterThan(outcomes[0] ?? 0, 0, "some mutations are harmless")
    }

    func testTheSeedConfigIsValid() {
        let r = ConfigurationLoader.load(text: Self.seedConfig, name: "seed.cfg", options: LoadOptions(resolveServers: false))
        XCTAssertEqual(r.exitCode, 0, "\(r.diagnostics)")
    }
}
