/// ACL criteria compiled for matching bytes in place: string patterns become byte arrays
/// (lower-cased once for `-i`), header names lower-case bytes.
struct CompiledCriterion {
    enum Pattern {
        case bytes([UInt8])
        case regex(CompiledRegex)
        case range(lower: Int?, upper: Int?)
        case network(IPNetwork)
    }

    let fetch: SampleFetch
    let match: MatchMethod
    let ignoreCase: Bool
    let fixedPatterns: [Pattern]
    /// The patterns of its `-f` files, which the runtime API may change (Runtime/ACLFiles.swift).
    let live: LivePatterns?
    var patterns: [Pattern] {
        guard let live else { return fixedPatterns }
        return fixedPatterns + live.current
    }
    /// Lower-case header or parameter name for `hdr(…)`, `url_param(…)`.
    let name: [UInt8]
    /// `nbsrv(BACKEND)`: resolved when the runtime is built.
    let backend: RuntimeBackend?
    /// `sc_*`, `src_*`, `table_*` with their tables (Runtime/StickTracking.swift).
    let stick: CompiledStickFetch?
    /// `var(…)` and expressions with converters (Runtime/SampleEvaluator.swift).
    let sample: CompiledSample?

    init(_ criterion: ACLCriterion, backends: [String: RuntimeBackend], currentBackend: RuntimeBackend?) {
        fetch = criterion.fetch
        match = criterion.match
        ignoreCase = criterion.ignoreCase
        fixedPatterns = criterion.patterns.map { Self.compile($0, ignoreCase: criterion.ignoreCase) }
        let files = criterion.patternFiles.compactMap { ACLFiles.load($0, asMap: criterion.patternFilesAreMaps) }
        live = files.isEmpty ? nil : LivePatterns(files: files, match: criterion.match, ignoreCase: criterion.ignoreCase)
        switch criterion.fetch {
        case .header(let name, _), .responseHeader(let name, _): self.name = Array(name.lowercased().utf8)
        case .urlParameter(let name): self.name = Array(name.utf8)
        default: self.name = []
        }
        if case .usableServers(let name) = criterion.fetch {
            backend = name.flatMap { backends[$0] } ?? currentBackend
        } else {
            backend = nil
        }
        if case .stick(let fetch) = criterion.fetch { stick = CompiledStickFetch(fetch) } else { stick = nil }
        if case .expression(let e) = criterion.fetch { sample = CompiledSample(e) } else { sample = nil }
    }

    static func compile(_ pattern: ACLPattern, ignoreCase: Bool) -> Pattern {
        switch pattern {
        case .string(let text): return .bytes(Array((ignoreCase ? text.lowercased() : text).utf8))
        case .regex(let regex): return .regex(regex)
        case .integerRange(let lower, let upper): return .range(lower: lower, upper: upper)
        case .network(let network): return .network(network)
        }
    }

    /// True when the sample fetched from `facts` matches any pattern.
    func evaluate(_ facts: RequestFacts) -> Bool {
        switch fetch {
        case .path: return matches(facts.path)
        case .url: return matches(facts.target)
        case .method: return matches(facts.slice(facts.head.methodSpan))
        case .query:
            guard let query = facts.query else { return match == .found ? false : false }
            return matches(query)
        case .urlParameter:
            guard let value = facts.urlParameter(name) else { return false }
            return matches(value)
        case .header(_, let occurrence):
            if match == .found {
                return RequestFacts.forEachValue(of: name, in: facts.bytes, headers: facts.headers, split: false) { _ in true }
            }
            return RequestFacts.forEachValue(of: name, in: facts.bytes, headers: facts.headers,
                                             split: occurrence == nil) { matches($0) }
        case .responseHeader(_, let occurrence):
            guard let response = facts.response else { return false }
            return RequestFacts.forEachValue(of: name, in: response.bytes, headers: response.headers,
                                             split: occurrence == nil) { matches($0) }
        case .source: return matchesAddress(facts.connection.clientAddress)
        case .destination: return matchesAddress(facts.connection.localAddress)
        case .destinationPort: return matchesInteger(facts.connection.localPort)
        case .sourcePort: return matchesInteger(facts.connection.clientPort)
        case .status:
            guard let response = facts.response else { return false }
            return matchesInteger(facts.statusOverride ?? response.head.status)
        case .httpVersion:
            let text: StaticString = facts.head.version == .http10 ? "1.0" : "1.1"
            return matches(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
        case .usableServers:
            let count = backend?.servers.filter { !$0.isBackup && $0.isUsable.load(ordering: .relaxed) }.count ?? 0
            return patterns.isEmpty ? count > 0 : matchesInteger(count)
        case .alwaysTrue: return true
        case .alwaysFalse: return false
        case .stick:
            guard let value = stick?.value(facts.connection) else { return false }
            return matchesInteger(value)
        case .expression:
            guard let value = sample?.evaluate(facts, values: facts.connection.values) else { return false }
            switch (value, match) {
            case (_, .found): return true
            case (.address(let bytes), .ip): return matchesAddress(bytes)
            case (_, .integer), (_, .boolean):
                // HAProxy casts the sample to an integer; one that has none does not match.
                guard let n = value.integer else { return false }
                return match == .boolean ? n != 0 : matchesInteger(n)
            default:
                return value.text.withUnsafeBytes { matches($0) }
            }
        // TLS (issue 5): set by TLSHandler (ssl_fc, ssl_fc_sni) or a peeked ClientHello (req.ssl_sni).
        case .sslFrontend: return matchesInteger(facts.connection.isTLS ? 1 : 0)
        case .sslSNI:
            guard let name = facts.connection.tlsServerName else { return false }
            return name.withUnsafeBytes { matches($0) }
        case .sslHelloType:
            // No sample (no fetch) when the bytes were not a whole handshake message.
            guard let type = facts.connection.tlsHelloType else { return false }
            return matchesInteger(type)
        }
    }

    private func matchesInteger(_ value: Int) -> Bool {
        if match == .boolean || patterns.isEmpty { return value != 0 }
        for case .range(let lower, let upper) in patterns {
            if (lower.map { value >= $0 } ?? true) && (upper.map { value <= $0 } ?? true) { return true }
        }
        return false
    }

    private func matchesAddress(_ address: [UInt8]) -> Bool {
        guard !address.isEmpty else { return false }
        let ip: IPAddress = address.count == 4
            ? .v4(address[0], address[1], address[2], address[3]) : .v6(address)
        for case .network(let network) in patterns where network.contains(ip) { return true }
        return false
    }

    /// Matches a byte sample with the criterion's method.
    private func matches(_ sample: UnsafeRawBufferPointer) -> Bool {
        switch match {
        case .found: return true
        case .length: return matchesInteger(sample.count)
        case .integer:
            guard let value = Self.integer(sample) else { return false }
            return matchesInteger(value)
        case .boolean: return (Self.integer(sample) ?? 0) != 0
        case .ip:
            return false
        case .regex:
            for case .regex(let regex) in patterns {
                if sample.withMemoryRebound(to: UInt8.self, { regex.matches(bytes: $0) }) { return true }
            }
            return false
        default:
            for case .bytes(let pattern) in patterns where compare(sample, pattern) { return true }
            return false
        }
    }

    private func compare(_ sample: UnsafeRawBufferPointer, _ pattern: [UInt8]) -> Bool {
        let n = sample.count, m = pattern.count
        @inline(__always) func byte(_ i: Int) -> UInt8 {
            let c = sample[i]
            return ignoreCase && (c &- 0x41) < 26 ? c | 0x20 : c
        }
        @inline(__always) func equal(at offset: Int) -> Bool {
            for k in 0..<m where byte(offset + k) != pattern[k] { return false }
            return true
        }
        switch match {
        case .string: return n == m && equal(at: 0)
        case .beginning: return n >= m && equal(at: 0)
        case .end: return n >= m && equal(at: n - m)
        case .substring:
            guard n >= m else { return false }
            for offset in 0...(n - m) where equal(at: offset) { return true }
            return false
        case .directory, .domain:
            // The pattern must appear delimited by `/` (dir) or `.`/`/` (dom) or the ends.
            guard n >= m else { return false }
            let isDelimiter: (UInt8) -> Bool = match == .directory
                ? { $0 == UInt8(ascii: "/") }
                : { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "/") }
            for offset in 0...(n - m) where equal(at: offset) {
                let before = offset == 0 || isDelimiter(sample[offset - 1])
                let after = offset + m == n || isDelimiter(sample[offset + m])
                if before && after { return true }
            }
            return false
        default:
            return false
        }
    }

    private static func integer(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard !bytes.isEmpty else { return nil }
        var value = 0
        var negative = false
        for (i, c) in bytes.enumerated() {
            if i == 0, c == UInt8(ascii: "-") { negative = true; continue }
            guard c >= 0x30, c <= 0x39 else { return nil }
            value = value &* 10 &+ Int(c - 0x30)
        }
        return negative ? -value : value
    }
}

/// An `if|unless` condition compiled: OR of ANDs of (possibly negated) terms, each true
/// when any of its criteria matches.
struct CompiledCondition {
    struct Term {
        let negated: Bool
        let criteria: [CompiledCriterion]
    }
    let negate: Bool
    let alternatives: [[Term]]

    init(_ condition: Condition, backends: [String: RuntimeBackend], currentBackend: RuntimeBackend?) {
        negate = condition.polarity == .unless
        alternatives = condition.alternatives.map { terms in
            terms.map { term in
                Term(negated: term.negated,
                     criteria: term.criteria.map {
                         CompiledCriterion($0, backends: backends, currentBackend: currentBackend)
                     })
            }
        }
    }

    func evaluate(_ facts: RequestFacts) -> Bool {
        var result = false
        for terms in alternatives {
            var all = true
            for term in terms {
                let matched = term.criteria.contains { $0.evaluate(facts) }
                if matched == term.negated { all = false; break }
            }
            if all { result = true; break }
        }
        return result != negate
    }
}
