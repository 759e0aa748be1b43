/// "Did you mean …?" suggestions for misspelt keywords and names.
///
/// Words are compared by their character-pair fingerprints (how often each pair of
/// adjacent characters occurs, with the word's start and end as characters too), so that
/// swapped, doubled, missing or extra letters stay close. A candidate is proposed only
/// when it is close enough relative to both lengths.
///
/// The distance of two fingerprints is the number of pairs they do not share:
/// `pairs(a) + pairs(b) - 2 × shared`, where a word of n bytes has n + 1 pairs. The
/// unknown word's pair counts sit in one small table for the whole search, so each
/// candidate costs one pass over its own bytes, without a dictionary or an allocation: a
/// parser asks for a suggestion on every unknown word, and a fuzzer makes many of them.
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

    /// Pair codes: 31 × 31, for classes 0-30 (class 0 is "start/end of word").
    private static let pairCodes = 31 * 31

    /// Calls `body` with the code of each character pair of `word`, ends included.
    @inline(__always)
    private static func forEachPair(_ word: String, _ body: (Int) -> Void) {
        var previous = 0
        for c in word.utf8 {
            let k = charClass(c)
            body(previous * 31 + k)
            previous = k
        }
        body(previous * 31)
    }

    /// The candidate closest to `word`, or nil when none is close enough. Of equally close
    /// candidates the first wins.
    public static func suggest(_ word: String, among candidates: [String]) -> String? {
        guard !word.isEmpty else { return nil }
        let length = word.utf8.count
        // One byte per pair code keeps the table within what Swift places on the stack
        // (1 KiB): no allocation per call. A count stops at 255, which changes no shared
        // count with a candidate shorter than 255 bytes (it has at most 255 of any pair);
        // longer candidates are counted exactly, the slow way.
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: pairCodes) { wordPairs in
            wordPairs.initialize(repeating: 0)
            forEachPair(word) { if wordPairs[$0] < UInt8.max { wordPairs[$0] += 1 } }

            // Close enough means less than one and a half times the word's length
            // (calibrated on the suggestions HAProxy 2.6 makes, so that both propose the
            // same words): a candidate at this distance or more is never proposed, and
            // could only have hidden farther ones, so starting the search with this bound
            // changes no answer.
            var bestDistance = (3 * length + 1) / 2
            var best: String? = nil
            for candidate in candidates where !candidate.isEmpty {
                // The distance is at least the difference in length: most candidates are
                // ruled out without reading them.
                let candidateLength = candidate.utf8.count
                if abs(candidateLength - length) >= bestDistance { continue }
                let shared = candidateLength < Int(UInt8.max)
                    ? sharedPairs(candidate, candidateLength, wordPairs)
                    : exactSharedPairs(word, candidate)
                let distance = (length + 1) + (candidateLength + 1) - 2 * shared
                if distance < bestDistance { bestDistance = distance; best = candidate }
            }
            // ... and less than one and a half times the candidate's length.
            guard let found = best, 2 * bestDistance < 3 * found.utf8.count else { return nil }
            return found
        }
    }

    /// How many of `candidate`'s pairs the word has too (a pair both have twice counts
    /// twice): each is taken out of `wordPairs` as it matches, and all are put back after.
    private static func sharedPairs(_ candidate: String, _ length: Int,
                                    _ wordPairs: UnsafeMutableBufferPointer<UInt8>) -> Int {
        withUnsafeTemporaryAllocation(of: UInt16.self, capacity: length + 1) { taken in
            var shared = 0
            forEachPair(candidate) { k in
                if wordPairs[k] > 0 {
                    wordPairs[k] -= 1
                    taken[shared] = UInt16(k)
                    shared += 1
                }
            }
            for i in 0..<shared { wordPairs[Int(taken[i])] += 1 }
            return shared
        }
    }

    /// The same count for any lengths, from both words' sorted pair codes.
    private static func exactSharedPairs(_ a: String, _ b: String) -> Int {
        func sortedPairs(_ word: String) -> [Int] {
            var codes: [Int] = []
            forEachPair(word) { codes.append($0) }
            return codes.sorted()
        }
        let x = sortedPairs(a), y = sortedPairs(b)
        var i = 0, j = 0, shared = 0
        while i < x.count && j < y.count {
            if x[i] == y[j] {
                shared += 1
                i += 1
                j += 1
            } else if x[i] < y[j] {
                i += 1
            } else {
                j += 1
            }
        }
        return shared
    }
}
