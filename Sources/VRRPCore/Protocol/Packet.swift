/// VRRP advertisements (RFC 3768 version 2, RFC 5798 version 3, IPv4) as pure values,
/// with an encoder and a validating decoder. No sockets here: bytes in, values out.

public enum VRRPAuth: Equatable, Sendable {
    case none
    /// Simple text password (v2 only), at most 8 bytes on the wire, zero padded.
    case password(String)

    var typeCode: UInt8 {
        switch self { case .none: return 0; case .password: return 1 }
    }

    /// The 8 bytes of the v2 authentication data field.
    var data: [UInt8] {
        switch self {
        case .none: return [UInt8](repeating: 0, count: 8)
        case .password(let p):
            var b = Array(p.utf8.prefix(8))
            while b.count < 8 { b.append(0) }
            return b
        }
    }
}

/// One VRRP advertisement, the VRRP part only (without the IP header).
public struct VRRPAdvert: Equatable, Sendable {
    public var version: UInt8          // 2 or 3
    public var vrid: UInt8
    public var priority: UInt8
    /// v2: seconds. v3: centiseconds (12 bits).
    public var interval: UInt16
    public var addresses: [IPv4Address]
    public var authType: UInt8 = 0     // v2 only
    public var authData: [UInt8] = []  // v2 only, 8 bytes

    public init(version: UInt8, vrid: UInt8, priority: UInt8, interval: UInt16,
                addresses: [IPv4Address], auth: VRRPAuth = .none) {
        self.version = version
        self.vrid = vrid
        self.priority = priority
        self.interval = interval
        self.addresses = addresses
        if version == 2 {
            authType = auth.typeCode
            authData = auth.data
        }
    }

    /// The advertisement interval in centiseconds, whatever the version.
    public var intervalCentiseconds: Int {
        version == 2 ? Int(interval) * 100 : Int(interval)
    }

    /// The VRRP bytes with the checksum filled in. v3 sums the IPv4 pseudo-header
    /// (source, destination, zero, protocol 112, VRRP length), as RFC 5798 and keepalived do;
    /// v2 sums the VRRP message alone (RFC 3768).
    public func encode(source: IPv4Address, destination: IPv4Address) -> [UInt8] {
        var b: [UInt8] = []
        b.reserveCapacity(8 + 4 * addresses.count + 8)
        b.append(version << 4 | 1)
        b.append(vrid)
        b.append(priority)
        b.append(UInt8(truncatingIfNeeded: addresses.count))
        if version == 2 {
            b.append(authType)
            b.append(UInt8(truncatingIfNeeded: interval))
        } else {
            b.append(UInt8((interval >> 8) & 0x0f))
            b.append(UInt8(interval & 0xff))
        }
        b.append(0); b.append(0)
        for a in addresses { b.append(contentsOf: a.bytes) }
        if version == 2 { b.append(contentsOf: authData.count == 8 ? authData : VRRPAuth.none.data) }
        let sum = VRRPAdvert.checksum(b, version: version, source: source, destination: destination)
        b[6] = UInt8(sum >> 8)
        b[7] = UInt8(sum & 0xff)
        return b
    }

    static func pseudoHeaderSum(source: IPv4Address, destination: IPv4Address, length: Int) -> UInt32 {
        var p = source.bytes + destination.bytes
        p += [0, 112, UInt8(length >> 8 & 0xff), UInt8(length & 0xff)]
        return InternetChecksum.partial(p)
    }

    /// The checksum the bytes should carry (the checksum field itself is taken as zero).
    public static func checksum(_ vrrp: [UInt8], version: UInt8, source: IPv4Address,
                                destination: IPv4Address) -> UInt16 {
        var copy = vrrp
        if copy.count >= 8 { copy[6] = 0; copy[7] = 0 }
        let initial = version == 3
            ? pseudoHeaderSum(source: source, destination: destination, length: copy.count) : 0
        return InternetChecksum.compute(copy, initial: initial)
    }
}

/// Why a received packet was dropped. Each reason has its own counter.
public enum DropReason: String, CaseIterable, Sendable, Codable, Error {
    case short = "short"                       // shorter than the headers it claims
    case badIPHeader = "bad_ip_header"         // not IPv4, bad header length, not protocol 112
    case ttl = "bad_ttl"                       // TTL is not 255
    case version = "bad_version"               // VRRP version differs from ours
    case type = "bad_type"                     // not an advertisement (type 1)
    case checksum = "bad_checksum"
    case unknownVRID = "unknown_vrid"          // no instance with that VRID on the interface
    case authType = "auth_type_mismatch"
    case authFailure = "auth_failure"          // password differs
    case interval = "interval_mismatch"        // v2: advert_int differs from ours
    case addressCount = "bad_address_count"    // count field disagrees with the length
    case addressList = "address_list_mismatch" // the VIPs differ from ours
    case ownAddress = "own_address"            // a packet from ourselves
    case unicastSource = "unknown_unicast_source"
}

/// A received packet: the IP facts the validation needs, and the decoded advert.
public struct ReceivedPacket: Equatable, Sendable {
    public var source: IPv4Address
    public var destination: IPv4Address
    public var ttl: UInt8
    public var advert: VRRPAdvert
    /// The VRRP bytes' checksum verifies (with the v3 pseudo-header where applicable).
    public var checksumOK: Bool
}

public enum PacketDecoder {
    /// Parse a whole IPv4 packet carrying VRRP (what a raw socket for protocol 112 reads).
    /// Structural errors give a drop reason; semantic checks are `PacketValidator`'s.
    public static func decodeIPv4(_ p: [UInt8]) -> Result<ReceivedPacket, DropReason> {
        guard p.count >= 20 else { return .failure(.short) }
        guard p[0] >> 4 == 4 else { return .failure(.badIPHeader) }
        let ihl = Int(p[0] & 0x0f) * 4
        guard ihl >= 20, p.count >= ihl else { return .failure(.badIPHeader) }
        guard p[9] == 112 else { return .failure(.badIPHeader) }
        let total = Int(p[2]) << 8 | Int(p[3])
        let end = min(p.count, total >= ihl ? total : p.count)
        let src = IPv4Address(UInt32(p[12]) << 24 | UInt32(p[13]) << 16 | UInt32(p[14]) << 8 | UInt32(p[15]))
        let dst = IPv4Address(UInt32(p[16]) << 24 | UInt32(p[17]) << 16 | UInt32(p[18]) << 8 | UInt32(p[19]))
        return decodeVRRP(Array(p[ihl..<end]), source: src, destination: dst, ttl: p[8])
    }

    public static func decodeVRRP(_ v: [UInt8], source: IPv4Address, destination: IPv4Address,
                                  ttl: UInt8) -> Result<ReceivedPacket, DropReason> {
        guard v.count >= 8 else { return .failure(.short) }
        let version = v[0] >> 4
        guard version == 2 || version == 3 else { return .failure(.version) }
        guard v[0] & 0x0f == 1 else { return .failure(.type) }
        let count = Int(v[3])
        let need = 8 + 4 * count + (version == 2 ? 8 : 0)
        guard v.count >= need else { return .failure(v.count < 8 + 4 * count ? .addressCount : .short) }
        var addrs: [IPv4Address] = []
        addrs.reserveCapacity(count)
        for i in 0..<count {
            let o = 8 + 4 * i
            addrs.append(IPv4Address(UInt32(v[o]) << 24 | UInt32(v[o + 1]) << 16 | UInt32(v[o + 2]) << 8 | UInt32(v[o + 3])))
        }
        var ad = VRRPAdvert(version: version, vrid: v[1], priority: v[2], interval: 0, addresses: addrs)
        if version == 2 {
            ad.authType = v[4]
            ad.interval = UInt16(v[5])
            ad.authData = Array(v[(8 + 4 * count)..<(16 + 4 * count)])
        } else {
            ad.interval = UInt16(v[4] & 0x0f) << 8 | UInt16(v[5])
        }
        // The checksum covers the VRRP message as received (keepalived sums what it got).
        let covered = Array(v[0..<need])
        let want = VRRPAdvert.checksum(covered, version: version, source: source, destination: destination)
        let have = UInt16(v[6]) << 8 | UInt16(v[7])
        return .success(ReceivedPacket(source: source, destination: destination, ttl: ttl,
                                        advert: ad, checksumOK: want == have))
    }
}

/// What one instance expects of the adverts it accepts.
public struct AdvertExpectations: Equatable, Sendable {
    public var version: UInt8
    public var vrid: UInt8
    public var auth: VRRPAuth
    /// v2: seconds; used for the interval check (v3 learns the master's interval instead).
    public var intervalSeconds: UInt16
    public var addresses: [IPv4Address]
    public var checkAddresses: Bool
    public var ownAddresses: Set<IPv4Address>
    /// Unicast: adverts only from these sources (empty: any).
    public var unicastPeers: Set<IPv4Address>

    public init(version: UInt8, vrid: UInt8, auth: VRRPAuth, intervalSeconds: UInt16,
                addresses: [IPv4Address], checkAddresses: Bool = true,
                ownAddresses: Set<IPv4Address> = [], unicastPeers: Set<IPv4Address> = []) {
        self.version = version; self.vrid = vrid; self.auth = auth
        self.intervalSeconds = intervalSeconds; self.addresses = addresses
        self.checkAddresses = checkAddresses; self.ownAddresses = ownAddresses
        self.unicastPeers = unicastPeers
    }
}

public enum PacketValidator {
    /// RFC 5798 section 7.1 (and RFC 3768 section 7.1 for v2): the checks, in order.
    public static func validate(_ r: ReceivedPacket, against e: AdvertExpectations) -> DropReason? {
        if r.ttl != 255 { return .ttl }
        if r.advert.version != e.version { return .version }
        if !r.checksumOK { return .checksum }
        if r.advert.vrid != e.vrid { return .unknownVRID }
        if e.ownAddresses.contains(r.source) { return .ownAddress }
        if !e.unicastPeers.isEmpty && !e.unicastPeers.contains(r.source) { return .unicastSource }
        if e.version == 2 {
            if r.advert.authType != e.auth.typeCode { return .authType }
            if case .password = e.auth, r.advert.authData != e.auth.data { return .authFailure }
            if r.advert.interval != e.intervalSeconds { return .interval }
        }
        if e.checkAddresses && r.advert.priority != 0 {
            if Set(r.advert.addresses) != Set(e.addresses) { return .addressList }
        }
        return nil
    }
}

/// The IPv4 header keepalived puts before its adverts: TOS 0xc0 (internetwork control),
/// TTL 255, protocol 112, no options, DF clear.
public enum IPv4Header {
    public static func build(source: IPv4Address, destination: IPv4Address, id: UInt16,
                             payloadLength: Int, ttl: UInt8 = 255) -> [UInt8] {
        let total = 20 + payloadLength
        var h: [UInt8] = [0x45, 0xc0, UInt8(total >> 8), UInt8(total & 0xff),
                          UInt8(id >> 8), UInt8(id & 0xff), 0, 0, ttl, 112, 0, 0]
        h += source.bytes
        h += destination.bytes
        let sum = InternetChecksum.compute(h)
        h[10] = UInt8(sum >> 8); h[11] = UInt8(sum & 0xff)
        return h
    }
}

/// A gratuitous ARP as keepalived sends it: an ARP request, sender = target = the VIP,
/// target hardware ff:ff:ff:ff:ff:ff, broadcast Ethernet destination.
public enum GratuitousARP {
    public static func frame(mac: [UInt8], address: IPv4Address) -> [UInt8] {
        let bcast = [UInt8](repeating: 0xff, count: 6)
        var f = bcast + mac + [0x08, 0x06]
        f += [0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01]
        f += mac + address.bytes + bcast + address.bytes
        return f
    }
}
