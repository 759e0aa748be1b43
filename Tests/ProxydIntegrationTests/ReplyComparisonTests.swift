import Foundation
import XCTest

/// `http-request return`, `deny` and `tarpit` replies, and `errorfile` pages, through
/// Debian's HAProxy 2.6 and proxyd on the same config: the same bytes on the wire (status
/// line, header names and order, log-format bodies and `hdr` values evaluated per request,
/// HAProxy's dummy response when there is no payload), and the connection kept alike.
final class ReplyComparisonTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("replies-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    private func file(_ name: String, _ text: String) throws -> String {
        let path = directory.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// What one request on a new connection gets, until the proxy closes or goes quiet.
    private func exchange(_ request: String, port: Int) throws -> String {
        let client = try TCP.Connection(port: port, timeout: 0.5)
        defer { client.close() }
        try client.send(request)
        return String(decoding: client.receiveAll(), as: UTF8.self)
    }

    func testRepliesAreHAProxysBytes() throws {
        let lfFile = try file("lf.txt", "from a file %[var(txn.who)]\n")
        let page = try file("503.http", "HTTP/1.0 503 Service Unavailable\r\nCache-Control: no-cache\r\n"
                                + "Connection: close\r\nContent-Type: text/html\r\n\r\n<h1>our own 503</h1>\n")
        func config(_ port: Int) -> String {
            ProxyFixture.preamble(extraDefaults: "    timeout tarpit 100ms\n    errorfile 503 \(page)") + """
            frontend fe
                bind 127.0.0.1:\(port)
                http-request set-var(txn.who) str(alice)
                http-request return status 201 content-type text/plain hdr X-Who "%[var(txn.who)]" hdr X-B lit lf-string "who=%[var(txn.who)] path=%[path] host=%[req.hdr(host)]\\n" if { path /lf }
                http-request return status 200 content-type text/plain lf-file \(lfFile) if { path /lf-file }
                http-request return status 504 if { path /dummy504 }
                http-request return status 418 hdr X-T "%[var(txn.who)]" if { path /teapot }
                http-request return hdr A b if { path /dummy }
                http-request return status 302 hdr location /elsewhere if { path /moved }
                http-request deny hdr X-D "%[var(txn.who)]" if { path /deny-hdr }
                http-request deny deny_status 503 content-type text/plain lf-string "busy %[var(txn.who)]" if { path /deny-lf }
                http-request deny deny_status 429 if { path /deny429 }
                http-request deny if { path /deny }
                http-request tarpit deny_status 429 content-type text/plain lf-string "slow %[var(txn.who)]" if { path /tarpit-lf }
                http-request tarpit if { path /tarpit }
                http-request return status 503 default-errorfiles if { path /page503 }
                http-request return status 200 content-type text/plain hdr X-P "%[path,url_dec]" lf-string "p=%[path,url_dec]" if { path_beg /inject }
                default_backend gone
            backend gone
                retries 0
                server gone 127.0.0.1:\(TCP.freePort())
            """
        }
        let haproxyPort = TCP.freePort(), proxydPort = TCP.freePort()
        let haproxy = try ReferenceHAProxy(config: config(haproxyPort), waitForPorts: [haproxyPort])
        defer { haproxy.stop() }
        let proxyd = try ProxydProcess(config: config(proxydPort), waitForPorts: [proxydPort])
        defer { proxyd.stop() }

        let paths = ["/lf", "/lf-file", "/dummy504", "/teapot", "/dummy", "/moved", "/deny-hdr", "/deny-lf", "/deny429",
                     "/deny", "/tarpit-lf", "/tarpit", "/page503", "/to-the-server",
                     "/inject%0d%0aX:%20y%00%7f%09%c3%a9"]
        for path in paths {
            // Two requests on one connection: the second is answered only when the
            // connection is kept after the first.
            let request = "GET \(path) HTTP/1.1\r\nHost: example.test\r\n\r\nGET /dummy HTTP/1.1\r\nHost: x\r\n\r\n"
            let theirs = try exchange(request, port: haproxyPort)
            XCTAssertEqual(try exchange(request, port: proxydPort), theirs, path)
        }
        // What the comparison stands on: evaluated per request, HAProxy's layout.
        let evaluated = try exchange("GET /lf HTTP/1.1\r\nHost: example.test\r\n\r\n", port: proxydPort)
        XCTAssertTrue(evaluated.hasPrefix("HTTP/1.1 201 Created\r\nx-who: alice\r\nx-b: lit\r\ncontent-length: 37\r\n"), evaluated)
        XCTAssertTrue(evaluated.hasSuffix("\r\n\r\nwho=alice path=/lf host=example.test\n"), evaluated)
    }

    /// `http-response deny|return`: the server answered, the proxy's reply goes in its
    /// place, and the connection stays for the next request (answered by a `return` of
    /// the frontend, so that both sides' bytes are the proxy's own).
    func testResponseRulesAnswerInPlaceOfTheServer() throws {
        let server = try TestBackend(name: "origin", behaviour: .named)
        func socket(_ port: Int) -> String { directory.appendingPathComponent("\(port).sock").path }
        func config(_ port: Int) -> String {
            ProxyFixture.preamble(extraGlobal: "stats socket \(socket(port)) level admin") + """
            frontend fe
                bind 127.0.0.1:\(port)
                http-request return status 200 content-type text/plain string local if { path /local }
                default_backend be
            backend be
                http-request set-var(txn.p) path
                http-response deny if { var(txn.p) -m str /deny }
                http-response deny deny_status 403 content-type text/plain lf-string "no %[var(txn.p)]" hdr X-P "%[var(txn.p)]" if { var(txn.p) -m str /deny-lf }
                http-response return status 201 content-type text/plain lf-string "instead of %[var(txn.p)] (%[status])" if { var(txn.p) -m str /return }
                http-response return if { var(txn.p) -m str /dummy }
                server origin 127.0.0.1:\(server.port)
            """
        }
        let haproxyPort = TCP.freePort(), proxydPort = TCP.freePort()
        let haproxy = try ReferenceHAProxy(config: config(haproxyPort), waitForPorts: [haproxyPort])
        defer { haproxy.stop() }
        let proxyd = try ProxydProcess(config: config(proxydPort), waitForPorts: [proxydPort])
        defer { proxyd.stop() }
        for path in ["/deny", "/deny-lf", "/return", "/dummy"] {
            let request = "GET \(path) HTTP/1.1\r\nHost: x\r\n\r\nGET /local HTTP/1.1\r\nHost: x\r\n\r\n"
            let theirs = try exchange(request, port: haproxyPort)
            XCTAssertEqual(try exchange(request, port: proxydPort), theirs, path)
            XCTAssertTrue(theirs.hasSuffix("\r\n\r\nlocal"), "\(path): \(theirs)")
        }
        // Two denied responses each (deny, deny-lf), in `dresp` of the frontend, the
        // backend and the server.
        func denied(_ port: Int) throws -> [String] {
            let lines = try ControlClient.socat("show stat", socket: socket(port)).split(separator: "\n")
            let names = lines.first?.dropFirst(2).split(separator: ",", omittingEmptySubsequences: false) ?? []
            let column = try XCTUnwrap(names.firstIndex(of: "dresp"))
            return lines.filter { $0.hasPrefix("fe,FRONTEND,") || $0.hasPrefix("be,") }.map { line in
                let fields = line.split(separator: ",", omittingEmptySubsequences: false)
                return "\(fields[0]),\(fields[1]) dresp=\(fields[column])"
            }
        }
        let theirs = try denied(haproxyPort)
        XCTAssertEqual(try denied(proxydPort), theirs)
        XCTAssertEqual(theirs, ["fe,FRONTEND dresp=2", "be,origin dresp=2", "be,BACKEND dresp=2"])
        XCTAssertTrue(try exchange("GET /deny HTTP/1.1\r\nHost: x\r\n\r\n", port: proxydPort).hasPrefix("HTTP/1.1 502 Bad Gateway\r\n"))
    }

    /// A decoded path in a header the server gets: its CR LF cannot start a header of
    /// its own (HAProxy writes control characters of a log-format sample as `%XX`).
    func testControlCharactersOfASampleCannotSplitAHeader() throws {
        let echo = try TestBackend(name: "echo", behaviour: .echo)
        let (proxy, port) = try ProxyFixture.start(servers: [echo], frontend: """
            http-request set-header X-P %[path,url_dec]
            unique-id-format %[path,url_dec]
            unique-id-header X-Unique
            """)
        defer { proxy.stop() }
        let response = try ProxyFixture.get(port: port, path: "/a%0d%0aX-Injected:%20yes")
        XCTAssertTrue(response.bodyText.contains("X-P: /a%0D%0AX-Injected: yes\r\n"), response.bodyText)
        XCTAssertTrue(response.bodyText.contains("X-Unique: /a%0D%0AX-Injected: yes\r\n"), response.bodyText)
        XCTAssertFalse(response.bodyText.contains("\r\nX-Injected"), response.bodyText)
    }
}
