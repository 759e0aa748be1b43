/// Checks a regex before the system's `regcomp` sees it (issue 14, found by the
/// `haproxy-config` fuzz target: `3++++…+` took 2 GB).
///
/// glibc compiles `x+` as `x x*` and `x{n,m}` as m copies of `x`, so stacked or nested
/// repeats grow the compiled form exponentially, where HAProxy's PCRE2 does not. Two rules:
/// - a quantifier may be followed by one `?` (lazy) or `+` (possessive), as PCRE2 allows,
///   and by nothing else: `x+++`, `x**` and `x{2}{3}` are refused with PCRE2's words,
///   which HAProxy 2.6 prints for them;
/// - what glibc would build is estimated, and a pattern past `limit` is refused as PCRE2
///   refuses one too large;
/// - at most `nestingLimit` groups open at once: glibc's parser recurses into each.
enum RegexGuard {
    /// Compiled items glibc would make; far more than any configuration needs.
    static let limit = 50_000
    /// Groups open at once, at most (PCRE2's default `parens_nest_limit`).
    static let nestingLimit = 250

    static func problem(_ source: String) -> String? {
        let bytes = Array(source.utf8)
        // Estimated size per open group: the alternatives so far, the current branch, and
        // the size of the last item (what a quantifier repeats).
        var frames: [(alternatives: Int, branch: Int, last: Int)] = [(0, 0, 0)]
        // 0: the last thing was not a quantifier; 1: a quantifier; 2: a quantifier and its
        // one `?`/`+` modifier.
        var afterQuantifier = 0
        var i = 0
        func capped(_ value: Int) -> Int { min(value, limit + 1) }
        func atom(_ size: Int) {
            frames[frames.count - 1].last = size
            frames[frames.count - 1].branch = capped(frames[frames.count - 1].branch + size)
            afterQuantifier = 0
        }
        func repeatLast(_ factor: Int) {
            let last = frames[frames.count - 1].last
            let grown = capped(last * max(1, factor))
            frames[frames.count - 1].branch = capped(frames[frames.count - 1].branch + grown - last)
            frames[frames.count - 1].last = grown
        }
        while i < bytes.count {
            let c = bytes[i]
            // A bounded repeat `{n}`, `{n,}` or `{n,m}` (anything else after `{` is literal).
            var bounded: (factor: Int, end: Int)?
            if c == UInt8(ascii: "{") { bounded = boundedRepeat(bytes, at: i) }
            if c == UInt8(ascii: "*") || c == UInt8(ascii: "+") || c == UInt8(ascii: "?") || bounded != nil {
                let end = bounded?.end ?? i
                if afterQuantifier == 1, c == UInt8(ascii: "?") || c == UInt8(ascii: "+") {
                    afterQuantifier = 2  // PCRE2's lazy or possessive mark: no new repeat
                    if c == UInt8(ascii: "+") { repeatLast(2) }  // glibc reads it as one more `+`
                } else if afterQuantifier != 0 {
                    return "quantifier does not follow a repeatable item, erroffset=\(end)"
                } else {
                    afterQuantifier = 1
                    repeatLast(c == UInt8(ascii: "+") ? 2 : bounded?.factor ?? 1)
                }
                i = end + 1
            } else if c == UInt8(ascii: "\\") {
                atom(1)
                i += 2
            } else if c == UInt8(ascii: "[") {
                atom(1)
                i = bracketEnd(bytes, at: i) + 1
            } else if c == UInt8(ascii: "(") {
                // glibc parses groups by recursion: some 30,000 nested ones overflow the
                // stack. PCRE2 stops at 250 (its parens_nest_limit), in these words.
                if frames.count > Self.nestingLimit {
                    return "parentheses are too deeply nested, erroffset=\(i + 1)"
                }
                frames.append((0, 0, 0))
                afterQuantifier = 0
                i += 1
            } else if c == UInt8(ascii: ")"), frames.count > 1 {
                let closed = frames.removeLast()
                atom(capped(closed.alternatives + closed.branch))
                i += 1
            } else if c == UInt8(ascii: "|") {
                frames[frames.count - 1].alternatives = capped(frames[frames.count - 1].alternatives + frames[frames.count - 1].branch)
                frames[frames.count - 1].branch = 0
                frames[frames.count - 1].last = 0
                afterQuantifier = 0
                i += 1
            } else {
                atom(1)
                i += 1
            }
            // Each step changes only the innermost open group (a closing one adds to its
            // parent, then the innermost): checking it is checking them all, and a pattern
            // of thousands of `(` stays linear.
            if let top = frames.last, top.alternatives + top.branch > limit {
                // PCRE2's words (HAProxy 2.6 prints them for `((a{100}){100}){100}`).
                return "regular expression is too large, erroffset=\(i)"
            }
        }
        return nil
    }

    /// `{n}`, `{n,}` or `{n,m}` at `start`: the copies glibc makes and the index of `}`.
    private static func boundedRepeat(_ bytes: [UInt8], at start: Int) -> (factor: Int, end: Int)? {
        var i = start + 1
        func number() -> Int? {
            let from = i
            var value = 0
            while i < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[i]) {
                value = min(value * 10 + Int(bytes[i] - UInt8(ascii: "0")), 100_000)
                i += 1
            }
            return i > from ? value : nil
        }
        guard let low = number(), i < bytes.count else { return nil }
        var high = low
        if bytes[i] == UInt8(ascii: ",") {
            i += 1
            high = number() ?? low + 1
        }
        guard i < bytes.count, bytes[i] == UInt8(ascii: "}") else { return nil }
        return (max(low, high), i)
    }

    /// The index of the `]` closing the bracket expression opened at `start` (a `]` right
    /// after `[` or `[^` is a member; `[:class:]` and escapes are skipped).
    private static func bracketEnd(_ bytes: [UInt8], at start: Int) -> Int {
        var i = start + 1
        if i < bytes.count, bytes[i] == UInt8(ascii: "^") { i += 1 }
        if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1 }
        while i < bytes.count, bytes[i] != UInt8(ascii: "]") {
            if bytes[i] == UInt8(ascii: "\\") {
                i += 2
            } else if bytes[i] == UInt8(ascii: "["), i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: ":"),
                      let close = bytes[(i + 2)...].firstIndex(of: UInt8(ascii: "]")) {
                i = close + 1
            } else {
                i += 1
            }
        }
        return min(i, bytes.count)
    }
}
