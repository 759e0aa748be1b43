#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// The goodbye a VRRP child could not say. When the child dies unasked (SIGKILL, a crash)
/// its VIPs stay on the interfaces and no priority-0 advert goes out: the peers would wait a
/// whole Master_Down_Interval while both nodes answer for the VIP. The supervisor runs this
/// once the child is reaped, so nothing else can be holding the VIPs on this node.
public enum VIPRelease {
    /// For each configured instance whose VIPs are on their interfaces (it was master):
    /// removes them, then sends one priority-0 advert as the child would have, so the backup
    /// takes over after its skew time. Returns the names of the instances released.
    @discardableResult
    public static func run(_ config: VRRPConfig, log: VRRPLog) -> [String] {
        let netlink: Netlink
        do { netlink = try Netlink() } catch {
            log.error("cannot release the dead VRRP child's VIPs: \(error)")
            return []
        }
        let links = Dictionary(((try? netlink.links()) ?? []).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let addrs = (try? netlink.addresses()) ?? []
        var released: [String] = []
        for ic in config.instances {
            let rt = InstanceRuntime(config: ic, global: config.global)
            let vips = ic.virtualAddresses + ic.excludedAddresses
            var removed: [String] = []
            for v in vips {
                let dev = v.device ?? rt.ifname
                guard let l = links[dev], addrs.contains(where: { $0.index == l.index && $0.address == v.address }) else { continue }
                do {
                    try netlink.changeAddress(v, index: l.index, add: false)
                    removed.append("\(v.address) from \(dev)")
                } catch {
                    log.error("(\(ic.name)) cannot remove VIP \(v.address) from \(dev): \(error)")
                }
            }
            guard !removed.isEmpty else { continue }
            released.append(ic.name)
            log.info("(\(ic.name)) the VRRP child died as master: removed VIP \(removed.joined(separator: ", "))")
            sayGoodbye(rt, config, links: links, addrs: addrs, log: log)
        }
        return released
    }

    /// One priority-0 advert per destination, built as VRRPDaemon.sendAdvert builds it
    /// (version, VRID, interval, authentication, address list, source address).
    static func sayGoodbye(_ rt: InstanceRuntime, _ config: VRRPConfig, links: [String: LinkInfo],
                           addrs: [AddressInfo], log: VRRPLog) {
        guard let l = links[rt.ifname] else { return }
        let vips = Set((rt.config.virtualAddresses + rt.config.excludedAddresses).map(\.address))
        let mine = addrs.filter { $0.index == l.index && !vips.contains($0.address) }
        rt.primary = (mine.first { !$0.secondary } ?? mine.first)?.address
        guard let src = rt.sourceAddress else {
            log.error("(\(rt.name)) no address on \(rt.ifname) to send the priority-0 advert from")
            return
        }
        let socket: VRRPSocket
        do {
            socket = try VRRPSocket(ifname: rt.ifname, ifindex: l.index, group: config.global.mcastGroup4, joinGroup: false)
        } catch {
            log.error("(\(rt.name)) cannot send the priority-0 advert: \(error)")
            return
        }
        let interval = rt.version == 2 ? UInt16(rt.intervalCs / 100) : UInt16(rt.intervalCs)
        let ad = VRRPAdvert(version: rt.version, vrid: rt.vrid, priority: 0, interval: interval,
                            addresses: rt.config.virtualAddresses.map(\.address), auth: rt.auth)
        for dst in rt.destinations {
            let vrrp = ad.encode(source: src, destination: dst)
            let ip = IPv4Header.build(source: src, destination: dst, id: UInt16.random(in: 1...UInt16.max), payloadLength: vrrp.count)
            if socket.send(ip + vrrp, to: dst) {
                log.info("(\(rt.name)) sent 0 priority to \(dst) for the dead VRRP child")
            } else {
                log.error("(\(rt.name)) priority-0 advert to \(dst) failed: \(String(cString: strerror(errno)))")
            }
        }
    }
}
