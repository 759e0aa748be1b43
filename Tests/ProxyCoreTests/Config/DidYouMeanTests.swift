import XCTest
import Shared
@testable import ProxyCore

/// `DidYouMean` answers as its first version did (the pair fingerprints held in
/// dictionaries, every candidate compared in full), only faster: the search now skips
/// candidates by length and starts from the farthest acceptable distance, which must
/// never change a suggestion, ties included (the first of equally close candidates wins).
final class DidYouMeanTests: XCTestCase {
    /// The first version, kept as the reference.
    enum Reference {
        static func charClass(_ c: UInt8) -> Int {
            switch c {
            case 0x61...0x7A: return Int(c - 0x61) + 1
            case 0x41...0x5A: return Int(c - 0x41) + 1
            case 0x30...0x39: return 27
            case 0x2D, 0x5F: return 28
            case 0x2E: return 29
            default: return 30
            }
        }

        static func fingerprint(_ word: String) -> [Int: Int] {
            var fp: [Int: Int] = [:]
            var previous = 0
            for c in word.utf8 {
                let k = charClass(c)
                fp[previous * 32 + k, default: 0] += 1
                previous = k
            }
            fp[previous * 32, default: 0] += 1
            return fp
        }

        static func suggest(_ word: String, among candidates: [String]) -> String? {
            guard !word.isEmpty else { return nil }
            let fp = fingerprint(word)
            var best: String? = nil
            var bestDistance = Int.max
            for c in candidates where !c.isEmpty {
                let other = fingerprint(c)
                var d = 0
                for (k, v) in fp { d += abs(v - (other[k] ?? 0)) }
                for (k, v) in other where fp[k] == nil { d += v }
                if d < bestDistance { bestDistance = d; best = c }
            }
            guard let found = best else { return nil }
            if 2 * bestDistance >= 3 * word.utf8.count || 2 * bestDistance >= 3 * found.utf8.count { return nil }
            return found
        }
    }

    static let keywords = [
        "bind", "mode", "balance", "server", "default_backend", "use_backend", "timeout", "maxconn",
        "option", "http-request", "http-response", "tcp-request", "acl", "log", "stats", "errorfile",
        "retries", "redirect", "cookie", "hash-type", "default-server", "backend", "frontend", "listen",
        "defaults", "global", "nbthread", "daemon", "user", "group", "chroot", "pidfile", "ssl", "crt",
        "alpn", "accept-proxy", "v4v6", "v6only", "check", "inter", "fall", "rise", "weight", "backup",
        "disabled", "httplog", "tcplog", "forwardfor", "http-server-close", "httpchk", "redispatch",
        "tune.bufsize", "tune.maxrewrite", "ssl-default-bind-ciphers", "a", "ab", "x.y", "A-B_c",
    ]

    func testPinnedSuggestions() {
        XCTAssertEqual(DidYouMean.suggest("bindd", among: Self.keywords), "bind")
        XCTAssertEqual(DidYouMean.suggest("balanec", among: Self.keywords), "balance")
        XCTAssertEqual(DidYouMean.suggest("defualt_backend", among: Self.keywords), "default_backend")
        XCTAssertEqual(DidYouMean.suggest("MAXCONN", among: Self.keywords), "maxconn")
        XCTAssertNil(DidYouMean.suggest("zzzzzzzz", among: Self.keywords))
        XCTAssertNil(DidYouMean.suggest("", among: Self.keywords))
        XCTAssertNil(DidYouMean.suggest("bind", among: []))
        XCTAssertNil(DidYouMean.suggest("bind", among: ["", ""]))
        // Equally close: the first candidate wins, whichever it is.
        XCTAssertEqual(DidYouMean.suggest("ab", among: ["ba", "aa", "bb"]), Reference.suggest("ab", among: ["ba", "aa", "bb"]))
        XCTAssertEqual(DidYouMean.suggest("abc", among: ["abd", "abe"]), "abd")
        XCTAssertEqual(DidYouMean.suggest("abc", among: ["abe", "abd"]), "abe")
        // Words and names of 255 bytes or more, where a pair can occur more than 255 times.
        let long = String(repeating: "e", count: 300)
        for catalog in [[String(repeating: "e", count: 280), "e"], [String(repeating: "e", count: 254), String(repeating: "e", count: 256)],
                        [String(repeating: "ee-", count: 100), String(repeating: "e", count: 400)], [String(repeating: "e", count: 500)]] {
            for word in [long, String(repeating: "e", count: 255), String(repeating: "e", count: 260) + "x", "eeee"] {
                XCTAssertEqual(DidYouMean.suggest(word, among: catalog), Reference.suggest(word, among: catalog),
                               "\(word.count) bytes among \(catalog.map(\.count))")
            }
        }
        XCTAssertEqual(DidYouMean.suggest(long, among: ["bind", String(repeating: "e", count: 280)]), String(repeating: "e", count: 280))
        // 279 "ee" pairs in the name, 299 in the word: all 279 are shared, not 255.
        XCTAssertEqual(DidYouMean.suggest(long, among: [String(repeating: "e", count: 270), String(repeating: "e", count: 280)]),
                       String(repeating: "e", count: 280))
    }

    /// Misspellings of the keywords (edits, case, other classes, multi-byte characters,
    /// words far longer than any keyword) against shuffled catalogs with duplicates and
    /// empty names: the same answer as the reference every time.
    func testSameSuggestionsAsTheReference() {
        var random = SeededRandom(seed: 14)
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCZ0189-_. é\u{0}~/")
        var suggested = 0, compared = 0
        for round in 0..<4000 {
            var catalog = Self.keywords.shuffled(using: &random)
            catalog = Array(catalog.prefix(Int(random.next() % UInt64(catalog.count)) + 1))
            if round % 7 == 0 { catalog.append(""); catalog.append(catalog[0]) }
            let picked = catalog[Int(random.next() % UInt64(catalog.count))]
            var word = Array(picked.isEmpty ? "x" : picked)
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
            if round % 11 == 0 { word = (0..<Int(random.next() % 6)).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] } }
            let text = String(word)
            let expected = Reference.suggest(text, among: catalog)
            XCTAssertEqual(DidYouMean.suggest(text, among: catalog), expected, "'\(text)' among \(catalog)")
            compared += 1
            if expected != nil { suggested += 1 }
        }
        // Both kinds of answer were exercised.
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

/// The runtime API's "better match" list: the pair distance, now a merge of sorted pair
/// lists, counts as the dictionaries did, and the help order kept while adding commands is
/// the order a stable sort by usage gives.
final class CommandSuggestionTests: XCTestCase {
    static func referenceDistance(_ a: String, _ b: String) -> Int {
        func pairs(_ s: String) -> [UInt16: Int] {
            var counts: [UInt16: Int] = [:]
            var previous: UInt8 = 0
            for c in s.utf8 {
                counts[UInt16(previous) << 8 | UInt16(c), default: 0] += 1
                previous = c
            }
            counts[UInt16(previous) << 8, default: 0] += 1
            return counts
        }
        let pa = pairs(a), pb = pairs(b)
        var d = 0
        for (k, v) in pa { d += abs(v - (pb[k] ?? 0)) }
        for (k, v) in pb where pa[k] == nil { d += v }
        return d
    }

    func testDistanceCountsAsTheReference() {
        var random = SeededRandom(seed: 15)
        let alphabet = Array("show stat info set server weight disable enable\u{0}é;ab")
        for _ in 0..<3000 {
            let a = String((0..<Int(random.next() % 40)).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] })
            let b = String((0..<Int(random.next() % 40)).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] })
            XCTAssertEqual(CommandRegistry.distance(a, b), Self.referenceDistance(a, b), "'\(a)' to '\(b)'")
        }
        XCTAssertEqual(CommandRegistry.distance("show stat", "show stat"), 0)
        XCTAssertEqual(CommandRegistry.distance("", ""), 0)
        XCTAssertEqual(CommandRegistry.distance("ab", "ba"), 6)
    }

    /// Typed words far from every command: the five listed are the first five of a stable
    /// sort of the help order by distance, as before.
    func testUnknownCommandListsTheFiveClosest() {
        var registry = CommandRegistry()
        var random = SeededRandom(seed: 17)
        let vocabulary = ["show", "set", "get", "stat", "info", "server", "weight", "backend", "errors", "map", "acl", "add", "del", "ssl", "cert"]
        for i in 0..<70 {
            let words = (0...Int(random.next() % 3)).map { _ in vocabulary[Int(random.next() % UInt64(vocabulary.count))] }
            registry.add(words.joined(separator: " "), usage: words.joined(separator: " ") + " <x\(i % 9)>", help: "h\(i)") { _, _, _ in "" }
        }
        for _ in 0..<300 {
            let typed = (0...Int(random.next() % 4)).map { _ in
                String((0..<Int(random.next() % 8 + 1)).map { _ in Array("abdeghiorstvw ")[Int(random.next() % 14)] })
            }.map { $0 == " " ? "x" : $0 }
            guard !registry.listed.contains(where: { $0.words.first == typed[0] }) else { continue }
            let phrase = typed.prefix(3).joined(separator: " ")
            let expected = registry.listed
                .map { ($0, Self.referenceDistance(phrase, $0.words.joined(separator: " "))) }
                .sorted { $0.1 < $1.1 }
                .prefix(5)
                .map { $0.0.helpLine }
            let answer = registry.unknown(typed)
            XCTAssertEqual(answer, "Unknown command, but maybe one of the following ones is a better match:\n"
                           + expected.joined() + CommandRegistry.trailer.map(\.helpLine).joined(), "\(typed)")
        }
    }

    func testHelpOrderIsAStableSortByUsage() {
        var registry = CommandRegistry()
        var random = SeededRandom(seed: 16)
        for i in 0..<200 {
            let usage = ["show b", "show a", "set x", "a", "show a", "z", ""][Int(random.next() % 7)]
            registry.add("cmd\(i)", usage: usage, help: "h") { _, _, _ in "" }
        }
        XCTAssertEqual(registry.listed.map(\.words), registry.commands.sorted { $0.usage < $1.usage }.map(\.words))
    }
}
