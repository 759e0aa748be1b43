// What the hash-based algorithms of `balance` read from a connection or a request, and
// how they hash it (`hash-type`). Kept apart from `Balancer` and immutable: the engine
// shares one balancer per backend between its threads behind a lock, and hashing a
// request (a URI, a header) is work that needs no lock, so it is done before taking it.

/// The key of a connection or request for `balance source|uri|url_param|hdr(…)`.
public struct BalanceKey: Sendable {
    public let algorithm: BalanceAlgorithm
    public let hashType: BalanceHashType
    /// `hdr(<name>)`: the name in lower case.
    @usableFromInline let headerName: [UInt8]
    /// False for the algorithms that never hash: the data path then skips the switch.
    @usableFromInline let hashes: Bool

    public init(algorithm: BalanceAlgorithm, hashType: BalanceHashType = BalanceHashType()) {
        self.algorithm = algorithm
        self.hashType = hashType
        self.hashes = algorithm.isHashBased
        if case .header(let name, _) = algorithm {
            headerName = name.map { asciiLower($0) }
        } else {
            headerName = []
        }
    }

    /// `source` hashes `clientAddress` (4 bytes for IPv4, 16 for IPv6, network order);
    /// nil (round robin) for the other algorithms and for clients without an IP address,
    /// as HAProxy does for non-IP clients.
    @inline(__always)
    public func hash(clientAddress: UnsafeRawBufferPointer?) -> UInt32? {
        guard hashes, case .source = algorithm, let a = clientAddress, a.count >= 4 else { return nil }
        return sourceHash(a)
    }

    /// For `balance rdp-cookie`: the cookie's value in the connection's first bytes, or nil
    /// (round robin) without one.
    @inline(__always)
    public func hash(payload: UnsafeRawBufferPointer) -> UInt32? {
        guard case .rdpCookie(let name) = algorithm,
              case .value(let range) = RDPCookie.find(in: payload, name: name), !range.isEmpty else { return nil }
        return keyHash(payload.bytePointer + range.lowerBound, range.count)
    }

    /// For `mode http`: the request's key (target and headers are spans into `bytes`, as
    /// the request parser produced them), or nil when the algorithm falls back to round
    /// robin (no hashing, parameter or header absent).
    @inline(__always)
    public func hash(clientAddress: UnsafeRawBufferPointer?, target: HTTPSpan,
                     headers: [HTTPHeaderField], in bytes: UnsafeRawBufferPointer) -> UInt32? {
        guard hashes else { return nil }
        switch algorithm {
        case .uri(let options):
            return uriHash(target, options, bytes)
        case .urlParameter(let name):
            let value = name.withUnsafeBufferPointer { HTTPTarget.urlParameter($0, of: target, in: bytes) }
            guard let v = value else { return nil }
            return keyHash(bytes.bytePointer + v.start, v.count)
        case .header(_, let domainOnly):
            let field = headerName.withUnsafeBufferPointer { findHeader(headers, $0, bytes) }
            guard let f = field, f.value.count > 0 else { return nil }
            // As HAProxy's lookup, the first comma-separated element of the value.
            let p = bytes.bytePointer
            var s = f.value.start, e = s
            while e < f.value.end && p[e] != asciiComma { e += 1 }
            while e > s && isOWS(p[e - 1]) { e -= 1 }
            if e == s { return nil }
            if domainOnly { (s, e) = domainLabel(p, s, e) }
            return keyHash(bytes.bytePointer + s, e - s)
        default:
            return hash(clientAddress: clientAddress)
        }
    }

    /// The configured function, then the avalanche modifier when set.
    @inline(__always)
    func keyHash(_ p: UnsafePointer<UInt8>, _ count: Int) -> UInt32 {
        let h = hashType.function.hash(p, count)
        return hashType.avalanche ? avalancheHash(h) : h
    }

    /// HAProxy's source hash: the address as 32-bit big-endian words XORed
    /// together (the hash-type function is not used), then the avalanche modifier
    /// when configured. With consistent hashing, `avalanche` spreads neighbouring
    /// addresses over the ring.
    @inline(__always)
    func sourceHash(_ a: UnsafeRawBufferPointer) -> UInt32 {
        let p = a.bytePointer
        var h: UInt32 = 0
        var k = 0
        while k + 4 <= a.count {
            h ^= UInt32(p[k]) << 24 | UInt32(p[k + 1]) << 16 | UInt32(p[k + 2]) << 8 | UInt32(p[k + 3])
            k += 4
        }
        return hashType.avalanche ? avalancheHash(h) : h
    }

    func uriHash(_ target: HTTPSpan, _ o: URIHashOptions, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        let p = bytes.bytePointer
        var s = target.start
        var e = target.end
        if o.pathOnly && s < e && p[s] != 0x2F {
            // absolute-form: skip "scheme://authority"
            var k = s
            while k + 2 < e && !(p[k] == 0x3A && p[k + 1] == 0x2F && p[k + 2] == 0x2F) { k += 1 }
            if k + 2 < e {
                k += 3
                while k < e && p[k] != 0x2F && p[k] != 0x3F { k += 1 }
                s = k
            }
        }
        if o.length > 0 && e - s > o.length { e = s + o.length }
        var k = s
        var slashes = 0
        while k < e {
            let c = p[k]
            if c == 0x2F {
                slashes += 1
                if o.depth > 0 && slashes == o.depth + 1 { break }
            } else if c == 0x3F && !o.whole {
                break
            }
            k += 1
        }
        return keyHash(p + s, k - s)
    }

    /// `use_domain_only`: the label before the last dot (`www.example.com` →
    /// `example`); the whole value when it has no dot.
    func domainLabel(_ p: UnsafePointer<UInt8>, _ s: Int, _ e: Int) -> (Int, Int) {
        var k = e - 1
        while k >= s && p[k] != 0x2E { k -= 1 }
        if k < s { return (s, e) }
        let end = k
        k -= 1
        while k >= s && p[k] != 0x2E { k -= 1 }
        return (k + 1, end)
    }
}
