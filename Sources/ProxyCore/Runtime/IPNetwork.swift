/// An IPv4 or IPv6 network (`10.0.0.0/8`, `::1/128`), for `option forwardfor except`
/// and `src` ACLs.
public struct IPNetwork: Sendable, Equatable {
    /// Network address bytes (4 or 16), already masked.
    public let bytes: [UInt8]
    public let prefixLength: Int

    public init?(bytes: [UInt8], prefixLength: Int) {
        guard bytes.count == 4 || bytes.count == 16,
              prefixLength >= 0, prefixLength <= bytes.count * 8 else { return nil }
        self.prefixLength = prefixLength
        self.bytes = IPNetwork.mask(bytes, prefixLength)
    }

    /// True when `address` (4 or 16 bytes) lies in this network.
    public func contains(_ address: [UInt8]) -> Bool {
        guard address.count == bytes.count else { return false }
        return IPNetwork.mask(address, prefixLength) == bytes
    }

    private static func mask(_ bytes: [UInt8], _ prefix: Int) -> [UInt8] {
        var out = bytes
        for i in 0..<out.count {
            let bitsHere = max(0, min(8, prefix - i * 8))
            out[i] &= bitsHere == 0 ? 0 : UInt8(truncatingIfNeeded: 0xFF << (8 - bitsHere))
        }
        return out
    }
}
