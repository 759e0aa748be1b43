#if canImport(Glibc)
import Glibc
#endif
import Shared

/// What a configuration says against what this host has: an interface that does not exist
/// (keepalived 2.2 warns in the same words) and a virtual IP outside every subnet of its
/// interface (keepalived says nothing; the VIP is then added as a /32 that neighbours on the
/// interface's subnet have no reason to look for, the usual slip when a sample's address is
/// kept). Warnings only: interfaces may come later (a veth made after vrrpd starts).
public enum HostCheck {
    /// An IPv4 address of an interface and its prefix length.
    public struct Subnet: Equatable, Sendable, CustomStringConvertible {
        public var address: IPv4Address
        public var prefixLength: Int
        public init(address: IPv4Address, prefixLength: Int) {
            self.address = address
            self.prefixLength = prefixLength
        }
        public func contains(_ other: IPv4Address) -> Bool {
            let mask: UInt32 = prefixLength == 0 ? 0 : ~UInt32(0) << (32 - UInt32(prefixLength))
            return address.value & mask == other.value & mask
        }
        public var description: String { "\(address)/\(prefixLength)" }
    }

    /// The pure check: `interfaces` maps each existing interface to its IPv4 subnets.
    public static func diagnose(_ config: VRRPConfig, interfaces: [String: [Subnet]]) -> Diagnostics {
        var diag = Diagnostics()
        var missing = false
        for instance in config.instances {
            let name = instance.interface ?? config.global.defaultInterface
            guard let subnets = interfaces[name] else {
                diag.warning(instance.interfaceLocation ?? instance.location,
                             "WARNING - interface \(name) for vrrp_instance \(instance.name) doesn't exist")
                missing = true
                continue
            }
            for vip in instance.virtualAddresses {
                let device = vip.device ?? name
                let location = instance.virtualAddressLocations[vip] ?? instance.location
                guard let deviceSubnets = device == name ? subnets : interfaces[device] else {
                    diag.warning(location, "(\(instance.name)) interface \(device) for virtual address \(vip.address) doesn't exist")
                    missing = true
                    continue
                }
                if deviceSubnets.isEmpty {
                    diag.warning(location, "(\(instance.name)) virtual address \(vip.address): \(device) has no IPv4 address, so no subnet it belongs to")
                } else if !deviceSubnets.contains(where: { $0.contains(vip.address) }) {
                    let list = deviceSubnets.map(\.description).joined(separator: ", ")
                    diag.warning(location, "(\(instance.name)) virtual address \(vip.address) is outside every subnet of \(device) (\(list)): hosts there will not find it")
                }
            }
        }
        if missing { diag.warning(nil, "Non-existent interface specified in configuration") }
        return diag
    }

    /// This host's (this network namespace's) interfaces and their IPv4 subnets.
    public static func currentInterfaces() -> [String: [Subnet]] {
        var result: [String: [Subnet]] = [:]
        var head: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&head) == 0 else { return result }
        defer { freeifaddrs(head) }
        var cursor = head
        while let entry = cursor?.pointee {
            defer { cursor = entry.ifa_next }
            let name = String(cString: entry.ifa_name)
            if result[name] == nil { result[name] = [] }
            guard let addr = entry.ifa_addr, addr.pointee.sa_family == sa_family_t(AF_INET),
                  let mask = entry.ifa_netmask else { continue }
            let address = addr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt32(bigEndian: $0.pointee.sin_addr.s_addr) }
            let netmask = mask.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt32(bigEndian: $0.pointee.sin_addr.s_addr) }
            result[name]?.append(Subnet(address: IPv4Address(address), prefixLength: netmask.nonzeroBitCount))
        }
        return result
    }
}
