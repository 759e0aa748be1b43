import Foundation
import XCTest

/// What a client is told about its connection, side by side with HAProxy 2.6: the
/// response's `Connection` header and whether the connection then stays open, for HTTP/1.0
/// and HTTP/1.1 clients that ask to keep it or not, on the server's responses (HTTP/1.1
/// and HTTP/1.0) and on proxyd's own (deny, return, redirect).
final class ConnectionHeaderTests: XCTestCase {
    private let requests = [
        "1.0": "GET PATH HTTP/1.0\r\n\r\n",
        "1.0 keep-alive": "GET PATH HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        "1.1": "GET PATH HTTP/1.1\r\nHost: x\r\n\r\n",
        "1.1 close": "GET PATH HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    ]

    func testConnectionHeaderAndCloseAsHAProxy() throws {
        let server = try CannedHTTPServer(answers: [
            "/11": "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            "/10": "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
        ])
        defer { server.stop() }
        let template = """
            global
                nbthread 1
            defaults
                mode http
                timeout connect 1s
                timeout client 5s
                timeout server 5s
            frontend fe
                bind 127.0.0.1:PORT
                http-request deny if { path /deny }
                http-request return status 200 content-type text/plain string ok if { path /return }
                http-request redirect location /elsewhere if { path /redirect }
                default_backend app
            backend app
                server s 127.0.0.1:\(server.port)
            """
        let haproxyPort = TCP.freePort(), proxydPort = TCP.freePort()
        let reference = try ReferenceHAProxy(config: template.replacingOccurrences(of: "PORT", with: "\(haproxyPort)"),
                                             waitForPorts: [haproxyPort])
        defer { reference.stop() }
        let proxy = try ProxydProcess(config: template.replacingOccurrences(of: "PORT", with: "\(proxydPort)"),
                                      waitForPorts: [proxydPort])
        defer { proxy.stop() }
        var differences: [String] = []
        for path in ["/11", "/10", "/deny", "/return", "/redirect"] {
            for (name, request) in requests.sorted(by: { $0.key < $1.key }) {
                let text = request.replacingOccurrences(of: "PATH", with: path)
                let expected = try outcome(text, port: haproxyPort)
                let got = try outcome(text, port: proxydPort)
                if got != expected { differences.append("\(path), HTTP \(name): haproxy \(expected), proxyd \(got)") }
            }
        }
        XCTAssertEqual(differences, [], differences.joined(separator: "\n"))
    }

    /// "connection: VALUE (or none), open|closed" for one request on a new connection.
    private func outcome(_ request: String, port: Int) throws -> String {
        let client = try TCP.Connection(port: port, timeout: 3)
        try client.send(request)
        let response = try client.receiveResponse()
        let header = response.headers.first { $0.0.lowercased() == "connection" }?.1.lowercased() ?? "none"
        // Closed: the end of the stream comes at once; open: nothing comes within 300 ms.
        client.setTimeout(0.3)
        let open = client.receiveSome() == nil
        return "\(response.status) connection: \(header), \(open ? "open" : "closed")"
    }
}
