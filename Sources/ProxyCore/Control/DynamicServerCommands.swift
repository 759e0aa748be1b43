import Shared

/// `add server <bk>/<srv> <addr>[:<port>] [args]*` and `del server <bk>/<srv>` (issue 15),
/// with HAProxy 2.6's usage lines, rules and answers. The work is in
/// Runtime/DynamicServers.swift; this file reads the command line.
///
/// HAProxy 2.6 ends some of these answers without the empty line that follows every
/// other answer (haproxy 2.6.12, byte for byte): every `del server` answer, and `add
/// server`'s refusals before it reads the server line. Those are returned here without
/// their newline, since the control server adds one after each answer.
enum DynamicServerCommands {
    static func register(_ r: inout CommandRegistry) {
        r.add("add server", usage: "add server <bk>/<srv>", help: "create a new server") { args, session, context in
            guard session.level >= .admin else { return ControlCommands.denied }
            return add(args, context)
        }
        r.add("del server", usage: "del server <bk>/<srv>", help: "remove a dynamically added server") { args, session, context in
            guard session.level >= .admin else { return ControlCommands.denied }
            guard args.count > 2 else { return "Require 'backend/server'." }
            switch ControlCommands.lookup(args[2], context) {
            case .failure(let message): return String(message.text.dropLast())
            case .success(let (_, backend, server)):
                do {
                    try context.runtime.deleteServer(server, from: backend, configuration: context.configuration)
                } catch let error as ProxyRuntime.DynamicServerError {
                    return error.message
                } catch {
                    return "\(error)"
                }
                return "Server deleted."
            }
        }
    }

    /// The keywords HAProxy 2.6 accepts on `add server` (management.txt); the others a
    /// server line may carry are refused with its message.
    static let accepted: Set<String> = [
        "agent-addr", "agent-check", "agent-inter", "agent-port", "agent-send", "allow-0rtt", "alpn", "addr",
        "backup", "ca-file", "check", "check-alpn", "check-proto", "check-send-proxy", "check-sni", "check-ssl",
        "check-via-socks4", "ciphers", "ciphersuites", "crl-file", "crt", "disabled", "downinter", "enabled",
        "error-limit", "fall", "fastinter", "force-sslv3", "force-tlsv10", "force-tlsv11", "force-tlsv12",
        "force-tlsv13", "id", "inter", "maxconn", "maxqueue", "minconn", "no-ssl-reuse", "no-sslv3", "no-tlsv10",
        "no-tlsv11", "no-tlsv12", "no-tlsv13", "no-tls-tickets", "npn", "observe", "on-error", "on-marked-down",
        "on-marked-up", "pool-low-conn", "pool-max-conn", "pool-purge-delay", "port", "proto", "proxy-v2-options",
        "rise", "send-proxy", "send-proxy-v2", "send-proxy-v2-ssl", "send-proxy-v2-ssl-cn", "slowstart", "sni",
        "source", "ssl", "ssl-max-ver", "ssl-min-ver", "tfo", "tls-tickets", "track", "usesrc", "verify",
        "verifyhost", "weight", "ws",
    ]

    /// Keywords proxyd does not accept on `add server` yet: said plainly rather than
    /// accepted and ignored.
    static let notYet: Set<String> = ["track"]

    private static func add(_ args: [String], _ context: StatsContext) -> String {
        guard args.count > 2, let slash = args[2].firstIndex(of: "/") else { return "Require 'backend/server'." }
        let backendName = String(args[2][..<slash])
        let serverName = String(args[2][args[2].index(after: slash)...])
        guard !serverName.isEmpty else { return "Require 'backend/server'." }
        guard let proxy = context.proxies.first(where: { $0.name == backendName && $0.backend != nil }),
              let backend = proxy.backend else { return "No such backend." }
        guard backend.balancer.acceptsNewServers else {
            return ProxyRuntime.DynamicServerError.notDynamicBalancing.message
        }
        guard args.count > 3 else { return "'server' expects <name> and <addr>[:<port>] as arguments.\n" }
        let words = ["server", serverName] + args[3...]
        // Keywords a dynamic server may not use, before the parser reads the rest.
        var i = 3
        while i < words.count, let entry = ServerParser.table[words[i]] {
            if notYet.contains(words[i]) {
                return "'\(words[i])' is valid for a dynamic server in HAProxy but not supported by proxyd yet.\n"
            }
            guard accepted.contains(words[i]) else {
                return ProxyRuntime.DynamicServerError.unsupported(words[i]).message + "\n"
            }
            i += entry.takesArgument ? 2 : 1
        }
        let settings: ServerSettings
        switch parse(words, backend: proxy.settings) {
        case .success(let parsed): settings = parsed
        case .failure(let refusal): return refusal.message + "\n"
        }
        // `enabled` or `disabled`, the last one written; maintenance without either.
        let enabled = words.dropFirst(3).last { $0 == "enabled" || $0 == "disabled" } == "enabled"
        do {
            _ = try context.runtime.addServer(settings, enabled: enabled, to: backend, proxy: proxy.settings,
                                              global: context.configuration.global)
        } catch let error as ProxyRuntime.DynamicServerError {
            return error.message + "\n"
        } catch {
            return "\(error)\n"
        }
        return "New server registered.\n"
    }

    /// The server line read by the config's own parser, from none of the backend's
    /// `default-server` settings (as HAProxy: a dynamic server inherits nothing). The
    /// parser's first error, without its file and line, is the answer.
    struct Refusal: Error {
        let message: String
    }

    static func parse(_ words: [String], backend: ProxySettings) -> Result<ServerSettings, Refusal> {
        let state = ParserState(options: LoadOptions(resolveServers: false))
        var proxy = backend
        proxy.defaultServer = ServerSettings(name: "", location: SourceLocation(file: "cli", line: 1))
        proxy.servers = []
        let line = ConfigLine(words: words, location: SourceLocation(file: "cli", line: 1))
        ServerParser.parseServer(state, &proxy, line,
                                 ProxyParseContext(kind: "backend", isDefaults: false, isNamedDefaults: false, index: 0))
        if let alert = state.diagnostics.first(where: { $0.severity == .alert }) {
            return .failure(Refusal(message: cliMessage(alert.message, server: "'server \(backend.name)/\(words[1])'")))
        }
        guard let settings = proxy.servers.first else {
            return .failure(Refusal(message: "'server' expects <name> and <addr>[:<port>] as arguments."))
        }
        return .success(settings)
    }

    /// `[cli:1] : 'server b/s' : unknown keyword 'x'.` → `unknown keyword 'x'.`
    private static func cliMessage(_ message: String, server: String) -> String {
        var text = Substring(message)
        if text.hasPrefix("["), let end = text.range(of: "] : ") { text = text[end.upperBound...] }
        if text.hasPrefix(server + " : ") { text = text.dropFirst(server.count + 3) }
        while text.hasSuffix("\n") { text = text.dropLast() }
        return String(text)
    }
}
