@testable import ProxyCore

/// The runtime API on a built, never started runtime (no socket bound, no check or
/// session running), as ControlCommandTests drive it: each input line is one command line
/// of one client session, at the level the first byte chooses. Every command is
/// in-memory there (server states, weights, counters), so even `disable frontend` or
/// `set server … addr` touch nothing outside this process. The runtime lives as long as
/// the process: a command's effect can outlast its input (a finding's reproducer may need
/// the input that ran before it, which libFuzzer keeps in its log).
enum RuntimeCommandTarget {
    static let config = """
        global
            nbthread 1
            stats socket /nonexistent/fuzz.sock level admin
            node fuzz

        defaults
            mode http
            timeout connect 5s

        listen stats
            bind 127.0.0.1:1
            stats enable
            stats uri /stats

        frontend web
            bind 127.0.0.1:2
            maxconn 200
            stick-table type string len 8 size 4 store gpc0,gpt0
            default_backend app

        backend app
            balance leastconn
            stick-table type ip size 10 expire 1m store gpc0,http_req_rate(10s),conn_cur
            server s1 127.0.0.1:8081 check inter 10s fall 3 rise 2
            server s2 127.0.0.1:8082 weight 20 maxconn 7
            server spare 127.0.0.1:8083 backup
            server off 127.0.0.1:8084 disabled

        backend tcp
            mode tcp
            balance roundrobin
            server t1 127.0.0.1:9001

        """

    static let (plane, runtime): (ControlPlane, ProxyRuntime) = {
        let result = ConfigurationLoader.load(text: config, name: "fuzz.cfg")
        guard let configuration = result.configuration else {
            fatalError("the runtime-command target's configuration does not load: \(result.diagnostics)")
        }
        guard let runtime = try? RuntimeBuilder.build(configuration, threads: 1) else {
            fatalError("the runtime-command target's runtime does not build")
        }
        return (ControlPlane(runtime: runtime, configuration: configuration), runtime)
    }()

    /// `add server` keeps what it adds for the process's life: beyond this many servers it
    /// is skipped, so that millions of inputs do not grow the backends without bound.
    static let serverBudget = 64

    static let levels: [ControlLevel] = [.user, .operator, .admin]

    static func run(_ input: UnsafeRawBufferPointer) {
        guard !input.isEmpty else { return }
        let level = levels[Int(input[0]) % levels.count]
        let text = String(decoding: input.dropFirst(), as: UTF8.self)
        let session = ControlSessionState(level: level, timeout: 10_000)
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let words = CommandRegistry.split(String(line))
            require(!words.isEmpty, "a line splits into no command at all")
            if words.contains(where: { $0.first == "add" }),
               runtime.backends.reduce(0, { $0 + $1.serversByIndex.count }) > serverBudget { continue }
            // A Unix socket server's address lives in a multi-payload enum whose tag sits in
            // the pointer's spare bits, where LeakSanitizer does not see it: skipped, or each
            // added one is reported as a leak at exit although the server still holds it.
            if words.contains(where: { $0.count > 3 && $0[0] == "add" && $0[1] == "server"
                && ($0[3].hasPrefix("/") || $0[3].hasPrefix("unix@")) }) { continue }
            _ = plane.run(line: String(line), session)
            if session.quitting { break }
        }
    }
}
