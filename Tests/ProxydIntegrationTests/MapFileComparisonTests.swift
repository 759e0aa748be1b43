import Foundation
import XCTest

/// Map files through Debian's HAProxy 2.6 and proxyd on the same config and file:
/// `use_backend %[req.hdr(host),lower,map(FILE,DEFAULT)]` and the `map_beg`, `map_dom`,
/// `map_reg`, `map_ip` lookups route the same requests to the same backends, and the runtime
/// API's `show map`, `add map`, `set map`, `del map`, `clear map` answer and act the same.
final class MapFileComparisonTests: XCTestCase {
    func testMapsAsHAProxy() throws {
        let web = try TestBackend(name: "web"), apiServer = try TestBackend(name: "api"), other = try TestBackend(name: "other")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ru-maps-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let hosts = dir.appendingPathComponent("hosts.map").path
        let prefixes = dir.appendingPathComponent("prefixes.map").path
        let domains = dir.appendingPathComponent("domains.map").path
        let regexes = dir.appendingPathComponent("regexes.map").path
        let networks = dir.appendingPathComponent("networks.map").path
        try "# host backend\nwww.example.com   web\napi.example.com\tapi\n".write(toFile: hosts, atomically: true, encoding: .utf8)
        try "/api/v2 other\n/api api\n".write(toFile: prefixes, atomically: true, encoding: .utf8)
        try "example.net api\n".write(toFile: domains, atomically: true, encoding: .utf8)
        try "^/r/[0-9]+$ other\n".write(toFile: regexes, atomically: true, encoding: .utf8)
        try "10.77.0.0/16 api\n127.0.0.0/8 other\n127.0.0.1/32 web\n".write(toFile: networks, atomically: true, encoding: .utf8)
        func config(_ port: Int, socket: String) -> String {
            ProxyFixture.preamble(extraGlobal: "stats socket \(socket) level admin") + """
            frontend fe
                bind 127.0.0.1:\(port)
                use_backend %[path,map_beg(\(prefixes))] if { path_beg /api }
                use_backend %[path,map_reg(\(regexes))] if { path_beg /r/ }
                use_backend %[src,map_ip(\(networks))] if { path /by-source }
                use_backend %[req.hdr(host),lower,map_dom(\(domains))] if { hdr_end(host) .net }
                use_backend %[req.hdr(host),lower,map(\(hosts),web)]
            backend web
                server web 127.0.0.1:\(web.port)
            backend api
                server api 127.0.0.1:\(apiServer.port)
            backend other
                server other 127.0.0.1:\(other.port)
            """
        }
        let haproxyPort = TCP.freePort(), proxydPort = TCP.freePort()
        let haproxySocket = dir.appendingPathComponent("haproxy.sock").path
        let proxydSocket = dir.appendingPathComponent("proxyd.sock").path
        let reference = try ReferenceHAProxy(config: config(haproxyPort, socket: haproxySocket), waitForPorts: [haproxyPort])
        defer { reference.stop() }
        let proxy = try ProxydProcess(config: config(proxydPort, socket: proxydSocket), waitForPorts: [proxydPort])
        defer { proxy.stop() }

        func route(_ path: String, _ host: String, _ port: Int) throws -> String {
            let client = try TCP.Connection(port: port, timeout: 3)
            try client.send("GET \(path) HTTP/1.1\r\nHost: \(host)\r\n\r\n")
            guard let response = try? client.receiveResponse() else { return "(no response)" }
            return "\(response.status) \(response.bodyText)"
        }
        let requests = [("/", "WWW.Example.com"), ("/", "api.example.com"), ("/", "unknown.example.com"),
                        ("/api/v2/x", "x"), ("/api/x", "x"), ("/r/12", "x"), ("/r/x", "x"), ("/by-source", "x"),
                        ("/", "www.example.net"), ("/", "example.network")]
        func routes(_ port: Int) throws -> [String] { try requests.map { try route($0.0, $0.1, port) } }
        let before = try routes(proxydPort)
        XCTAssertEqual(before, try routes(haproxyPort))
        // `/r/x`: no key matches and no default: the rules end there, and with no default
        // backend the frontend answers 503, as HAProxy's does.
        XCTAssertEqual(before.map { String($0.prefix(9)) }, ["200 web", "200 api", "200 web", "200 other", "200 api", "200 other",
                                                            "503 <html", "200 web", "200 api", "200 web"])

        // The runtime API, the same commands on both; entry references are addresses in
        // HAProxy, so they are left out.
        func cli(_ command: String, _ socket: String) throws -> String {
            try ControlClient.socat(command, socket: socket).split(separator: "\n", omittingEmptySubsequences: false)
                .map { $0.hasPrefix("0x") ? String($0.drop { $0 != " " }) : String($0) }.joined(separator: "\n")
        }
        let commands = ["show map \(hosts)", "add map \(hosts) new.example.com api", "set map \(hosts) www.example.com other",
                        "set map \(hosts) nope web", "del map \(hosts) nope", "del map \(hosts) api.example.com",
                        "show map \(hosts)", "show map /nowhere.map", "set map \(hosts) x", "del map \(hosts)", "clear map"]
        for command in commands {
            XCTAssertEqual(try cli(command, proxydSocket), try cli(command, haproxySocket), command)
        }
        let after = try routes(proxydPort)
        XCTAssertEqual(after, try routes(haproxyPort))
        XCTAssertEqual(after[0], "200 other", "set map took effect")
        XCTAssertEqual(try route("/", "new.example.com", proxydPort), "200 api", "add map took effect")
        XCTAssertEqual(try cli("clear map \(hosts)", proxydSocket), "\n")
        XCTAssertEqual(try cli("show map \(hosts)", proxydSocket), "\n")
        // `show map` lists the maps (HAProxy numbers them among its ACLs' pattern files).
        let listed = try cli("show map", proxydSocket)
        XCTAssertTrue(listed.hasPrefix("# id (file) description\n"), listed)
        XCTAssertTrue(listed.contains("(\(hosts)) pattern loaded from file '\(hosts)' used by map at file '"), listed)
    }
}
