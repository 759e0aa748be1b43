import Foundation
import XCTest

/// `compression algo|type|offload` beside HAProxy 2.6 on the same config and server:
/// for each response and `Accept-Encoding`, the same headers (names in any case: HAProxy
/// writes them in lower case) and a body that curl decompresses to the same bytes.
final class CompressionComparisonTests: XCTestCase {
    private static func answer(status: String = "200 OK", _ headers: [String], body: String) -> String {
        "HTTP/1.1 \(status)\r\n" + headers.map { $0 + "\r\n" }.joined() + "Content-Length: \(body.utf8.count)\r\n\r\n" + body
    }

    private static let page = "<html><body>" + String(repeating: "<p>compressible text, line after line</p>\n", count: 400) + "</body></html>\n"
    /// Large enough to reach the proxies in many reads: the compressed stream spans them.
    private static let big = (0..<40_000).map { "line \($0) of a long plain text body\n" }.joined()

    private static let answers: [String: String] = [
        "/page": answer(["Content-Type: text/html; charset=utf-8"], body: page),
        "/offload": answer(["Content-Type: text/html"], body: page),
        "/big": answer(["Content-Type: text/plain"], body: big),
        "/chunked": "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "10\r\n0123456789abcdef\r\n" + String(format: "%x", page.utf8.count) + "\r\n" + page + "\r\n0\r\n\r\n",
        "/etag": answer(["Content-Type: text/html", "ETag: \"v1\"", "Vary: Cookie"], body: page),
        "/weak": answer(["Content-Type: text/html", "ETag: W/\"v1\""], body: page),
        "/image": answer(["Content-Type: image/png"], body: page),
        "/untyped": answer([], body: page),
        "/encoded": answer(["Content-Type: text/html", "Content-Encoding: br"], body: page),
        "/notransform": answer(["Content-Type: text/html", "Cache-Control: public, no-transform"], body: page),
        "/missing": answer(status: "404 Not Found", ["Content-Type: text/html"], body: page),
        "/empty": answer(["Content-Type: text/html"], body: ""),
        "/small": answer(["Content-Type: text/html"], body: "hi\n"),
        "/http10": "HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: \(page.utf8.count)\r\n\r\n" + page,
    ]

    private func config(port: Int, server: Int, stats: Int) -> String {
        """
        defaults
            mode http
            timeout connect 2s
            timeout client 5s
            timeout server 5s
        listen stats
            bind 127.0.0.1:\(stats)
            stats uri /stats
        frontend fe
            bind 127.0.0.1:\(port)
            compression algo gzip deflate
            compression type text/html text/plain
            use_backend offloaded if { path_beg /offload }
            default_backend app
        backend app
            server s1 127.0.0.1:\(server)
        backend offloaded
            compression algo raw-deflate gzip
            compression offload
            server s1 127.0.0.1:\(server)
        """
    }

    private struct Fetched: Equatable {
        var headers: [String]
        var decoded: Data
    }

    /// The response's headers (lower-cased, no Date) and its body as curl decodes it.
    private func fetch(_ port: Int, _ path: String, acceptEncoding: String?, http10: Bool = false) throws -> Fetched {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("compress-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var args = ["-s", "-D", dir.appendingPathComponent("h").path, "-o", dir.appendingPathComponent("b").path]
        // Without one, curl's own (`--compressed`) is removed: the request has none.
        args += ["-H", "Accept-Encoding:\(acceptEncoding.map { " " + $0 } ?? "")"]
        if http10 { args.append("-0") }
        // curl decodes what it is sent whatever it asked (gzip and deflate are built in).
        args += ["--compressed", "http://127.0.0.1:\(port)\(path)"]
        _ = try Sandbox.runProcess("/usr/bin/curl", args, timeout: 20)
        let headers = try String(contentsOf: dir.appendingPathComponent("h"), encoding: .utf8)
            .split(separator: "\r\n").map { $0.lowercased() }
            // HAProxy says `Connection: close` to an HTTP/1.0 client, proxyd leaves it implied:
            // not a compression matter.
            .filter { !$0.hasPrefix("date:") && !(http10 && $0.hasPrefix("connection:")) }
        // An empty body leaves no file.
        return Fetched(headers: headers, decoded: (try? Data(contentsOf: dir.appendingPathComponent("b"))) ?? Data())
    }

    /// `pxname/svname` → the stats CSV's fields.
    private func statsRows(_ port: Int) throws -> [String: [String: String]] {
        let text = try ProxyFixture.get(port: port, path: "/stats;csv").bodyText
        let lines = text.split(separator: "\n").map(String.init)
        guard let header = lines.first, header.hasPrefix("# ") else { throw TestFailure("no CSV header: \(text.prefix(200))") }
        let names = header.dropFirst(2).split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        var rows: [String: [String: String]] = [:]
        for line in lines.dropFirst() {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            rows[fields[0] + "/" + fields[1]] = Dictionary(zip(names, fields), uniquingKeysWith: { a, _ in a })
        }
        return rows
    }

    func testCompressedResponsesAgreeWithHAProxy() throws {
        let server = try CannedHTTPServer(answers: Self.answers)
        defer { server.stop() }
        let haproxyPort = TCP.freePort(), proxydPort = TCP.freePort()
        let haproxyStats = TCP.freePort(), proxydStats = TCP.freePort()
        let haproxy = try ReferenceHAProxy(config: config(port: haproxyPort, server: server.port, stats: haproxyStats),
                                           waitForPorts: [haproxyPort, haproxyStats])
        defer { haproxy.stop() }
        let proxyd = try ProxydProcess(config: config(port: proxydPort, server: server.port, stats: proxydStats),
                                       waitForPorts: [proxydPort, proxydStats])
        defer { proxyd.stop() }

        var compressed = 0
        for path in Self.answers.keys.sorted() {
            for encoding in ["gzip", "deflate", nil] as [String?] {
                let theirs = try fetch(haproxyPort, path, acceptEncoding: encoding)
                let ours = try fetch(proxydPort, path, acceptEncoding: encoding)
                XCTAssertEqual(ours.headers, theirs.headers, "\(path) with \(encoding ?? "no Accept-Encoding")")
                XCTAssertEqual(ours.decoded, theirs.decoded, "\(path) with \(encoding ?? "no Accept-Encoding"): body")
                if ours.headers.contains("content-encoding: \(encoding ?? "-")") { compressed += 1 }
            }
        }
        // page, offload, big, chunked, etag, weak, small: each in gzip and deflate.
        XCTAssertEqual(compressed, 2 * 7)

        // Choices between algorithms, q-values, HTTP/1.0, and `compression offload`.
        for (path, encoding, http10) in [("/page", "deflate, gzip", false), ("/page", "gzip;q=0.5, deflate", false),
                                         ("/page", "*", false), ("/page", "gzip;q=0", false), ("/page", "br", false),
                                         ("/page", "gzip", true), ("/offload", "gzip, deflate", false),
                                         ("/offload", "*", false), ("/offload", "br", false)] {
            let theirs = try fetch(haproxyPort, path, acceptEncoding: encoding, http10: http10)
            let ours = try fetch(proxydPort, path, acceptEncoding: encoding, http10: http10)
            XCTAssertEqual(ours, theirs, "\(path) with \(encoding)\(http10 ? " over HTTP/1.0" : "")")
        }
        // What the server was sent: the same heads from both (offloaded: no Accept-Encoding
        // when an algorithm was chosen), and the `br` one kept it.
        func heads(via port: Int) -> [String] {
            server.heads.filter { $0.lowercased().contains("host: 127.0.0.1:\(port)") }
                // HAProxy adds `Connection: keep-alive` to HTTP/1.0 requests: not a compression matter.
                .map { $0.lowercased().split(separator: "\r\n").filter { !$0.hasPrefix("host:") && !$0.hasPrefix("connection:") }
                    .joined(separator: "|") }
        }
        XCTAssertEqual(heads(via: proxydPort), heads(via: haproxyPort))
        let offloaded = heads(via: proxydPort).filter { $0.hasPrefix("get /offload") }
        XCTAssertEqual(offloaded.count, 6)
        XCTAssertEqual(offloaded.filter { $0.contains("accept-encoding") }.map { $0.hasSuffix("accept-encoding: br") }, [true],
                       "\(offloaded)")
        // comp_rsp, comp_in, comp_out, comp_byp of the frontend and the backends.
        let theirStats = try statsRows(haproxyStats), ourStats = try statsRows(proxydStats)
        for row in ["fe/FRONTEND", "app/BACKEND", "offloaded/BACKEND"] {
            let theirs = try XCTUnwrap(theirStats[row]), ours = try XCTUnwrap(ourStats[row])
            XCTAssertEqual(ours["comp_rsp"], theirs["comp_rsp"], row)
            XCTAssertEqual(ours["comp_byp"], "0", row)
            XCTAssertEqual(theirs["comp_byp"], "0", row)
            let ourIn = Int(ours["comp_in"] ?? "") ?? -1, theirIn = Int(theirs["comp_in"] ?? "") ?? -1
            // HAProxy counts one byte more per chunked response it compresses (two here).
            XCTAssertTrue(theirIn - ourIn == (row == "app/BACKEND" || row == "fe/FRONTEND" ? 2 : 0), "\(row): \(ourIn) \(theirIn)")
            // The compressed size depends on where each flushes (per read here, per chunk there).
            let ourOut = Int(ours["comp_out"] ?? "") ?? -1
            XCTAssertTrue(ourOut > 0 && ourOut < ourIn / 5, "\(row): \(ourOut) of \(ourIn)")
        }
        // The decoded body is the server's.
        let big = try fetch(proxydPort, "/big", acceptEncoding: "gzip")
        XCTAssertEqual(big.decoded, Data(Self.big.utf8))
        XCTAssertTrue(big.headers.contains("transfer-encoding: chunked") && big.headers.contains("vary: accept-encoding"))
    }
}
