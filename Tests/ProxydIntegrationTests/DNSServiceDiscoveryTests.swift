import Foundation
import XCTest

/// DNS service discovery (issue 15) side by side with HAProxy 2.6 on the same config,
/// against a real DNS server (Debian's dnsmasq) whose answers the test changes: servers
/// take the addresses DNS gives, move when they change, go to MAINT (resolution) when the
/// name goes, come back with it; SRV records bring port and weight. What `show servers
/// state`, `show stat` and `show resolvers` print is compared with HAProxy's.
final class DNSServiceDiscoveryTests: XCTestCase {
    /// dnsmasq on 127.0.0.1:port answering from a hosts file (SIGHUP rereads it) and the
    /// SRV records given, authoritative for example.local (an unknown name is NXDOMAIN).
    final class DNSServer {
        let port: Int
        let hosts: URL
        private var pid: pid_t = 0
        private let srvRecords: [String]

        init(directory: URL, srvRecords: [String]) throws {
            let dnsmasq = try ControlClient.require("dnsmasq", package: "dnsmasq-base")
            port = TCP.freePort()
            hosts = directory.appendingPathComponent("hosts")
            self.srvRecords = srvRecords
            try "".write(to: hosts, atomically: true, encoding: .utf8)
            pid = try ControlClient.spawn(dnsmasq, [
                "--no-daemon", "--conf-file=/dev/null", "--pid-file=", "--port=\(port)",
                "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts",
                "--addn-hosts=\(hosts.path)", "--local=/example.local/", "--local-ttl=0",
            ] + srvRecords.map { "--srv-host=" + $0 }, log: directory.appendingPathComponent("dnsmasq.log").path)
            guard ControlClient.eventually(5, { self.answers() }) else {
                throw TestFailure("dnsmasq did not answer on \(port)")
            }
        }

        /// Writes the hosts file (`ADDRESS NAME` lines) and has dnsmasq reread it.
        func serve(_ lines: [String]) throws {
            try (lines.joined(separator: "\n") + "\n").write(to: hosts, atomically: false, encoding: .utf8)
            kill(pid, SIGHUP)
        }

        /// True once the server answers a query (an A query for `probe.example.local`,
        /// written by hand: id 0x0101, recursion desired).
        func answers() -> Bool {
            let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            guard fd >= 0 else { return false }
            defer { close(fd) }
            var tv = timeval(tv_sec: 0, tv_usec: 300_000)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let query: [UInt8] = [1, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 5] + Array("probe".utf8) + [7] + Array("example".utf8)
                + [5] + Array("local".utf8) + [0, 0, 1, 0, 1]
            let sent = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, query, query.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            var reply = [UInt8](repeating: 0, count: 512)
            return sent == query.count && recv(fd, &reply, reply.count, 0) >= 12 && reply[0] == 1 && reply[1] == 1
        }

        func stop() {
            if pid > 0 { ControlClient.stop(pid) }
            pid = 0
        }
        deinit { stop() }
    }

    /// One config for both proxies (their own frontend port and socket). `waiting/w1` has
    /// no address and no resolvers: it stays in MAINT (resolution), as HAProxy's does.
    /// `six` has an AAAA and an A record: v1 (HAProxy's default, IPv6 first) takes ::1,
    /// v2 (`resolve-prefer ipv4`) 127.0.0.3.
    private func config(dnsPort: Int, frontend: Int, socket: String, webPort: Int) -> String {
        """
        global
            stats socket \(socket) level admin
        resolvers dns1
            nameserver ns1 127.0.0.1:\(dnsPort)
            resolve_retries 2
            timeout resolve 500ms
            timeout retry 500ms
            hold valid 500ms
            hold nx 500ms
            hold obsolete 0s
            accepted_payload_size 4096
        defaults
            mode http
            timeout connect 1s
            timeout client 5s
            timeout server 5s
        frontend fe
            bind 127.0.0.1:\(frontend)
            default_backend web
        backend web
            server-template web 2 web.example.local:\(webPort) resolvers dns1 init-addr none
        backend srv
            server-template sr 2 _http._tcp.example.local resolvers dns1 init-addr none resolve-prefer ipv4
        backend single
            server s1 one.example.local:\(webPort) resolvers dns1 resolve-prefer ipv4 init-addr none
        backend waiting
            server w1 nowhere.example.local:\(webPort) init-addr none
        backend checked
            server-template chk 2 web.example.local:\(webPort) resolvers dns1 init-addr none check inter 100ms
        backend outside
            server o1 web.elsewhere.test:\(webPort) resolvers dns1 init-addr none resolve-prefer ipv4
        backend six
            server v1 six.example.local:\(webPort) resolvers dns1 init-addr none
            server v2 six.example.local:\(webPort) resolvers dns1 init-addr none resolve-prefer ipv4

        """
    }

    /// `show servers state` rows, without the backend id and the seconds since the last
    /// change (they differ by when each process started).
    private func serverStates(_ socket: String) throws -> [String] {
        try ControlClient.socat("show servers state", socket: socket).split(separator: "\n")
            .filter { !$0.hasPrefix("#") && $0.contains(" ") }
            .map { line in
                var fields = line.split(separator: " ").map(String.init)
                fields[9] = "T"
                fields[0] = "ID"
                return fields.joined(separator: " ")
            }
    }

    /// Every server's name, status, address, weight and check columns in `show stat`.
    private func statRows(_ socket: String) throws -> [String] {
        let lines = try ControlClient.socat("show stat", socket: socket).split(separator: "\n")
        guard let header = lines.first?.dropFirst(2).split(separator: ",", omittingEmptySubsequences: false) else { return [] }
        let wanted = ["pxname", "svname", "status", "addr", "weight", "act", "bck", "check_status", "check_health", "check_rise", "check_fall", "agg_server_status"].compactMap { header.firstIndex(of: Substring($0)) }
        var rows: [String] = []
        for line in lines.dropFirst() {
            let fields: [Substring] = line.split(separator: ",", omittingEmptySubsequences: false)
            guard fields.count > 17, fields[1] != "FRONTEND", fields[1] != "BACKEND" else { continue }
            // HAProxy marks a check running at that moment with "* " (a matter of timing).
            let picked: [String] = wanted.map { String(fields[$0]).replacingOccurrences(of: "* ", with: "") }
            rows.append(picked.joined(separator: " "))
        }
        return rows
    }

    private func get(_ port: Int) -> String {
        guard let connection = try? TCP.Connection(port: port) else { return "no connection" }
        defer { connection.close() }
        connection.setTimeout(3)
        guard (try? connection.send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")) != nil,
              let response = try? connection.receiveResponse() else { return "no answer" }
        return response.status == 200 ? response.bodyText.trimmingCharacters(in: .whitespacesAndNewlines) : "\(response.status)"
    }

    func testServersFollowDNSAsHAProxysDo() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dn-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory.path)
        defer { try? FileManager.default.removeItem(at: directory) }
        // Two web servers on one port, at 127.0.0.2 and 127.0.0.3; the SRV record names a
        // third host and port, weight 300 (HAProxy's weight 2: 300 / 256 rounded up).
        let webPort = TCP.freePort()
        let web2 = try TestBackend(name: "two", port: webPort, host: "127.0.0.2")
        defer { web2.stop() }
        let web3 = try TestBackend(name: "three", port: webPort, host: "127.0.0.3")
        defer { web3.stop() }
        let srvPort = TCP.freePort()
        let dns = try DNSServer(directory: directory, srvRecords: ["_http._tcp.example.local,srvt.example.local,\(srvPort),0,300"])
        defer { dns.stop() }
        try dns.serve(["127.0.0.2 web.example.local", "127.0.0.4 srvt.example.local",
                       "::1 six.example.local", "127.0.0.3 six.example.local"])

        let haproxyPort = TCP.freePort(), proxydPort = TCP.freePort()
        let haproxySocket = directory.appendingPathComponent("h.sock").path
        let proxydSocket = directory.appendingPathComponent("p.sock").path
        let reference = try ReferenceHAProxy(config: config(dnsPort: dns.port, frontend: haproxyPort, socket: haproxySocket,
                                                            webPort: webPort), waitForPorts: [haproxyPort])
        defer { reference.stop() }
        let proxy = try ProxydProcess(config: config(dnsPort: dns.port, frontend: proxydPort, socket: proxydSocket,
                                                     webPort: webPort), waitForPorts: [proxydPort])
        defer { proxy.stop() }

        /// Waits until both proxies agree with `expected` (rows of `show servers state`
        /// whose fields contain these words, in order), then checks they agree in full.
        func bothReach(_ step: String, _ predicate: @escaping ([String]) -> Bool) throws {
            var last: ([String], [String]) = ([], [])
            let agreed = ControlClient.eventually(8) {
                let h = (try? serverStates(haproxySocket)) ?? [], p = (try? serverStates(proxydSocket)) ?? []
                last = (h, p)
                return predicate(h) && predicate(p) && h == p
            }
            XCTAssertTrue(agreed, "\(step): show servers state differs\nhaproxy:\n\(last.0.joined(separator: "\n"))\nproxyd:\n\(last.1.joined(separator: "\n"))")
            XCTAssertEqual(try statRows(proxydSocket), try statRows(haproxySocket), "\(step): show stat")
        }
        func row(_ rows: [String], _ server: String) -> String { rows.first { $0.contains(" \(server) ") } ?? "" }

        // 1. One record: web1 takes it, web2 waits in MAINT (resolution); the SRV row's
        //    first server takes the record's host, port and weight.
        try bothReach("first answer") { rows in
            row(rows, "web1").contains(" 127.0.0.2 2 0 ") && row(rows, "web2").contains(" - 0 32 ")
                && row(rows, "sr1").contains(" 127.0.0.4 2 64 2 ") && row(rows, "sr1").contains(" srvt.example.local \(srvPort) _http._tcp.example.local ")
        }
        XCTAssertEqual(get(proxydPort), "two")
        XCTAssertEqual(get(haproxyPort), "two")
        try bothReach("both families") { rows in
            row(rows, "v1").contains(" ::1 2 0 ") && row(rows, "v2").contains(" 127.0.0.3 2 0 ")
        }

        // 2. The address changes: the server moves (`hold obsolete 0s`) and traffic follows.
        try dns.serve(["127.0.0.3 web.example.local", "127.0.0.4 srvt.example.local"])
        try bothReach("address changed") { rows in
            row(rows, "web1").contains(" 127.0.0.3 2 0 ") && row(rows, "web2").contains(" - 0 32 ")
        }
        XCTAssertEqual(get(proxydPort), "three")
        XCTAssertEqual(get(haproxyPort), "three")

        // 3. A second record fills the free slot; both servers take traffic.
        try dns.serve(["127.0.0.3 web.example.local", "127.0.0.2 web.example.local", "127.0.0.4 srvt.example.local"])
        try bothReach("second record") { rows in
            row(rows, "web1").contains(" 127.0.0.3 2 0 ") && row(rows, "web2").contains(" 127.0.0.2 2 0 ")
        }
        XCTAssertEqual(Set((0..<4).map { _ in get(proxydPort) }), ["two", "three"])

        // 4. The name goes (NXDOMAIN): after `hold nx` every server is in MAINT
        //    (resolution), and the clients get HAProxy's 503.
        try dns.serve(["127.0.0.4 srvt.example.local"])
        try bothReach("name gone") { rows in
            row(rows, "web1").contains(" - 0 32 ") && row(rows, "web2").contains(" - 0 32 ")
        }
        XCTAssertEqual(get(proxydPort), "503")
        XCTAssertEqual(get(haproxyPort), "503")

        // 5. It comes back.
        try dns.serve(["127.0.0.2 web.example.local", "127.0.0.4 srvt.example.local"])
        try bothReach("name back") { rows in row(rows, "web1").contains(" 127.0.0.2 2 0 ") }
        XCTAssertEqual(get(proxydPort), "two")

        // 6. `set server … fqdn`: the server follows another name at once (named while it
        //    waited for DNS, it carries HAProxy's "FQDN set at run time" bit, 64).
        try bothReach("single server") { rows in row(rows, "s1").contains(" - 0 32 ") && row(rows, "s1").contains(" one.example.local ") }
        for socket in [haproxySocket, proxydSocket] {
            XCTAssertEqual(try ControlClient.socat("set server single/s1 fqdn web.example.local", socket: socket),
                           "single/s1 changed its FQDN from one.example.local to web.example.local by 'stats socket command'\n\n")
            XCTAssertEqual(try ControlClient.socat("set server single/s1 fqdn", socket: socket),
                           "set server <b>/<s> fqdn requires a FQDN.\n\n")
            XCTAssertEqual(try ControlClient.socat("set server srv/nope fqdn a.example.local", socket: socket), "No such server.\n\n")
        }
        try bothReach("fqdn changed") { rows in row(rows, "s1").contains(" 127.0.0.2 2 64 ") && row(rows, "s1").contains(" web.example.local ") }

        // 7. A checked server put in maintenance by hand: checks paused (14), and no check
        //    fields in `show stat`, as HAProxy shows it.
        for socket in [haproxySocket, proxydSocket] {
            XCTAssertEqual(try ControlClient.socat("set server checked/chk1 state maint", socket: socket), "\n")
        }
        try bothReach("forced maintenance") { rows in row(rows, "chk1").contains(" 127.0.0.2 0 1 ") && row(rows, "chk1").contains(" 14 ") }

        // `show resolvers`: HAProxy's layout, and counters that moved.
        let haproxyCounters = try ControlClient.socat("show resolvers dns1", socket: haproxySocket)
        let proxydCounters = try ControlClient.socat("show resolvers dns1", socket: proxydSocket)
        func labels(_ text: String) -> [String] {
            text.split(separator: "\n").map { $0.split(separator: ":").first.map(String.init) ?? "" }
        }
        XCTAssertEqual(labels(proxydCounters), labels(haproxyCounters))
        // Every section, the implicit `default` one from /etc/resolv.conf included.
        XCTAssertEqual(labels(try ControlClient.socat("show resolvers", socket: proxydSocket)),
                       labels(try ControlClient.socat("show resolvers", socket: haproxySocket)))
        func counter(_ text: String, _ name: String) -> Int {
            text.split(separator: "\n").first { $0.hasPrefix("  \(name):") }.flatMap { Int($0.split(separator: " ").last ?? "") } ?? -1
        }
        // `outside/o1` asks for a name dnsmasq serves to nobody: REFUSED, on both.
        for name in ["sent", "valid", "nx", "update", "refused"] {
            XCTAssertGreaterThan(counter(proxydCounters, name), 0, "proxyd's \(name)\n\(proxydCounters)")
        }
        XCTAssertGreaterThan(counter(haproxyCounters, "refused"), 0, haproxyCounters)
        XCTAssertEqual(counter(proxydCounters, "invalid"), 0)
        XCTAssertEqual(try ControlClient.socat("show resolvers nope", socket: proxydSocket),
                       try ControlClient.socat("show resolvers nope", socket: haproxySocket))
    }
    /// `init-addr last`: across a `-sf` reload the new process starts each DNS server at the
    /// address the old one had (HAProxy reads it from a server-state file; proxyd asks the
    /// old process), so it serves at once, even with the nameserver gone.
    func testAReloadKeepsTheAddressesDNSGave() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dnr-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory.path)
        defer { try? FileManager.default.removeItem(at: directory) }
        let webPort = TCP.freePort()
        let web2 = try TestBackend(name: "two", port: webPort, host: "127.0.0.2")
        defer { web2.stop() }
        let dns = try DNSServer(directory: directory, srvRecords: [])
        defer { dns.stop() }
        try dns.serve(["127.0.0.2 web.example.local"])
        let port = TCP.freePort()
        let socket = directory.appendingPathComponent("p.sock").path
        let config = """
            global
                stats socket \(socket) level admin
            resolvers dns1
                nameserver ns1 127.0.0.1:\(dns.port)
                hold valid 500ms
            defaults
                mode http
                timeout connect 1s
                timeout client 5s
                timeout server 5s
            frontend fe
                bind 127.0.0.1:\(port)
                default_backend web
            backend web
                server-template web 2 web.example.local:\(webPort) resolvers dns1 init-addr last,none

            """
        let old = try ProxydProcess(config: config, waitForPorts: [port])
        defer { old.stop() }
        func web1(_ socket: String) -> String {
            ((try? ControlClient.socat("show servers state web", socket: socket)) ?? "").split(separator: "\n")
                .first { $0.contains(" web1 ") }.map(String.init) ?? ""
        }
        XCTAssertTrue(ControlClient.eventually(5) { web1(socket).contains(" 127.0.0.2 2 0 ") }, web1(socket))
        dns.stop()  // no answer from now on: only the old process can tell the new one
        let new = try ProxydProcess(config: config, extraArguments: ["-sf", "\(old.pid)"])
        defer { new.stop() }
        XCTAssertTrue(try ControlClient.eventually(5) {
            try ControlClient.socat("show info", socket: socket).contains("\nPid: \(new.pid)\n")
        })
        XCTAssertTrue(web1(socket).contains(" 127.0.0.2 2 0 "), web1(socket))
        XCTAssertEqual(try ProxyFixture.get(port: port).bodyText.trimmingCharacters(in: .whitespacesAndNewlines), "two")
    }
}
