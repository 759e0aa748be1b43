#if canImport(Glibc)
import Glibc
#endif
import CLinux

public struct SystemError: Error, CustomStringConvertible {
    public var what: String
    public var errno: Int32
    public init(_ what: String, _ e: Int32 = Glibc.errno) { self.what = what; self.errno = e }
    public var description: String { "\(what): \(String(cString: strerror(errno)))" }
}

public struct LinkInfo: Equatable, Sendable {
    public var index: Int32
    public var name: String
    public var flags: UInt32
    public var mac: [UInt8]
    /// Administratively up and with carrier (what keepalived calls UP, RUNNING).
    public var isUp: Bool { flags & UInt32(IFF_UP) != 0 && flags & UInt32(IFF_RUNNING) != 0 }
}

public struct AddressInfo: Equatable, Sendable {
    public var index: Int32
    public var address: IPv4Address
    public var prefixLength: Int
    public var label: String?
    public var secondary: Bool
}

/// rtnetlink (NETLINK_ROUTE): link and address dumps, address add/remove, and a second
/// socket that listens for link changes.
public final class Netlink {
    let fd: Int32
    var seq: UInt32 = 1

    public init(groups: UInt32 = 0) throws {
        fd = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), NETLINK_ROUTE)
        guard fd >= 0 else { throw SystemError("netlink socket") }
        var sa = sockaddr_nl()
        sa.nl_family = sa_family_t(AF_NETLINK)
        sa.nl_groups = groups
        let r = withUnsafePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_nl>.size)) }
        }
        guard r == 0 else { let e = SystemError("netlink bind"); close(fd); throw e }
    }

    deinit { close(fd) }

    public var fileDescriptor: Int32 { fd }

    // MARK: message building

    static func align(_ n: Int) -> Int { (n + 3) & ~3 }

    static func attr(_ type: Int, _ payload: [UInt8]) -> [UInt8] {
        let len = 4 + payload.count
        var b: [UInt8] = [UInt8(len & 0xff), UInt8(len >> 8), UInt8(type & 0xff), UInt8(type >> 8)] + payload
        while b.count % 4 != 0 { b.append(0) }
        return b
    }

    func message(type: Int32, flags: Int32, body: [UInt8]) -> [UInt8] {
        seq &+= 1
        let len = 16 + body.count
        var h = [UInt8](repeating: 0, count: 16)
        func put32(_ v: UInt32, _ o: Int) { for i in 0..<4 { h[o + i] = UInt8((v >> (8 * UInt32(i))) & 0xff) } }
        func put16(_ v: UInt16, _ o: Int) { h[o] = UInt8(v & 0xff); h[o + 1] = UInt8(v >> 8) }
        put32(UInt32(len), 0)
        put16(UInt16(type), 4)
        put16(UInt16(flags), 6)
        put32(seq, 8)
        return h + body
    }

    func send(_ msg: [UInt8]) throws {
        var sa = sockaddr_nl()
        sa.nl_family = sa_family_t(AF_NETLINK)
        let n = msg.withUnsafeBytes { buf in
            withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, buf.baseAddress, buf.count, 0, $0, socklen_t(MemoryLayout<sockaddr_nl>.size))
                }
            }
        }
        guard n == msg.count else { throw SystemError("netlink send") }
    }

    /// Messages as (type, payload after the 16-byte header).
    static func split(_ b: [UInt8]) -> [(type: Int, flags: Int, seq: UInt32, payload: [UInt8])] {
        var out: [(Int, Int, UInt32, [UInt8])] = []
        var o = 0
        while o + 16 <= b.count {
            let len = Int(b[o]) | Int(b[o + 1]) << 8 | Int(b[o + 2]) << 16 | Int(b[o + 3]) << 24
            guard len >= 16, o + len <= b.count else { break }
            let type = Int(b[o + 4]) | Int(b[o + 5]) << 8
            let flags = Int(b[o + 6]) | Int(b[o + 7]) << 8
            let seq = UInt32(b[o + 8]) | UInt32(b[o + 9]) << 8 | UInt32(b[o + 10]) << 16 | UInt32(b[o + 11]) << 24
            out.append((type, flags, seq, Array(b[(o + 16)..<(o + len)])))
            o += align(len)
        }
        return out
    }

    static func attributes(_ b: [UInt8], from start: Int) -> [Int: [UInt8]] {
        var out: [Int: [UInt8]] = [:]
        var o = start
        while o + 4 <= b.count {
            let len = Int(b[o]) | Int(b[o + 1]) << 8
            let type = (Int(b[o + 2]) | Int(b[o + 3]) << 8) & 0x3fff
            guard len >= 4, o + len <= b.count else { break }
            out[type] = Array(b[(o + 4)..<(o + len)])
            o += align(len)
        }
        return out
    }

    func receiveRaw(blocking: Bool = true) -> [UInt8]? {
        var buf = [UInt8](repeating: 0, count: 65536)
        let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, blocking ? 0 : Int32(MSG_DONTWAIT)) }
        guard n > 0 else { return nil }
        return Array(buf[0..<n])
    }

    /// Send a request and collect replies until DONE (dumps) or the ACK/error.
    func transact(_ msg: [UInt8], dump: Bool) throws -> [[UInt8]] {
        try send(msg)
        let mySeq = seq
        var payloads: [[UInt8]] = []
        for _ in 0..<10_000 {
            guard let b = receiveRaw() else { throw SystemError("netlink recv") }
            for m in Netlink.split(b) where m.seq == mySeq {
                if m.type == Int(NLMSG_DONE) { return payloads }
                if m.type == Int(NLMSG_ERROR) {
                    let p = m.payload
                    let err = Int32(bitPattern: UInt32(p[0]) | UInt32(p[1]) << 8 | UInt32(p[2]) << 16 | UInt32(p[3]) << 24)
                    if err != 0 { throw SystemError("netlink", -err) }
                    if !dump { return payloads }
                    continue
                }
                payloads.append(m.payload)
            }
        }
        throw SystemError("netlink: no end of reply", EIO)
    }

    // MARK: queries

    public static func parseLink(_ p: [UInt8]) -> LinkInfo? {
        guard p.count >= 16 else { return nil }
        let index = Int32(bitPattern: UInt32(p[4]) | UInt32(p[5]) << 8 | UInt32(p[6]) << 16 | UInt32(p[7]) << 24)
        let flags = UInt32(p[8]) | UInt32(p[9]) << 8 | UInt32(p[10]) << 16 | UInt32(p[11]) << 24
        let attrs = attributes(p, from: 16)
        var name = ""
        if let n = attrs[Int(IFLA_IFNAME)] { name = String(decoding: n.prefix { $0 != 0 }, as: UTF8.self) }
        return LinkInfo(index: index, name: name, flags: flags, mac: attrs[Int(IFLA_ADDRESS)] ?? [])
    }

    public func links() throws -> [LinkInfo] {
        var body = [UInt8](repeating: 0, count: 16) // ifinfomsg
        body[0] = UInt8(AF_UNSPEC)
        let msg = message(type: Int32(RTM_GETLINK), flags: Int32(NLM_F_REQUEST | NLM_F_DUMP), body: body)
        return try transact(msg, dump: true).compactMap(Netlink.parseLink)
    }

    public func addresses() throws -> [AddressInfo] {
        var body = [UInt8](repeating: 0, count: 8) // ifaddrmsg
        body[0] = UInt8(AF_INET)
        let msg = message(type: Int32(RTM_GETADDR), flags: Int32(NLM_F_REQUEST | NLM_F_DUMP), body: body)
        return try transact(msg, dump: true).compactMap { (p: [UInt8]) -> AddressInfo? in
            guard p.count >= 8, p[0] == UInt8(AF_INET) else { return nil }
            let index = Int32(bitPattern: UInt32(p[4]) | UInt32(p[5]) << 8 | UInt32(p[6]) << 16 | UInt32(p[7]) << 24)
            let attrs = Netlink.attributes(p, from: 8)
            guard let a = attrs[Int(IFA_LOCAL)] ?? attrs[Int(IFA_ADDRESS)], a.count == 4 else { return nil }
            let label = attrs[Int(IFA_LABEL)].map { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            return AddressInfo(index: index,
                               address: IPv4Address(UInt32(a[0]) << 24 | UInt32(a[1]) << 16 | UInt32(a[2]) << 8 | UInt32(a[3])),
                               prefixLength: Int(p[1]), label: label,
                               secondary: p[2] & UInt8(IFA_F_SECONDARY) != 0)
        }
    }

    static func scopeValue(_ s: String) -> UInt8 {
        switch s {
        case "global": return UInt8(RT_SCOPE_UNIVERSE.rawValue)
        case "site": return UInt8(RT_SCOPE_SITE.rawValue)
        case "link": return UInt8(RT_SCOPE_LINK.rawValue)
        case "host": return UInt8(RT_SCOPE_HOST.rawValue)
        case "nowhere": return UInt8(RT_SCOPE_NOWHERE.rawValue)
        default: return UInt8(s) ?? 0
        }
    }

    /// Add (or delete) one address with its label, broadcast and scope. Adding an address
    /// that is already there, or deleting one that is not, is not an error.
    public func changeAddress(_ v: VirtualAddress, index: Int32, add: Bool) throws {
        var body: [UInt8] = [UInt8(AF_INET), UInt8(v.prefixLength), 0, Netlink.scopeValue(v.scope)]
        let idx = UInt32(bitPattern: index)
        body += [UInt8(idx & 0xff), UInt8(idx >> 8 & 0xff), UInt8(idx >> 16 & 0xff), UInt8(idx >> 24)]
        body += Netlink.attr(Int(IFA_LOCAL), v.address.bytes)
        body += Netlink.attr(Int(IFA_ADDRESS), v.address.bytes)
        if add {
            if let b = v.broadcast { body += Netlink.attr(Int(IFA_BROADCAST), b.bytes) }
            if let l = v.label { body += Netlink.attr(Int(IFA_LABEL), Array(l.utf8) + [0]) }
        }
        let flags = add ? NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL : NLM_F_REQUEST | NLM_F_ACK
        let msg = message(type: Int32(add ? RTM_NEWADDR : RTM_DELADDR), flags: Int32(flags), body: body)
        do {
            _ = try transact(msg, dump: false)
        } catch let e as SystemError where (add && e.errno == EEXIST) || (!add && (e.errno == EADDRNOTAVAIL || e.errno == ENODEV)) {
            return
        }
    }

    /// For a monitor socket: the link messages waiting, without blocking.
    public func pendingLinkChanges() -> [LinkInfo] {
        var out: [LinkInfo] = []
        for _ in 0..<64 {
            guard let b = receiveRaw(blocking: false) else { break }
            for m in Netlink.split(b) where m.type == Int(RTM_NEWLINK) || m.type == Int(RTM_DELLINK) {
                if var l = Netlink.parseLink(m.payload) {
                    if m.type == Int(RTM_DELLINK) { l.flags = 0 }
                    out.append(l)
                }
            }
        }
        return out
    }
}
