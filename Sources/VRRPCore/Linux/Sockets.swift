#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// The raw IPv4 socket for protocol 112 on one interface: bound to the device, joined to
/// the VRRP group, TTL 255, our own IP header (IP_HDRINCL) as keepalived builds it.
public final class VRRPSocket {
    public let fd: Int32
    public let ifindex: Int32
    public let ifname: String
    let group: IPv4Address
    var joined = false

    public init(ifname: String, ifindex: Int32, group: IPv4Address, joinGroup: Bool) throws {
        fd = socket(AF_INET, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 112)
        guard fd >= 0 else {
            let e = errno
            if e == EPERM || e == EACCES {
                throw SystemError("vrrpd needs CAP_NET_RAW and CAP_NET_ADMIN (run it as root, or grant them: setcap cap_net_raw,cap_net_admin+ep vrrpd); raw socket for VRRP", e)
            }
            throw SystemError("raw socket for VRRP (protocol 112)", e)
        }
        self.ifindex = ifindex
        self.ifname = ifname
        self.group = group
        var one: Int32 = 1
        var zero: Int32 = 0
        var ttl: Int32 = 255
        let isz = socklen_t(MemoryLayout<Int32>.size)
        do {
            guard setsockopt(fd, Int32(IPPROTO_IP), IP_HDRINCL, &one, isz) == 0 else { throw SystemError("IP_HDRINCL") }
            var name = Array(ifname.utf8CString)
            guard setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, &name, socklen_t(name.count)) == 0 else {
                throw SystemError("SO_BINDTODEVICE \(ifname)")
            }
            guard setsockopt(fd, Int32(IPPROTO_IP), IP_MULTICAST_TTL, &ttl, isz) == 0 else { throw SystemError("IP_MULTICAST_TTL") }
            guard setsockopt(fd, Int32(IPPROTO_IP), IP_MULTICAST_LOOP, &zero, isz) == 0 else { throw SystemError("IP_MULTICAST_LOOP") }
            let r = clinux_mcast_if(fd, ifindex)
            guard r == 0 else { throw SystemError("IP_MULTICAST_IF \(ifname)", -r) }
            if joinGroup {
                let j = clinux_mcast_membership(fd, group.value.bigEndian, ifindex, 1)
                guard j == 0 else { throw SystemError("IP_ADD_MEMBERSHIP \(group) on \(ifname)", -j) }
                joined = true
            }
        } catch {
            close(fd)
            throw error
        }
    }

    deinit {
        if joined { _ = clinux_mcast_membership(fd, group.value.bigEndian, ifindex, 0) }
        close(fd)
    }

    /// Send a whole IPv4 packet (header included).
    @discardableResult
    public func send(_ packet: [UInt8], to dst: IPv4Address) -> Bool {
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_addr.s_addr = dst.value.bigEndian
        let n = packet.withUnsafeBytes { buf in
            withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, buf.baseAddress, buf.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        return n == packet.count
    }

    /// One waiting packet (IP header included), or nil when there is none.
    public func receive() -> [UInt8]? {
        var buf = [UInt8](repeating: 0, count: 2048)
        let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
        guard n > 0 else { return nil }
        return Array(buf[0..<n])
    }
}

/// An AF_PACKET socket for gratuitous ARPs.
public final class ARPSocket {
    let fd: Int32

    public init() throws {
        fd = socket(AF_PACKET, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue),
                    Int32(UInt16(ETH_P_ARP).bigEndian))
        guard fd >= 0 else {
            let e = errno
            if e == EPERM || e == EACCES {
                throw SystemError("vrrpd needs CAP_NET_RAW and CAP_NET_ADMIN (run it as root, or grant them); packet socket for gratuitous ARP", e)
            }
            throw SystemError("packet socket for gratuitous ARP", e)
        }
        // Never read: keep the receive queue from filling.
        var zero: Int32 = 0
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &zero, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit { close(fd) }

    @discardableResult
    public func send(frame: [UInt8], ifindex: Int32) -> Bool {
        var sa = sockaddr_ll()
        sa.sll_family = UInt16(AF_PACKET)
        sa.sll_protocol = UInt16(ETH_P_ARP).bigEndian
        sa.sll_ifindex = ifindex
        sa.sll_halen = 6
        withUnsafeMutableBytes(of: &sa.sll_addr) { p in for i in 0..<6 { p[i] = 0xff } }
        let n = frame.withUnsafeBytes { buf in
            withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, buf.baseAddress, buf.count, 0, $0, socklen_t(MemoryLayout<sockaddr_ll>.size))
                }
            }
        }
        return n == frame.count
    }
}

/// Monotonic clock in nanoseconds.
public enum MonotonicClock {
    public static func now() -> Nanos {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Nanos(ts.tv_sec) * .second + Nanos(ts.tv_nsec)
    }
}
