#if canImport(Glibc)
import Glibc
#endif
import CLinux  // SOCK_*, IPPROTO_*: a clean build finds them in CLinux's module (which includes their headers)
import NIOCore

/// Server state carried across a reload (issue 12). HAProxy's new process starts every
/// server afresh: a server the old one knew DOWN gets traffic until its checks run again,
/// and one an operator put in maintenance over the runtime API is back in service. proxyd's
/// new process asks the old one (`show servers state` on its stats socket, before taking
/// that socket's path over) and starts each server as it was: health (UP/DOWN and the
/// check counter), admin state set at run time (maint, drain) and run-time weight, for
/// every server whose backend, name and address are unchanged. What the new configuration
/// changed (a weight, `disabled`) wins over what the old process had.
public enum ServerStateCarry {
    /// One line of `show servers state` (format version 1), the fields used here.
    public struct Record: Equatable, Sendable {
        public var backend: String
        public var server: String
        public var address: String
        public var port: Int
        /// 0 stopped, 1 starting, 2 running, 3 stopping (SRV_ST_*).
        public var operational: Int
        /// SRV_ADMF_* bits: 0x1 forced maint, 0x4 maint from the config, 0x8 forced drain.
        public var admin: Int
        public var userWeight: Int
        public var initialWeight: Int
        public var secondsSinceChange: Int
        public var checkHealth: Int
    }

    /// Parses `show servers state` output (or a server-state file): lines after the
    /// version line and the `#` header; malformed lines are skipped.
    public static func parse(_ text: String) -> [Record] {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: true)
        guard let version = lines.first, version.split(separator: " ").first == "1" else { return [] }
        lines.removeFirst()
        var records: [Record] = []
        for line in lines where !line.hasPrefix("#") {
            let f = line.split(separator: " ").map(String.init)
            // be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight
            // srv_iweight srv_time_since_last_change srv_check_status srv_check_result
            // srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id
            // srv_fqdn srv_port ...
            guard f.count >= 19, let op = Int(f[5]), let admin = Int(f[6]), let uweight = Int(f[7]),
                  let iweight = Int(f[8]), let since = Int(f[9]), let health = Int(f[12]),
                  let port = Int(f[18]) else { continue }
            records.append(Record(backend: f[1], server: f[3], address: f[4], port: port, operational: op,
                                  admin: admin, userWeight: uweight, initialWeight: iweight,
                                  secondsSinceChange: since, checkHealth: health))
        }
        return records
    }

    /// Starts `runtime`'s servers as `records` say; call before the listeners and the health
    /// checks start. Returns the names (`backend/server`) of the servers carried.
    @discardableResult
    /// A server following DNS (issue 15) that has no address yet and says `init-addr last`
    /// takes the address the old process's DNS gave it, so that a reload serves at once
    /// rather than waiting for the first answer (or for a nameserver that is down).
    static func adoptLastAddress(_ record: Record, server: RuntimeServer, backend: RuntimeBackend,
                                 runtime: ProxyRuntime) -> Bool {
        guard let dns = server.dns, dns.takesLastAddress, !dns.snapshot.hasAddress, record.admin & 0x20 == 0,
              let ip = AddressParser.numericIP(record.address), record.port > 0,
              let address = try? SocketAddress(ipAddress: record.address, port: record.port) else { return false }
        server.changeAddress(to: address)
        dns.update {
            $0.hasAddress = true
            $0.target = DNSTarget(key: ip.description, address: ip)
        }
        runtime.updateServer(server, in: backend) { $0.resolutionMaintenance = false }
        return true
    }

    public static func apply(_ records: [Record], to runtime: ProxyRuntime) -> [String] {
        var carried: [String] = []
        for record in records {
            if let backend = runtime.backend(named: record.backend),
               let server = backend.servers.first(where: { $0.name == record.server }),
               adoptLastAddress(record, server: server, backend: backend, runtime: runtime) {
                carried.append("\(record.backend)/\(record.server)")
                continue
            }
            guard let backend = runtime.backend(named: record.backend),
                  let server = backend.servers.first(where: { $0.name == record.server }),
                  (server.address.ipAddress ?? server.address.pathname ?? "-") == record.address,
                  (server.address.port ?? 0) == record.port else { continue }
            let checked = server.health?.snapshot.check != nil
            let configuredMaintenance = server.status.withLockedValue { $0.admin == .maintenance }
            runtime.updateServer(server, in: backend) { status in
                // Maintenance set at run time stays; maintenance from the old config
                // (`disabled`, 0x4) is the new config's to decide.
                if record.admin & 0x4 == 0, record.admin & 0x1 != 0 {
                    status.admin = .maintenance
                } else if record.admin & 0x8 != 0, !configuredMaintenance {
                    status.admin = .drain
                }
                // A weight changed at run time, unless the config changed it since.
                if record.initialWeight == server.initialWeight { status.weight = record.userWeight }
                if checked { status.operationalUp = record.operational != 0 }
            }
            if checked {
                runtime.healthMonitor?.restore(server, health: record.operational == 0 ? 0 : record.checkHealth,
                                               up: record.operational != 0)
            }
            server.status.withLockedValue { $0.lastChange = ProcessClock.milliseconds - record.secondsSinceChange * 1000 }
            carried.append("\(record.backend)/\(record.server)")
        }
        return carried
    }

    /// `show servers state` from the process listening on the Unix socket `path`, or nil
    /// (nobody there, not proxyd or HAProxy, or no answer within `timeoutMilliseconds`).
    public static func fetch(fromSocket path: String, timeoutMilliseconds: Int = 1000) -> String? {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var timeout = timeval(tv_sec: timeoutMilliseconds / 1000, tv_usec: (timeoutMilliseconds % 1000) * 1000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else { return nil }
        let command = Array("show servers state\n".utf8)
        guard write(fd, command, command.count) == command.count else { return nil }
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while answer.count < 64 << 20 {
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { break }  // the end of the answer (the socket closes), or the timeout
            answer += buffer[0..<n]
        }
        let text = String(decoding: answer, as: UTF8.self)
        return text.hasPrefix("1\n") ? text : nil
    }

    /// A reload: the state of the process answering on the configuration's first Unix
    /// stats socket that answers, applied to `runtime`. Returns what was carried, and from
    /// where (nil: nothing answered).
    public static func carryFromRunningProcess(_ configuration: ProxyConfiguration,
                                               into runtime: ProxyRuntime) -> (path: String, servers: [String])? {
        for socket in configuration.global.statsSockets {
            guard case .unix(let path) = socket.address, let text = fetch(fromSocket: path) else { continue }
            return (path, apply(parse(text), to: runtime))
        }
        return nil
    }

    /// HAProxy's way, for configurations that use it: `load-server-state-from-file global`
    /// reads `server-state-file`, `local` reads the backend's own file
    /// (`server-state-file-name`, default its name), relative names under
    /// `server-state-base`; each backend takes its own lines. An operator writes the file
    /// with `show servers state` before reloading. Returns the servers carried and the
    /// warnings (a file that cannot be read, as HAProxy warns and goes on).
    public static func carryFromFiles(_ configuration: ProxyConfiguration,
                                      into runtime: ProxyRuntime) -> (servers: [String], warnings: [String]) {
        let global = configuration.global
        func path(_ name: String) -> String {
            guard !name.hasPrefix("/"), let base = global.serverStateBase else { return name }
            return base.hasSuffix("/") ? base + name : base + "/" + name
        }
        var cache: [String: [Record]?] = [:]
        var servers: [String] = [], warnings: [String] = []
        for proxy in configuration.proxies where proxy.loadServerState != .none {
            let file: String
            switch proxy.loadServerState {
            case .global:
                guard let name = global.serverStateFile else {
                    warnings.append("backend '\(proxy.name)': 'load-server-state-from-file global' without a global 'server-state-file': nothing loaded.")
                    continue
                }
                file = path(name)
            case .local:
                file = path(proxy.serverStateFileName ?? proxy.name)
            case .none:
                continue
            }
            if cache[file] == nil {
                switch FileSystem.read(file) {
                case .success(let bytes):
                    cache[file] = parse(String(decoding: bytes, as: UTF8.self))
                case .failure(let error):
                    cache[file] = .some(nil)
                    warnings.append("Can't open server state file '\(file)': \(error.message)")
                }
            }
            guard let records = cache[file] ?? nil else { continue }
            servers += apply(records.filter { $0.backend == proxy.name }, to: runtime)
        }
        return (servers, warnings)
    }
}
