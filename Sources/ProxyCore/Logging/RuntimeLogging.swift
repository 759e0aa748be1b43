#if canImport(Glibc)
import Glibc
#endif

extension RuntimeBuilder {
    /// Gives the runtime its loggers and health checks, from the config.
    static func attachLogsAndChecks(_ config: ProxyConfiguration, runtime: ProxyRuntime,
                                    backends: [String: RuntimeBackend]) {
        let sinks = runtime.logSinks
        let tag = config.global.logTag ?? "proxyd"
        let hostname: String? = config.global.logSendHostname.map { $0.isEmpty ? systemHostname() : $0 }
        func logger(_ proxy: ProxySettings) -> ProxyLogger? {
            proxy.logs.isEmpty ? nil : sinks.logger(for: proxy.logs, tag: tag, hostname: hostname)
        }
        // The first frontend of each name, as a scan of the proxies would find it.
        var frontendIndex: [String: Int] = [:]
        for (i, proxy) in config.proxies.enumerated() where proxy.isFrontend && frontendIndex[proxy.name] == nil {
            frontendIndex[proxy.name] = i
        }
        for frontend in runtime.frontends {
            guard let i = frontendIndex[frontend.name], case let proxy = config.proxies[i] else { continue }
            frontend.connectionErrors = ConnectionErrorLog(logger: logger(proxy), dontLogNull: proxy.dontLogNull,
                                                           failures: runtime.counters[frontend.name]?.failedHandshakes)
            guard let logger = frontend.connectionErrors.logger else { continue }
            let source: String?
            if let custom = proxy.logFormat {
                source = custom
            } else if proxy.httpLog, proxy.mode == .http {
                source = proxy.httpsLog ? LogFormat.httpsLogFormat
                    : proxy.httpLogCLF ? LogFormat.httpLogCLFFormat : LogFormat.httpLogFormat
            } else if proxy.tcpLog || proxy.httpLog {
                // HAProxy falls back to tcplog for `option httplog` outside http mode.
                source = LogFormat.tcpLogFormat
            } else {
                source = nil
            }
            frontend.trafficLog = TrafficLog(
                logger: logger, format: LogFormat(source ?? ""), connectLineOnly: source == nil,
                dontLogNull: proxy.dontLogNull, frontend: frontend, globalGate: runtime.globalGate)
            frontend.trafficLog?.dontLogNormal = proxy.smallOptions.dontLogNormal  // issue 15
            frontend.trafficLog?.logAsap = proxy.smallOptions.logAsap
        }
        for proxy in config.proxies where proxy.isBackend && !proxy.disabled {
            backends[proxy.name]?.logger = logger(proxy)
        }
        var plans: [HealthMonitor.BackendPlan] = []
        for proxy in config.proxies where proxy.isBackend && !proxy.disabled {
            guard let backend = backends[proxy.name] else { continue }
            guard proxy.servers.contains(where: { $0.check.enabled || $0.agent.enabled }) else { continue }
            plans.append(HealthMonitor.BackendPlan(
                backend: backend, kind: proxy.healthCheck.kind, servers: proxy.servers,
                logHealthChecks: proxy.logHealthChecks, logger: logger(proxy),
                connectTimeout: proxy.timeouts.connect, checkTimeout: proxy.timeouts.check))
        }
        // Made even without checks: `add server … check` may bring some (issue 15).
        runtime.healthMonitor = HealthMonitor(plans: plans, spreadChecks: config.global.spreadChecks,
                                              group: runtime.group,
                                              native: runtime.loopStates.ordered.compactMap(\.native))
    }

    static func systemHostname() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        return String(cString: buffer)
    }
}
