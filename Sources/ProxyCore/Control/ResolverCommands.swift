/// The runtime API's DNS commands (issue 15): `show resolvers [NAME]` and `set server
/// B/S fqdn NAME`, answered in HAProxy 2.6's words.
enum ResolverCommands {
    static func register(_ r: inout CommandRegistry) {
        r.add("show resolvers", usage: "show resolvers [id]",
              help: "dumps counters from all resolvers section and associated name servers") { args, _, context in
            let name = args.count > 2 ? args[2] : nil
            guard let dns = context.runtime.dns else { return name == nil ? "" : "Can't find that resolvers section\n" }
            if let name, dns.section(named: name) == nil { return "Can't find that resolvers section\n" }
            return dns.show(name)
        }
    }

    /// `set server B/S fqdn NAME`: the server follows NAME from now on (asked at once).
    static func setFQDN(_ name: String, path: String, _ server: RuntimeServer, _ context: StatsContext) -> String {
        guard !name.isEmpty else { return "set server <b>/<s> fqdn requires a FQDN.\n" }
        guard let state = server.dns, let section = context.runtime.dns?.section(named: state.resolvers) else {
            return "set server <b>/<s> fqdn failed because no resolution is configured.\n"
        }
        guard isHostname(name) else { return "set server <b>/<s> fqdn failed because of an invalid FQDN.\n" }
        let old = state.snapshot.fqdn ?? "(null)"
        // HAProxy 2.6 marks the name as set at run time (SRV_ADMF_HMAINT, 0x40 in `show
        // servers state`) when the server was waiting for DNS, not when it had an address.
        let waiting = server.status.withLockedValue { $0.resolutionMaintenance }
        state.update {
            $0.fqdn = DNSResolution.normalised(name)
            if waiting { $0.hostnameFromRuntime = true }
        }
        section.refollow(server, hostname: name)
        return "\(path) changed its FQDN from \(old) to \(name) by 'stats socket command'\n"
    }

    /// Letters, digits, `-`, `_` and dots, labels of 1…63 bytes, 255 in all.
    static func isHostname(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty, bytes.count <= 255 else { return false }
        for label in name.split(separator: ".", omittingEmptySubsequences: false).dropLast(name.hasSuffix(".") ? 1 : 0) {
            guard (1...63).contains(label.utf8.count),
                  label.utf8.allSatisfy({ $0 == 0x2D || $0 == 0x5F || (0x30...0x39).contains($0)
                      || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) }) else { return false }
        }
        return true
    }
}
