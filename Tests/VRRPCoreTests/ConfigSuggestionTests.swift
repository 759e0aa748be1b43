import XCTest
@testable import VRRPCore

/// keepalived-style suggestions answer as their first version did (a full table of
/// `Character`s for every candidate of a close enough length), only faster: byte rows
/// for ASCII, a distance abandoned once it cannot win. Ties keep the first candidate.
final class ConfigSuggestionTests: XCTestCase {
    /// The first version, kept as the reference.
    enum Reference {
        static func didYouMean(_ word: String, _ candidates: [String]) -> String? {
            let length = word.count
            let limit = max(2, length / 4)
            var best: (String, Int)? = nil
            for c in candidates {
                guard abs(c.count - length) <= limit else { continue }
                let d = editDistance(word, c)
                if d <= limit, best == nil || d < best!.1 { best = (c, d) }
            }
            return best?.0
        }

        static func editDistance(_ a: String, _ b: String) -> Int {
            let x = Array(a), y = Array(b)
            if x.isEmpty { return y.count }
            if y.isEmpty { return x.count }
            var d = [[Int]](repeating: [Int](repeating: 0, count: y.count + 1), count: x.count + 1)
            for i in 0...x.count { d[i][0] = i }
            for j in 0...y.count { d[0][j] = j }
            for i in 1...x.count {
                for j in 1...y.count {
                    d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1))
                    if i > 1, j > 1, x[i - 1] == y[j - 2], x[i - 2] == y[j - 1] {
                        d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
                    }
                }
            }
            return d[x.count][y.count]
        }
    }

    static let keywords = [
        "vrrp_instance", "vrrp_script", "vrrp_sync_group", "global_defs", "state", "interface",
        "virtual_router_id", "priority", "advert_int", "virtual_ipaddress", "track_script",
        "track_interface", "notify_master", "notify_backup", "notify_fault", "notify", "nopreempt",
        "preempt_delay", "authentication", "auth_type", "auth_pass", "unicast_src_ip", "unicast_peer",
        "router_id", "script_user", "enable_script_security", "vrrp_version", "garp_master_delay",
        "interval", "weight", "fall", "rise", "timeout", "init_fail", "track_proxyd", "proxyd",
        "ab", "a", "x_y", "naïve", "pri\r\nority",
    ]

    /// Misspelt keywords (ASCII and not, CR LF, long words) against shuffled catalogs with
    /// duplicates and empty names: the reference's answer every time, distances included.
    func testSameSuggestionsAsTheReference() {
        var random = SeededRandom(seed: 14)
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz_0189 é\r\n\u{0}ï")
        var suggested = 0, compared = 0
        for round in 0..<3000 {
            var catalog = Self.keywords.shuffled(using: &random)
            catalog = Array(catalog.prefix(Int(random.next() % UInt64(catalog.count)) + 1))
            if round % 7 == 0 { catalog.append(""); catalog.append(catalog[0]) }
            var word = Array(catalog[Int(random.next() % UInt64(catalog.count))])
            for _ in 0..<Int(random.next() % 5) {
                let at = Int(random.next() % UInt64(word.count + 1))
                let letter = alphabet[Int(random.next() % UInt64(alphabet.count))]
                switch random.next() % 4 {
                case 0: word.insert(letter, at: at)
                case 1: if at < word.count { word.remove(at: at) }
                case 2: if at < word.count { word[at] = letter }
                default: if at + 1 < word.count { word.swapAt(at, at + 1) }
                }
            }
            if round % 50 == 0 { word += Array(repeating: "e", count: Int(random.next() % 300)) }
            let text = String(word)
            let expected = Reference.didYouMean(text, catalog)
            XCTAssertEqual(ConfigParser.didYouMean(text, catalog), expected, "'\(text)' among \(catalog)")
            compared += 1
            if expected != nil { suggested += 1 }
            let other = catalog[Int(random.next() % UInt64(catalog.count))]
            XCTAssertEqual(ConfigParser.editDistance(text, other), Reference.editDistance(text, other), "'\(text)' to '\(other)'")
        }
        XCTAssertGreaterThan(suggested, compared / 4)
        XCTAssertGreaterThan(compared - suggested, compared / 10)
    }
}

/// A small seeded generator, so that a failure repeats.
private struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
