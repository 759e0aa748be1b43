/// The cookie of a Remote Desktop connection's first packet (issue 15): a TPKT header (4
/// bytes) and an X.224 Connection Request header (7 bytes), then a line such as
/// `Cookie: mstshash=USER\r\n` (what `balance rdp-cookie` hashes) or `Cookie:
/// msts=ADDRESS.PORT.0000\r\n` (what `persist rdp-cookie` routes on). Read as HAProxy 2.6's
/// `req.rdp_cookie` reads it: the 11 header bytes are skipped unchecked, `Cookie:` is
/// matched ignoring case, then blanks, then `NAME=` (any name when none is asked for), the
/// value runs to a CR that must be followed by LF.
enum RDPCookie {
    enum Lookup: Equatable {
        /// Where the value is in the bytes.
        case value(Range<Int>)
        /// Too few bytes yet to tell (HAProxy's "may change": rules wait for more).
        case needMore
        /// No such cookie.
        case absent
    }

    static let headerLength = 11

    static func find(in bytes: UnsafeRawBufferPointer, name: [UInt8]?) -> Lookup {
        var i = headerLength
        guard bytes.count > i else { return .needMore }
        let cookie: [UInt8] = Array("cookie:".utf8)
        guard bytes.count - i > cookie.count else { return .needMore }
        for k in 0..<cookie.count where lower(bytes[i + k]) != cookie[k] { return .absent }
        i += cookie.count
        while i < bytes.count, bytes[i] == UInt8(ascii: " ") { i += 1 }
        if let name {
            guard bytes.count - i > name.count else { return .needMore }
            guard bytes[i + name.count] == UInt8(ascii: "=") else { return .absent }
            for k in 0..<name.count where lower(bytes[i + k]) != lower(name[k]) { return .absent }
            i += name.count + 1
        } else {
            while i < bytes.count, bytes[i] != UInt8(ascii: "=") {
                if bytes[i] == 13 || bytes[i] == 10 { return .absent }
                i += 1
            }
            guard bytes.count - i > 1 else { return .needMore }
            i += 1
        }
        let start = i
        while i < bytes.count, bytes[i] != 13 { i += 1 }
        guard bytes.count - i >= 2 else { return .needMore }
        guard bytes[i + 1] == 10 else { return .absent }
        return .value(start..<i)
    }

    /// `find` on an array.
    static func find(in bytes: [UInt8], name: [UInt8]?) -> Lookup {
        bytes.withUnsafeBytes { find(in: $0, name: name) }
    }

    /// `persist rdp-cookie`'s reading of `ADDRESS.PORT.…`: decimal numbers whose bytes, in
    /// the machine's (little-endian) order, are the IPv4 address and the port in network
    /// order (Microsoft's encoding: 172.31.249.216:3389 is `3640205228.15629`). Digits are
    /// read as C's `strtoul` reads them, truncated to 32 and 16 bits.
    static func serverAddress(_ value: some Collection<UInt8>) -> (address: [UInt8], port: Int)? {
        var parts: [UInt64] = []
        var current: UInt64 = 0
        var iterator = value.makeIterator()
        while parts.count < 2, let byte = iterator.next() {
            if byte >= 0x30, byte <= 0x39 {
                current = current &* 10 &+ UInt64(byte - 0x30)
            } else if byte == UInt8(ascii: ".") {
                parts.append(current)  // no digits read as 0, as strtoul does
                current = 0
            } else {
                return nil
            }
        }
        guard parts.count == 2 else { return nil }
        let address = UInt32(truncatingIfNeeded: parts[0])
        let port = UInt16(truncatingIfNeeded: parts[1])
        return ([UInt8(address & 255), UInt8(address >> 8 & 255), UInt8(address >> 16 & 255), UInt8(address >> 24)],
                Int(port.byteSwapped))
    }

    /// Whether the bytes so far could still grow into the cookie line of a TPKT packet
    /// (one starting with version 3 whose announced length has not all arrived): the
    /// content inspection then waits for more, within `tcp-request inspect-delay`.
    static func packetIncomplete(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let first = bytes.first, first == 3 else { return false }
        guard bytes.count >= 4 else { return true }
        let length = Int(bytes[2]) << 8 | Int(bytes[3])
        return bytes.count < length
    }

    private static func lower(_ byte: UInt8) -> UInt8 {
        (byte &- 0x41) < 26 ? byte | 0x20 : byte
    }
}
