/// "Did you mean …?" suggestions for misspelt keywords and names.
///
/// Words are compared by their character-pair fingerprints (how often each pair of
/// adjacent characters occurs, with the word's start and end as characters too), so that
/// swapped, doubled, missing or extra letters stay close. A candidate is proposed only
/// when it is close enough relative to both lengths.
public enum DidYouMean {
    private static func charClass(_ c: UInt8) -> Int {
        switch c {
        case 0x61...0x7A: return Int(c - 0x61) + 1       // a-z
        case 0x41...0x5A: return Int(c - 0x41) + 1       // A-Z folded
        case 0x30...0x39: return 27                      // digits
        case 0x2D, 0x5F: return 28                       // - and _
        case 0x2E: return 29                             // .
        default: return 30
        }
    }

    /// Pair counts: 32 × 32 buckets; class 0 is "start/end of word".
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

    static func distance(_ a: [Int: Int], _ b: [Int: Int]) -> Int {
        var d = 0
        for (k, v) in a { d += abs(v - (b[k] ?? 0)) }
        for (k, v) in b where a[k] == nil { d += v }
        return d
    }

    /// The candidate closest to `word`, or nil when none is close enough.
    public static func suggest(_ word: String, among candidates: [String]) -> String? {
        guard !word.isEmpty else { return nil }
        let fp = fingerprint(word)
        var best: String? = nil
        var bestDistance = Int.max
        for c in candidates where !c.isEmpty {
            let d = distance(fp, fingerprint(c))
            if d < bestDistance { bestDistance = d; best = c }
        }
        guard let found = best else { return nil }
        // Close enough: less than one and a half times either length (calibrated on the
        // suggestions HAProxy 2.6 makes, so that both propose the same words).
        if 2 * bestDistance >= 3 * word.utf8.count || 2 * bestDistance >= 3 * found.utf8.count { return nil }
        return found
    }
}
