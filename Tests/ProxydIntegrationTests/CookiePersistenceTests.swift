import Foundation
import XCTest

/// Cookie persistence (issue 15) side by side with HAProxy 2.6 on the same config: what
/// the client gets (Set-Cookie, Cache-Control), what the server gets (its Cookie header,
/// echoed), which server answers, and the log's persistence flags (`%tsc`) and retries
/// (`%rc`, `+` after a redispatch).
final class CookiePersistenceTests: XCTestCase {
    func testCookiePersistenceAsHAProxy() throws {
        let s1 = try CookieServer(name: "s1"), s2 = try CookieServer(name: "s2")
        defer { s1.stop(); s2.stop() }
        let down = TCP.freePort()
        let haproxyLog = try LogReceiver(), proxydLog = try LogReceiver()
        defer { haproxyLog.stop(); proxydLog.stop() }
        let ports = (haproxy: (0..<10).map { _ in TCP.freePort() }, proxyd: (0..<10).map { _ in TCP.freePort() })
        func config(_ ports: [Int], log: String) -> String {
            let servers = """
                server s1 127.0.0.1:\(s1.port) cookie a1
                server s2 127.0.0.1:\(s2.port) cookie b2
                server s3 127.0.0.1:\(down) cookie c3 check inter 200 fall 1
            """
            return ProxyFixture.preamble(extraDefaults: """
                log \(log) local0
                option dontlognull
                log-format "REQ %b/%s %tsc %ST %rc"
            """) + """
            listen ins
                bind 127.0.0.1:\(ports[0])
                cookie SRV insert indirect nocache httponly secure domain .example.com attr "SameSite=Lax"
                http-request deny if { path /deny }
            \(servers)
            listen plain
                bind 127.0.0.1:\(ports[1])
                cookie SRV insert postonly
            \(servers)
            listen rw
                bind 127.0.0.1:\(ports[2])
                cookie JSESSIONID rewrite
            \(servers)
            listen pfx
                bind 127.0.0.1:\(ports[3])
                cookie JSESSIONID prefix
            \(servers)
            listen rules
                bind 127.0.0.1:\(ports[4])
                option persist
                cookie SRV insert preserve
                ignore-persist if { path /ignore }
                use-server s2 if { path /use2 }
            \(servers)
            listen force
                bind 127.0.0.1:\(ports[5])
                cookie SRV insert
                force-persist if { path /force }
                server s1 127.0.0.1:\(s1.port) cookie a1
                server s2 127.0.0.1:\(s2.port) cookie b2 disabled
            listen redispatch
                bind 127.0.0.1:\(ports[6])
                option persist
                option redispatch
                retries 1
                cookie SRV insert indirect
            \(servers)
            listen dynamic
                bind 127.0.0.1:\(ports[7])
                cookie SRV insert dynamic
                dynamic-cookie-key s3cr3t
                server s1 127.0.0.1:\(s1.port)
                server s2 127.0.0.1:\(s2.port)
            listen dates
                bind 127.0.0.1:\(ports[8])
                cookie SRV insert maxidle 30m maxlife 8h
            \(servers)
            listen passive
                bind 127.0.0.1:\(ports[9])
                cookie SRV
            \(servers)

            """
        }
        let reference = try ReferenceHAProxy(config: config(ports.haproxy, log: haproxyLog.path), waitForPorts: ports.haproxy)
        defer { reference.stop() }
        let proxy = try ProxydProcess(config: config(ports.proxyd, log: proxydLog.path), waitForPorts: ports.proxyd)
        defer { proxy.stop() }
        Thread.sleep(forTimeInterval: 1.5)  // both find s3 down

        /// A cookie date `offset` seconds from now, as HAProxy writes them.
        func date(_ offset: Int) -> String {
            let step = (Int(Date().timeIntervalSince1970) + offset + 3) >> 2
            let digits = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
            return String((0..<5).map { digits[(step >> (6 * (4 - $0))) & 0x3F] })
        }
        // (section, path, Cookie header or nil)
        let cases: [(Int, String, String?)] = [
            (0, "/", nil), (0, "/", "a=1; SRV=b2; c=3"), (0, "/", "SRV=zz"), (0, "/?sc=SRV=mine", "SRV=b2"),
            (0, "/?cc=max-age=60", nil), (0, "/?cc=public", nil), (0, "/?cc=private", nil), (0, "/", "SRV=c3"),
            (0, "/deny", "SRV=b2"),
            (1, "/", nil), (1, "/?sc=SRV=mine", "SRV=b2; x=1"), (1, "/post", nil),
            (2, "/", nil), (2, "/?sc=JSESSIONID=abc;%20Path=/", nil), (2, "/?sc=JSESSIONID=abc", "JSESSIONID=b2"),
            (2, "/", "JSESSIONID=zz; y=2"),
            (3, "/?sc=JSESSIONID=abc;%20Path=/", nil), (3, "/?sc=JSESSIONID=xyz", "JSESSIONID=b2~abc; y=2"),
            (3, "/", "JSESSIONID=abc"),
            (4, "/?sc=SRV=mine", "SRV=b2"), (4, "/?sc=SRV=mine", nil), (4, "/use2", "SRV=a1"), (4, "/use2", nil),
            (4, "/ignore", "SRV=a1"),
            (5, "/force", "SRV=b2"), (5, "/x", "SRV=b2"), (6, "/", "SRV=c3"),
            // The values HAProxy derives from the key, address and port (XXH64).
            (7, "/", nil), (7, "/", nil),
            // Dates (4-second steps, base64): fresh, idle too long, too old, too far ahead,
            // then one a minute ahead (fresh, nothing to refresh).
            (8, "/", "SRV=b2|\(date(0))"), (8, "/", "SRV=b2|\(date(-3600))"), (8, "/", "SRV=b2|\(date(0))|\(date(-20 * 3600))"),
            (8, "/", "SRV=b2|\(date(2 * 86400))"), (8, "/", "SRV=b2|\(date(60))|\(date(60))"), (8, "/", nil),
            // A bare `cookie NAME` reads the server's own cookie and logs no flags.
            (9, "/", "SRV=b2"), (9, "/?sc=SRV=z", "SRV=zz"),
        ]
        for (section, path, cookie) in cases {
            let method = path == "/post" ? "POST" : "GET"
            var request = "\(method) \(path) HTTP/1.1\r\nHost: x\r\n"
            if let cookie { request += "Cookie: \(cookie)\r\n" }
            request += method == "POST" ? "Content-Length: 0\r\n\r\n" : "\r\n"
            let expected = try exchange(request, port: ports.haproxy[section])
            let actual = try exchange(request, port: ports.proxyd[section])
            XCTAssertEqual(actual, expected, "request: \(request.debugDescription)")
            if section == 7 {
                XCTAssertNotNil(expected.range(of: "set-cookie: SRV=[0-9a-f]{16}; path=/", options: .regularExpression), expected)
            }
        }
        let count = cases.count
        func lines(_ receiver: LogReceiver) -> [String] {
            let deadline = Date().addingTimeInterval(5)
            var found: [String] = []
            repeat {
                found = receiver.messages.filter { $0.contains("REQ ") }.map { String($0[$0.range(of: "REQ ")!.upperBound...]) }
                if found.count >= count { break }
                Thread.sleep(forTimeInterval: 0.1)
            } while Date() < deadline
            return found
        }
        XCTAssertEqual(lines(proxydLog), lines(haproxyLog))
    }

    /// `option prefer-last-server`: a keep-alive client stays on the server of its previous
    /// request when its connection is its own (`http-reuse never`); under `http-reuse safe`
    /// HAProxy 2.6 finds no such connection, and without the option round robin moves on.
    /// proxyd has no private connections yet, but a lone client gets its own back.
    func testPreferLastServerAsHAProxy() throws {
        let a = try TestBackend(name: "a"), b = try TestBackend(name: "b")
        defer { a.stop(); b.stop() }
        func config(_ ports: [Int]) -> String {
            ProxyFixture.preamble() + """
            listen prefer
                bind 127.0.0.1:\(ports[0])
                http-reuse never
                option prefer-last-server
                server a 127.0.0.1:\(a.port)
                server b 127.0.0.1:\(b.port)
            listen shared
                bind 127.0.0.1:\(ports[1])
                option prefer-last-server
                server a 127.0.0.1:\(a.port)
                server b 127.0.0.1:\(b.port)
            listen plain
                http-reuse never
                bind 127.0.0.1:\(ports[2])
                server a 127.0.0.1:\(a.port)
                server b 127.0.0.1:\(b.port)

            """
        }
        let haproxyPorts = (0..<3).map { _ in TCP.freePort() }, proxydPorts = (0..<3).map { _ in TCP.freePort() }
        let reference = try ReferenceHAProxy(config: config(haproxyPorts), waitForPorts: haproxyPorts)
        defer { reference.stop() }
        let proxy = try ProxydProcess(config: config(proxydPorts), waitForPorts: proxydPorts)
        defer { proxy.stop() }
        /// The servers that answer four requests on one connection, then one on another.
        func servers(_ port: Int) throws -> String {
            var names: [String] = []
            let client = try TCP.Connection(port: port, timeout: 5)
            for _ in 0..<4 {
                try client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                names.append(try client.receiveResponse().bodyText)
            }
            client.close()
            let other = try TCP.Connection(port: port, timeout: 5)
            try other.send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            names.append(try other.receiveResponse().bodyText)
            return names.joined(separator: " ")
        }
        for i in 0..<3 {
            let expected = try servers(haproxyPorts[i])
            XCTAssertEqual(try servers(proxydPorts[i]), expected, "section \(i)")
            XCTAssertEqual(expected, i == 0 ? "a a a a b" : "a b a b a", "section \(i)")
        }
    }

    /// One request on its own connection; the answer with names in lower case and the
    /// headers that differ between any two proxies (date, length, connection) left out.
    private func exchange(_ request: String, port: Int) throws -> String {
        let client = try TCP.Connection(port: port, timeout: 5)
        try client.send(request)
        guard let response = try? client.receiveResponse() else { return "(no response)" }
        let headers = response.headers.map { ($0.0.lowercased(), $0.1) }
            .filter { !["date", "connection", "content-length"].contains($0.0) }
            .map { "\($0.0): \($0.1)" }
        // A date written now may fall on either side of a 4-second step: compared as DATE.
        return (["\(response.status)"] + headers + [response.bodyText.lowercased()]).joined(separator: "\n")
            .replacingOccurrences(of: "\\|[A-Za-z0-9+/]{5}(?=[|;])", with: "|DATE", options: .regularExpression)
    }
}

/// An HTTP server for these tests: it answers each request with its name and the Cookie
/// headers it received, and adds the `Set-Cookie` (`sc=`) and `Cache-Control` (`cc=`)
/// lines its query asks for (`%20` for a space), then closes.
final class CookieServer {
    let name: String
    let port: Int
    private let fd: Int32
    private let stopped = NSLock()
    private var isStopped = false

    init(name: String) throws {
        self.name = name
        // Accepts time out every 200 ms, so that `stop` ends the thread.
        (fd, port) = try TCP.listenOnLoopback(backlog: 64, name: "cookie server")
        Thread { [self] in
            while !stopped.withLock({ isStopped }) {
                let client = accept(fd, nil, nil)
                if client >= 0 { serve(client) }
            }
            close(fd)
        }.start()
    }

    func stop() { stopped.withLock { isStopped = true } }

    private func serve(_ client: Int32) {
        defer { close(client) }
        var tv = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while !bytes.ends(with: [13, 10, 13, 10]) && bytes.count < 65536 {
            let n = chunk.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return }
            bytes += chunk[0..<n]
        }
        let lines = String(decoding: bytes, as: UTF8.self).components(separatedBy: "\r\n")
        let target = lines.first?.split(separator: " ").dropFirst().first.map(String.init) ?? "/"
        var extra = ""
        if let query = target.split(separator: "?", maxSplits: 1).dropFirst().first {
            for item in query.split(separator: "&") {
                let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2 else { continue }
                let value = parts[1].replacingOccurrences(of: "%20", with: " ")
                if parts[0] == "sc" { extra += "Set-Cookie: \(value)\r\n" }
                if parts[0] == "cc" { extra += "Cache-Control: \(value)\r\n" }
            }
        }
        let cookies = lines.filter { $0.lowercased().hasPrefix("cookie:") }
        let body = ([name] + cookies).joined(separator: "\n") + "\n"
        let response = "HTTP/1.1 200 OK\r\nX-Server: \(name)\r\n\(extra)Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        _ = Array(response.utf8).withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }
}

private extension Array where Element == UInt8 {
    func ends(with suffix: [UInt8]) -> Bool { count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix }
}
