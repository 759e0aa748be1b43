import NIOCore

/// Turns a resolution's targets into server state: each row (the servers of one backend
/// following the name) shares the targets (DNSSlotAssignment); a server that gets a
/// target takes its address (and an SRV record's port and weight) and leaves MAINT
/// (resolution); one left without goes to it, as HAProxy's servers do.
enum DNSServerUpdates {
    /// Returns true when some server's address changed (HAProxy's `update` counter).
    static func apply(_ resolution: DNSResolution, runtime: ProxyRuntime) -> Bool {
        var rows: [ObjectIdentifier: [DNSResolution.Binding]] = [:]
        var order: [ObjectIdentifier] = []
        for binding in resolution.bindings {
            let key = ObjectIdentifier(binding.backend)
            if rows[key] == nil { order.append(key) }
            rows[key, default: []].append(binding)
        }
        let offered = resolution.items.map(\.target)
        var isService = false
        if case .service = resolution.kind { isService = true }
        var changed = false
        for key in order {
            let row = rows[key]!
            let assigned = DNSSlotAssignment.assign(
                current: row.map { $0.state.snapshot.target }, offered: offered,
                allowDuplicates: row.first!.resolution.allowDuplicateIP,
                preferredNetworks: row.first!.resolution.preferredNetworks)
            for (binding, target) in zip(row, assigned) {
                if give(target, to: binding, runtime: runtime, isService: isService) {
                    changed = true
                }
            }
        }
        return changed
    }

    /// Returns true when the server's address changed.
    static func give(_ target: DNSTarget?, to binding: DNSResolution.Binding, runtime: ProxyRuntime,
                     isService: Bool) -> Bool {
        let server = binding.server
        let before = binding.state.snapshot
        let inMaintenance = server.status.withLockedValue { $0.resolutionMaintenance }
        guard let target else {
            guard before.hasAddress || !inMaintenance else { return false }
            binding.state.update {
                $0.target = nil
                $0.hasAddress = false
                $0.wasStopped = true
                if isService {
                    $0.fqdn = nil
                    $0.hostnameFromRuntime = false
                }
            }
            runtime.updateServer(server, in: binding.backend) { $0.resolutionMaintenance = true }
            return true
        }
        let port = target.port ?? before.configuredPort
        let oldPort = before.target?.port ?? before.configuredPort
        let moved = !before.hasAddress || before.target?.address != target.address || oldPort != port
        if moved, let address = try? SocketAddress(ipAddress: target.address.description, port: port) {
            server.changeAddress(to: address)
        }
        binding.state.update {
            $0.target = target
            $0.hasAddress = true
            if let host = target.hostname {
                $0.fqdn = host
                $0.hostnameFromRuntime = true
            }
        }
        // HAProxy's weight from an SRV record: 0…65535 onto 0…256, rounded up (10 is 1,
        // 512 is 2, 767 and 300 are 3 and 2).
        let weight = binding.resolution.ignoreWeight ? nil : target.weight.map { ($0 + 255) / 256 }
        let currentWeight = server.status.withLockedValue { $0.weight }
        if inMaintenance || (weight != nil && weight != currentWeight) {
            runtime.updateServer(server, in: binding.backend) { status in
                status.resolutionMaintenance = false
                if let weight { status.weight = weight }
            }
        }
        return moved
    }
}
