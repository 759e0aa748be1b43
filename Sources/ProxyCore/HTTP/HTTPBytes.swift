// Byte classes and small helpers over spans. No Strings, no allocations.

@usableFromInline let asciiCR: UInt8 = 0x0D
@usableFromInline let asciiLF: UInt8 = 0x0A
@usableFromInline let asciiSP: UInt8 = 0x20
@usableFromInline let asciiHT: UInt8 = 0x09
@usableFromInline let asciiColon: UInt8 = 0x3A
@usableFromInline let asciiComma: UInt8 = 0x2C

/// tchar (RFC 9110 §5.6.2): "!#$%&'*+-.^_`|~", DIGIT, ALPHA. Bit c of the 128-bit
/// mask (low word = 0..63, high word = 64..127).
@usableFromInline let tcharMaskLow: UInt64 = 0x03ff_6cfa_0000_0000
@usableFromInline let tcharMaskHigh: UInt64 = 0x57ff_ffff_c7ff_fffe

@inline(__always) @usableFromInline
func isTokenChar(_ c: UInt8) -> Bool {
    if c < 64 { return (tcharMaskLow >> UInt64(c)) & 1 != 0 }
    if c < 128 { return (tcharMaskHigh >> UInt64(c &- 64)) & 1 != 0 }
    return false
}

@inline(__always) @usableFromInline
func isOWS(_ c: UInt8) -> Bool { c == asciiSP || c == asciiHT }

@inline(__always) @usableFromInline
func asciiLower(_ c: UInt8) -> UInt8 {
    (c &- 0x41) < 26 ? c | 0x20 : c
}

/// Compares `count` bytes at `p` with the lowercase ASCII `literal`, ignoring the
/// case of the bytes at `p`.
@inline(__always) @usableFromInline
func bytesEqualLowercase(_ p: UnsafePointer<UInt8>, _ count: Int, _ literal: StaticString) -> Bool {
    guard count == literal.utf8CodeUnitCount else { return false }
    let l = literal.utf8Start
    var k = 0
    while k < count {
        if asciiLower(p[k]) != l[k] { return false }
        k += 1
    }
    return true
}

@inline(__always) @usableFromInline
func bytesEqualLowercase(_ p: UnsafePointer<UInt8>, _ count: Int,
                         _ lowered: UnsafeBufferPointer<UInt8>) -> Bool {
    guard count == lowered.count else { return false }
    var k = 0
    while k < count {
        if asciiLower(p[k]) != lowered[k] { return false }
        k += 1
    }
    return true
}

extension UnsafeRawBufferPointer {
    @inline(__always) @usableFromInline
    var bytePointer: UnsafePointer<UInt8> {
        // Callers check count > 0 before dereferencing; an empty buffer may have no
        // base address, which only ever pairs with empty spans.
        guard let b = baseAddress else { return UnsafePointer(bitPattern: 1)! }
        return b.assumingMemoryBound(to: UInt8.self)
    }
}

extension HTTPSpan {
    /// True when the bytes of this span in `bytes` equal `literal` ignoring ASCII
    /// case. `literal` must be lowercase ASCII (e.g. `"content-type"`).
    @inline(__always)
    public func equalsCaseInsensitive(_ literal: StaticString, in bytes: UnsafeRawBufferPointer) -> Bool {
        bytesEqualLowercase(bytes.bytePointer + start, count, literal)
    }

    /// Same, against lowercase bytes supplied at run time (a header name from the
    /// config, lowered once at start).
    @inline(__always)
    public func equalsCaseInsensitive(lowercased: UnsafeBufferPointer<UInt8>, in bytes: UnsafeRawBufferPointer) -> Bool {
        bytesEqualLowercase(bytes.bytePointer + start, count, lowercased)
    }

    /// Exact (case-sensitive) comparison with `literal`.
    @inline(__always)
    public func equals(_ literal: StaticString, in bytes: UnsafeRawBufferPointer) -> Bool {
        guard count == literal.utf8CodeUnitCount else { return false }
        let p = bytes.bytePointer + start
        let l = literal.utf8Start
        var k = 0
        while k < count {
            if p[k] != l[k] { return false }
            k += 1
        }
        return true
    }

    /// The bytes of this span, as a buffer view (no copy).
    @inline(__always)
    public func bytes(in buffer: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: buffer[start..<end])
    }

    /// A hash of the span's bytes after ASCII lowercasing (FNV-1a, 64 bit), for
    /// case-insensitive lookups (host names, header names) without making a String.
    @inline(__always)
    public func lowercaseHash(in bytes: UnsafeRawBufferPointer) -> UInt64 {
        asciiLowercaseHash(bytes.bytePointer + start, count)
    }

    /// A copy of the bytes, for tests and diagnostics (allocates; not for the hot path).
    public func string(in bytes: UnsafeRawBufferPointer) -> String {
        String(decoding: self.bytes(in: bytes), as: UTF8.self)
    }
}

/// FNV-1a 64 over ASCII-lowercased bytes.
@inline(__always)
public func asciiLowercaseHash(_ p: UnsafePointer<UInt8>, _ count: Int) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    var k = 0
    while k < count {
        h = (h ^ UInt64(asciiLower(p[k]))) &* 0x0000_0100_0000_01b3
        k += 1
    }
    return h
}

/// FNV-1a 64 over a lowercase ASCII literal; equals `asciiLowercaseHash` of any
/// casing of the same text.
public func asciiLowercaseHash(_ literal: StaticString) -> UInt64 {
    asciiLowercaseHash(literal.utf8Start, literal.utf8CodeUnitCount)
}

/// Helpers on a request target (origin-form `/path?query`, absolute-form
/// `http://host/path?query`, or anything else the request line carried).
public enum HTTPTarget {
    /// The part before the first `?` (the whole target when there is none).
    @inline(__always)
    public static func path(of target: HTTPSpan, in bytes: UnsafeRawBufferPointer) -> HTTPSpan {
        let p = bytes.bytePointer
        var k = target.start
        let e = target.end
        while k < e {
            if p[k] == 0x3F { break } // '?'
            k += 1
        }
        return HTTPSpan(offset: target.start, length: k - target.start)
    }

    /// The part after the first `?`, or nil when the target has no `?` (an empty
    /// query `/a?` is an empty span).
    @inline(__always)
    public static func query(of target: HTTPSpan, in bytes: UnsafeRawBufferPointer) -> HTTPSpan? {
        let p = bytes.bytePointer
        var k = target.start
        let e = target.end
        while k < e {
            if p[k] == 0x3F { return HTTPSpan(offset: k + 1, length: e - k - 1) }
            k += 1
        }
        return nil
    }

    /// The value of the query parameter `name` (case-sensitive, as HAProxy's
    /// `url_param`): the bytes after `name=` up to the next `&` (a `#` ends the
    /// query). Returns nil when the parameter is absent or has no `=`. The first
    /// occurrence wins; the value may be empty.
    public static func urlParameter(_ name: UnsafeBufferPointer<UInt8>, of target: HTTPSpan,
                                    in bytes: UnsafeRawBufferPointer) -> HTTPSpan? {
        guard let q = query(of: target, in: bytes), name.count > 0 else { return nil }
        let p = bytes.bytePointer
        var k = q.start
        let e = q.end
        while k < e {
            // k is at the start of a parameter.
            var j = k
            while j < e && p[j] != 0x26 && p[j] != 0x23 { j += 1 } // '&' '#'
            // parameter is [k, j)
            let len = j - k
            if len > name.count && p[k + name.count] == 0x3D { // '='
                var same = true
                var t = 0
                while t < name.count {
                    if p[k + t] != name[t] { same = false; break }
                    t += 1
                }
                if same {
                    let vs = k + name.count + 1
                    return HTTPSpan(offset: vs, length: j - vs)
                }
            }
            if j < e && p[j] == 0x23 { break }
            k = j + 1
        }
        return nil
    }

    public static func urlParameter(_ name: StaticString, of target: HTTPSpan,
                                    in bytes: UnsafeRawBufferPointer) -> HTTPSpan? {
        urlParameter(UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount),
                     of: target, in: bytes)
    }
}
