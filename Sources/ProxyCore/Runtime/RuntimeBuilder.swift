import NIOCore

/// Turns the validated model into the structures the event loops run: backends with
/// resolved server addresses, frontends with their routes, timeouts as TimeAmounts.
public enum RuntimeBuilder {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public static func build(_ config: ProxyConfiguration, threads: Int? = nil) throws -> ProxyRuntime {
        var backends: [RuntimeBackend] = []
        var backendByName: [String: RuntimeBackend] = [:]
        for proxy in config.proxies where proxy.isBackend && !proxy.disabled {
            let backend = try makeBackend(proxy, index: backends.count)
            backends.append(backend)
            backendByName[proxy.name] = backend
        }
        var frontends: [RuntimeFrontend] = []
        for proxy in config.proxies where proxy.isFrontend && !proxy.disabled && !proxy.binds.isEmpty {
            // A listen section is its own backend unless it names another one.
            let defaultName = proxy.defaultBackend ?? (proxy.isBackend ? proxy.name : nil)
            let router = Router(defaultBackend: defaultName.flatMap { backendByName[$0] })
            frontends.append(RuntimeFrontend(
                name: proxy.name,
                mode: proxy.mode,
                binds: proxy.binds,
                timeouts: FrontendTimeouts(
                    client: amount(proxy.timeouts.client),
                    httpRequest: amount(proxy.timeouts.httpRequest),
                    httpKeepAlive: amount(proxy.timeouts.httpKeepAlive),
                    tunnel: amount(proxy.timeouts.tunnel)),
                maxConnections: proxy.maxconn,
                router: router,
                httpConnectionMode: proxy.httpConnectionMode,
                forwardFor: proxy.forwardFor.map(ForwardForRule.init),
                errorPages: ErrorPages(errorFiles: proxy.errorFiles)))
        }
        let threadCount = threads ?? config.global.nbthread ?? System.coreCount
        return ProxyRuntime(frontends: frontends, backends: backends, threads: threadCount)
    }

    private static func makeBackend(_ proxy: ProxySettings, index: Int) throws -> RuntimeBackend {
        var servers: [RuntimeServer] = []
        for settings in proxy.servers {
            servers.append(RuntimeServer(
                name: settings.name,
                index: servers.count,
                address: try address(of: settings, in: proxy),
                weight: settings.weight,
                isBackup: settings.backup,
                maxConnections: settings.maxconn > 0 ? settings.maxconn : nil,
                disabled: settings.disabled))
        }
        return RuntimeBackend(
            name: proxy.name,
            index: index,
            mode: proxy.mode,
            servers: servers,
            timeouts: BackendTimeouts(
                connect: amount(proxy.timeouts.connect),
                server: amount(proxy.timeouts.server),
                queue: amount(proxy.timeouts.queue),
                tunnel: amount(proxy.timeouts.tunnel)),
            retries: proxy.retries,
            redispatch: proxy.redispatch,
            balance: proxy.balance,
            httpConnectionMode: proxy.httpConnectionMode,
            forwardFor: proxy.forwardFor.map(ForwardForRule.init),
            errorPages: ErrorPages(errorFiles: proxy.errorFiles),
            allBackups: proxy.allBackups)
    }

    private static func address(of server: ServerSettings, in proxy: ProxySettings) throws -> SocketAddress {
        if let path = server.unixPath {
            return try SocketAddress(unixDomainSocketPath: path)
        }
        guard let ip = server.addresses.first else {
            throw Failure(description: "backend '\(proxy.name)': server '\(server.name)' has no address")
        }
        // A server without a port uses the port the client connected to; without
        // transparent binds that is the listener's port, which HAProxy also assumes.
        let port = server.port ?? 0
        return try SocketAddress(ipAddress: ip.description, port: port)
    }

    static func amount(_ milliseconds: Int?) -> TimeAmount? {
        milliseconds.map { .milliseconds(Int64($0)) }
    }
}

extension ForwardForRule {
    init(_ model: ForwardFor) {
        self.init(header: model.header, ifNone: model.ifNone, except: model.except)
    }
}
