/// keepalived-style "did you mean" for unknown keywords and names: the candidate with the
/// smallest edit distance (adjacent transpositions count as one edit), if that distance is
/// at most a quarter of the word's length (and at least 2).
///
/// Every unknown keyword asks for one, and a configuration can hold thousands of them, so
/// the search never computes a distance it cannot use: candidates whose length alone puts
/// them out of reach are skipped, a distance is abandoned as soon as it must exceed the
/// best so far, and ASCII words (all keywords) are compared byte by byte in two reused rows
/// instead of a table of `Character`s.
extension ConfigParser {
    static func didYouMean(_ word: String, _ candidates: [String]) -> String? {
        let length = word.count
        let limit = max(2, length / 4)
        let wordIsBytes = isPlainASCII(word)
        var best: (String, Int)? = nil
        for c in candidates {
            // The distance is at least the difference in length: a candidate that cannot be
            // close enough is not compared, so a huge unknown word (400,000 characters) costs
            // a count, not a length × length table.
            let candidateIsBytes = isPlainASCII(c)
            let candidateLength = candidateIsBytes ? c.utf8.count : c.count
            guard abs(candidateLength - length) <= limit else { continue }
            // Only a distance below the best so far can change the answer.
            let bound = best.map { $0.1 - 1 } ?? limit
            let d: Int?
            if wordIsBytes && candidateIsBytes {
                d = withBytes(word) { x in withBytes(c) { y in editDistance(x, y, bound: bound) } }
            } else {
                d = Array(word).withUnsafeBufferPointer { x in
                    Array(c).withUnsafeBufferPointer { y in editDistance(x, y, bound: bound) }
                }
            }
            if let d { best = (c, d) }
        }
        return best?.0
    }

    /// Edit distance with adjacent transpositions (optimal string alignment).
    static func editDistance(_ a: String, _ b: String) -> Int {
        let x = Array(a), y = Array(b)
        return x.withUnsafeBufferPointer { x in
            y.withUnsafeBufferPointer { y in editDistance(x, y, bound: max(x.count, y.count))! }
        }
    }

    /// True when each byte of `s` is one `Character`: ASCII without a carriage return
    /// (CR LF is a single `Character`).
    private static func isPlainASCII(_ s: String) -> Bool {
        s.utf8.allSatisfy { $0 < 0x80 && $0 != 0x0D }
    }

    private static func withBytes<R>(_ s: String, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        if let r = s.utf8.withContiguousStorageIfAvailable(body) { return r }
        return Array(s.utf8).withUnsafeBufferPointer(body)
    }

    /// The optimal-string-alignment distance of `x` and `y` if it is at most `bound`, else
    /// nil. Rows of the usual table are computed one at a time (the transposition looks two
    /// rows back). A row's smallest cell never shrinks from one row to the next (a cell
    /// comes from the row above, from its left neighbour, or from two rows up plus one,
    /// which is no less than the cell diagonally above it; the first column grows), so
    /// once a whole row is above `bound` the search stops.
    static func editDistance<E: Equatable>(_ x: UnsafeBufferPointer<E>, _ y: UnsafeBufferPointer<E>,
                                           bound: Int) -> Int? {
        let n = x.count, m = y.count
        guard bound >= 0, abs(n - m) <= bound else { return nil }
        if n == 0 || m == 0 { return max(n, m) }
        return withUnsafeTemporaryAllocation(of: Int.self, capacity: 3 * (m + 1)) { storage in
            var before = UnsafeMutableBufferPointer(rebasing: storage[0...m])
            var previous = UnsafeMutableBufferPointer(rebasing: storage[(m + 1)...(2 * m + 1)])
            var current = UnsafeMutableBufferPointer(rebasing: storage[(2 * m + 2)...])
            before.initialize(repeating: 0)
            current.initialize(repeating: 0)
            for j in 0...m { previous[j] = j }
            for i in 1...n {
                current[0] = i
                var rowMinimum = i
                for j in 1...m {
                    var d = min(previous[j] + 1, current[j - 1] + 1,
                                previous[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1))
                    if i > 1, j > 1, x[i - 1] == y[j - 2], x[i - 2] == y[j - 1] {
                        d = min(d, before[j - 2] + 1)
                    }
                    current[j] = d
                    rowMinimum = min(rowMinimum, d)
                }
                if rowMinimum > bound { return nil }
                (before, previous, current) = (previous, current, before)
            }
            return previous[m] <= bound ? previous[m] : nil
        }
    }
}
