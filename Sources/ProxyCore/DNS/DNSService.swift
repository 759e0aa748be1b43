import NIOCore

/// Every `resolvers` section of the running configuration, and the servers that follow
/// DNS (issue 15). Built with the runtime; the queries start with the health checks, once
/// proxyd serves (after it dropped its privileges).
public final class DNSService: @unchecked Sendable {
    let sections: [DNSResolversRuntime]

    /// Attaches a `ServerDNSState` to each server that says `resolvers`; one without an
    /// address yet starts in MAINT (resolution). `backends` pairs each runtime backend with
    /// its server lines (in the same order as its servers).
    init(config: ProxyConfiguration, backends: [(servers: [ServerSettings], backend: RuntimeBackend)], runtime: ProxyRuntime) {
        let loop = runtime.group.next()
        sections = config.resolvers.map { DNSResolversRuntime(settings: $0, loop: loop) }
        for section in sections { section.runtime = runtime }
        let now = ProcessClock.milliseconds
        for (servers, backend) in backends {
            for (settings, server) in zip(servers, backend.servers) {
                guard let name = settings.resolution.resolvers,
                      let section = sections.first(where: { $0.settings.name == name }) else {
                    // `init-addr none` without resolvers: in MAINT (resolution) until `set
                    // server addr`, as in HAProxy.
                    if settings.addresses.isEmpty, settings.unixPath == nil {
                        server.dns = ServerDNSState(resolvers: "", snapshot: .init(
                            fqdn: settings.host.isEmpty ? nil : settings.host, srvRecord: nil, target: nil,
                            hasAddress: false, configuredPort: settings.port ?? 0, wasStopped: true))
                        runtime.updateServer(server, in: backend) { $0.resolutionMaintenance = true }
                    }
                    continue
                }
                let isService = settings.host.hasPrefix("_")
                let held = settings.addresses.first.map { DNSTarget(key: $0.description, address: $0) }
                let state = ServerDNSState(resolvers: name, snapshot: .init(
                    fqdn: isService ? nil : DNSResolution.normalised(settings.host),
                    srvRecord: isService ? settings.host : nil,
                    target: isService ? nil : held, hasAddress: !isService && held != nil,
                    configuredPort: settings.port ?? 0, wasStopped: isService || held == nil))
                state.takesLastAddress = settings.initAddr.contains(.last)
                server.dns = state
                _ = section.follow(.init(backend: backend, server: server, state: state, resolution: settings.resolution),
                                   hostname: settings.host, now: now)
                if !state.snapshot.hasAddress {
                    runtime.updateServer(server, in: backend) { $0.resolutionMaintenance = true }
                }
            }
        }
    }

    func start() { for section in sections { section.start() } }
    func stop() { for section in sections { section.stop() } }

    func section(named name: String) -> DNSResolversRuntime? { sections.first { $0.settings.name == name } }

    /// `show resolvers [NAME]`, in HAProxy 2.6's layout.
    func show(_ name: String?) -> String {
        var out = ""
        for section in sections where name == nil || section.settings.name == name {
            out += "Resolvers section \(section.settings.name)\n"
            for (nameserver, counters) in zip(section.settings.nameservers, section.countersSnapshot) {
                out += " nameserver \(nameserver.name):\n"
                counters.render(into: &out)
            }
        }
        return out
    }
}
