// The hash functions of HAProxy's `hash-type … <function> [avalanche]`, written from
// their definitions. All produce 32-bit values, as HAProxy's do, so the same key
// lands on the same server in both (for the same server ids and weights).

public enum BalanceHashFunction: Hashable, Sendable {
    /// hash = c + (hash << 6) + (hash << 16) - hash, from 0. HAProxy's default.
    case sdbm
    /// hash = hash * 33 + c, from 5381.
    case djb2
    /// Willy Tarreau's "wt6": two 32-bit words rotated by data-dependent amounts.
    case wt6
    /// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, initial and final ~0).
    case crc32

    @inline(__always)
    public func hash(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        hash(bytes.bytePointer, bytes.count)
    }

    @inline(__always)
    public func hash(_ p: UnsafePointer<UInt8>, _ count: Int) -> UInt32 {
        switch self {
        case .sdbm: return sdbmHash(p, count)
        case .djb2: return djb2Hash(p, count)
        case .wt6: return wt6Hash(p, count)
        case .crc32: return crc32Hash(p, count)
        }
    }
}

@inline(__always)
public func sdbmHash(_ p: UnsafePointer<UInt8>, _ count: Int) -> UInt32 {
    var h: UInt32 = 0
    var k = 0
    while k < count {
        h = UInt32(p[k]) &+ (h << 6) &+ (h << 16) &- h
        k += 1
    }
    return h
}

@inline(__always)
public func djb2Hash(_ p: UnsafePointer<UInt8>, _ count: Int) -> UInt32 {
    var h: UInt32 = 5381
    var k = 0
    while k < count {
        h = (h << 5) &+ h &+ UInt32(p[k])
        k += 1
    }
    return h
}

@inline(__always)
func rotateLeft(_ x: UInt32, _ n: UInt32) -> UInt32 {
    // A rotation by 0 leaves x (the C original shifts right by 32 there, which x86
    // treats as a shift by 0, giving x | x).
    (x &<< n) | (x &>> (32 &- n))
}

@inline(__always)
public func wt6Hash(_ p: UnsafePointer<UInt8>, _ count: Int) -> UInt32 {
    var h0: UInt32 = 0xa53c_965a
    var h1: UInt32 = 0x5ca6_953a
    var step0: UInt32 = 6
    var step1: UInt32 = 18
    var k = 0
    while k < count {
        let t = UInt32(p[k])
        h0 = ~(h0 ^ t)
        h1 = ~(h1 &+ t)
        let r = rotateLeft(h1, step0)
        h1 = rotateLeft(h0, step1)
        h0 = r
        let m = ((h0 >> 16) ^ h1) & 0xffff
        step0 = m & 0x1f
        step1 = m >> 11
        k += 1
    }
    return h0 ^ h1
}

@inline(__always)
public func crc32Hash(_ p: UnsafePointer<UInt8>, _ count: Int) -> UInt32 {
    var h: UInt32 = ~0
    var k = 0
    while k < count {
        h ^= UInt32(p[k])
        for _ in 0..<8 {
            h = (h >> 1) ^ ((h & 1) != 0 ? 0xedb8_8320 : 0)
        }
        k += 1
    }
    return ~h
}

/// The `avalanche` modifier, and the key of consistent-hash ring points: Bob
/// Jenkins' 32-bit integer mix (six add/xor-shift rounds), as HAProxy's full_hash.
@inline(__always)
public func avalancheHash(_ x: UInt32) -> UInt32 {
    var a = x
    a = (a &+ 0x7ed5_5d16) &+ (a << 12)
    a = (a ^ 0xc761_c23c) ^ (a >> 19)
    a = (a &+ 0x1656_67b1) &+ (a << 5)
    a = (a &+ 0xd3a2_646c) ^ (a << 9)
    a = (a &+ 0xfd70_46c5) &+ (a << 3)
    a = (a ^ 0xb55a_4f09) ^ (a >> 16)
    return a
}

/// SplitMix64: a small, fast generator for `balance random`. Not cryptographic.
public struct SplitMix64: Sendable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    @inline(__always)
    public mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
    /// Uniform in 0..<bound (bound > 0), by multiply-shift.
    @inline(__always)
    public mutating func next(below bound: UInt64) -> UInt64 {
        next().multipliedFullWidth(by: bound).high
    }
}
