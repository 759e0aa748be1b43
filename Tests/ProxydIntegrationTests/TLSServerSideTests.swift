import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ProxyCore
import XCTest

/// TLS towards servers (`server … ssl`), with nginx as the lab's web servers, and the lab's
/// two TLS configurations end to end: termination (curl → proxyd TLS → nginx TLS) and
/// passthrough (curl → proxyd tcp → nginx TLS).
final class TLSServerSideTests: TLSTestCase {
    private func nginx(_ name: String) throws -> TLSNginx {
        try TLSNginx(name: name, certificate: try m.path("nginx.crt"), key: try m.path("nginx.key"),
                     clientCA: try m.path("ca.crt"))
    }

    /// The lab's `global` TLS lines, with our temp directory as crt-base and ca-base.
    private func labGlobal(serverVerify: String? = "none") throws -> String {
        """
        global
            nbthread 1
            ca-base \(try m.directory.path)
            crt-base \(try m.directory.path)
            ssl-default-bind-ciphers  ECDH+AESGCM:DH+AESGCM:ECDH+AES256:DH+AES256:ECDH+AES128:DH+AES:RSA+AESGCM:RSA+AES:!aNULL:!MD5:!DSS
            ssl-default-bind-options  no-sslv3
            \(serverVerify.map { "ssl-server-verify \($0)" } ?? "")
            tune.ssl.default-dh-param 2048

        defaults
            mode    tcp
            option  tcplog
            option  dontlognull
            timeout connect 5000
            timeout client  50000
            timeout server  50000

        """
    }

    func testHTTPReencryptionWithClientCertificateSNIAndConnectionReuse() throws {
        let web = try nginx("myweb1")
        defer { web.stop() }
        let port = TCP.freePort()
        let proxy = try ProxydProcess(config: try labGlobal() + """
            frontend fe
                mode http
                bind 127.0.0.1:\(port) ssl crt proxy.pem
                default_backend app
            backend app
                mode http
                server myweb1 127.0.0.1:\(web.port) ssl verify none crt client.pem sni str(nginx.test)
            """, waitForPorts: [port])
        defer { proxy.stop() }
        let url = "https://127.0.0.1:\(port)/"
        let result = try Tool.curlInsecure(["-w", "%{num_connects}\n", url, url])
        XCTAssertEqual(result.status, 0, result.all)
        let expected = "myweb1 client=[CN=client.test] verify=SUCCESS sni=[nginx.test] proto=TLSv1.3 reused=.\n"
        XCTAssertEqual(result.stdout, expected + "1\n" + expected + "0\n", result.all)
    }

    /// `sni req.hdr(host)` and `sni ssl_fc_sni`: the name sent to the server comes from the
    /// request or the client's handshake; a kept-alive server connection is used again
    /// only by a request that announces the same name; with `verify required` the
    /// certificate must carry that name. Same requests, same answers as HAProxy 2.6.
    func testServerNameFromTheRequestMatchesHAProxy() throws {
        let web = try nginx("web")
        defer { web.stop() }
        func config(_ port: Int, _ tlsPort: Int) throws -> String {
            try labGlobal() + """
                frontend fe
                    mode http
                    bind 127.0.0.1:\(port)
                    bind 127.0.0.1:\(tlsPort) ssl crt proxy.pem
                    use_backend by-sni if { ssl_fc }
                    use_backend checked if { path_beg /checked }
                    default_backend by-host
                backend by-host
                    mode http
                    server web 127.0.0.1:\(web.port) ssl verify none sni req.hdr(host)
                backend by-sni
                    mode http
                    server web 127.0.0.1:\(web.port) ssl verify none sni ssl_fc_sni
                backend checked
                    mode http
                    server web 127.0.0.1:\(web.port) ssl verify required ca-file ca.crt sni req.hdr(host)

                """
        }
        /// Several requests on one client connection, then the other cases; the answers
        /// without nginx's session-reuse flag (each proxy keeps its own sessions).
        func answers(_ port: Int, _ tlsPort: Int) throws -> [String] {
            let url = "http://127.0.0.1:\(port)/"
            var args: [String] = []
            for host in ["a.test", "b.test", "a.test", "nginx.test"] {
                if !args.isEmpty { args.append("--next") }
                args += ["-H", "Host: \(host)", "-w", " %{num_connects}\n", url]
            }
            for host in ["nginx.test", "other.test"] {
                args += ["--next", "-H", "Host: \(host)", "-w", " %{http_code}\n", url + "checked"]
            }
            var out = try Tool.curlInsecure(args).stdout.split(separator: "\n").map(String.init)
            let noHost = try TCP.Connection(port: port)
            try noHost.send("GET / HTTP/1.0\r\n\r\n")
            out.append(String(decoding: noHost.receiveAll(), as: UTF8.self).components(separatedBy: "\r\n\r\n").last ?? "")
            out.append(try Tool.curlInsecure(["--resolve", "c.test:\(tlsPort):127.0.0.1", "https://c.test:\(tlsPort)/"]).stdout)
            return out.map { $0.replacingOccurrences(of: #" reused=[.r]"#, with: "", options: .regularExpression) }
        }
        let theirPort = TCP.freePort(), theirTLS = TCP.freePort()
        let reference = try ReferenceHAProxy(config: try config(theirPort, theirTLS), waitForPorts: [theirPort, theirTLS])
        let theirs = try answers(theirPort, theirTLS)
        reference.stop()
        let port = TCP.freePort(), tlsPort = TCP.freePort()
        let proxy = try ProxydProcess(config: try config(port, tlsPort), waitForPorts: [port, tlsPort])
        defer { proxy.stop() }
        let ours = try answers(port, tlsPort)
        XCTAssertEqual(ours, theirs, "\nours:\n\(ours.joined(separator: "\n"))\ntheirs:\n\(theirs.joined(separator: "\n"))")
        let base = "web client=[] verify=NONE"
        XCTAssertEqual(ours.filter { $0.hasPrefix(base) || $0.hasPrefix(" ") }, [
            "\(base) sni=[a.test] proto=TLSv1.3", " 1", "\(base) sni=[b.test] proto=TLSv1.3", " 0",
            "\(base) sni=[a.test] proto=TLSv1.3", " 0", "\(base) sni=[nginx.test] proto=TLSv1.3", " 0",
            "\(base) sni=[nginx.test] proto=TLSv1.3", " 200",
            " 503",  // verify required: the certificate does not name other.test
            "\(base) sni=[] proto=TLSv1.3\n",  // no Host header: no SNI
            "\(base) sni=[c.test] proto=TLSv1.3\n",  // the client's SNI
        ], ours.joined(separator: "\n"))
    }

    func testServerVerification() throws {
        let web = try nginx("myweb1")
        defer { web.stop() }
        let good = TCP.freePort(), wrongName = TCP.freePort(), wrongCA = TCP.freePort()
        let proxy = try ProxydProcess(config: try labGlobal(serverVerify: nil) + """
            listen good
                mode http
                bind 127.0.0.1:\(good) ssl crt proxy.pem
                server s 127.0.0.1:\(web.port) ssl ca-file ca.crt sni str(nginx.test)
            listen wrongname
                mode http
                bind 127.0.0.1:\(wrongName) ssl crt proxy.pem
                retries 0
                server s 127.0.0.1:\(web.port) ssl ca-file ca.crt sni str(elsewhere.test)
            listen wrongca
                mode http
                bind 127.0.0.1:\(wrongCA) ssl crt proxy.pem
                retries 0
                server s 127.0.0.1:\(web.port) ssl ca-file rsa.crt verify required
            """, waitForPorts: [good, wrongName, wrongCA])
        defer { proxy.stop() }
        let ok = try Tool.curlInsecure(["https://127.0.0.1:\(good)/healthz"])
        XCTAssertEqual(ok.stdout, "ok\n", ok.all)
        for port in [wrongName, wrongCA] {
            let refused = try Tool.curlInsecure(["-w", "%{http_code}", "-o", "/dev/null", "https://127.0.0.1:\(port)/healthz"])
            XCTAssertEqual(refused.stdout, "503", "a server whose certificate does not verify is not used: \(refused.all)")
        }
    }

    func testVerifyRequiredWithoutCAFileIsAStartupError() throws {
        let port = TCP.freePort()
        let proxy = try ProxydProcess(config: try labGlobal(serverVerify: nil) + """
            listen x
                bind 127.0.0.1:\(port)
                server s 127.0.0.1:1 ssl
            """)
        XCTAssertEqual(proxy.waitForExit(timeout: 10), 1)
        let text = proxy.stderrText()
        XCTAssertTrue(text.contains("'server x/s' : verify is enabled by default but no CA file specified."), text)
    }

    /// haproxy-ssl-termination.conf: the frontend (mode tcp, from defaults) terminates TLS
    /// with `crt my-crt-key.pem`; the servers are reached over TLS with the same PEM as
    /// client certificate. The lab's curl command works.
    func testLabSSLTermination() throws {
        let web1 = try nginx("myweb1"), web2 = try nginx("myweb2")
        defer { web1.stop(); web2.stop() }
        try? FileManager.default.removeItem(atPath: try m.path("my-crt-key.pem"))
        try FileManager.default.copyItem(atPath: try m.path("client.pem"), toPath: try m.path("my-crt-key.pem"))
        let port = TCP.freePort()
        let proxy = try ProxydProcess(config: try labGlobal() + """
            frontend https-in
            \tbind 127.0.0.1:\(port)     ssl crt my-crt-key.pem
            \tdefault_backend app

            backend app
            \tbalance roundrobin
            \toption  httpchk GET /healthz
              http-check expect rstatus (2|3)[0-9][0-9]
            \toption  log-health-checks
            \tserver  myweb1 127.0.0.1:\(web1.port) check ssl crt my-crt-key.pem inter 10s fall 3 rise 2
            \tserver  myweb2 127.0.0.1:\(web2.port) check ssl crt my-crt-key.pem inter 10s fall 3 rise 2
            """, waitForPorts: [port])
        defer { proxy.stop() }
        // The lab's command: curl --insecure --cert my.crt --key my.key https://VIP:8443/healthz
        let health = try Tool.curlInsecure(["--cert", try m.path("client.crt"), "--key", try m.path("client.key"),
                                            "https://127.0.0.1:\(port)/healthz"])
        XCTAssertEqual(health.status, 0, health.all)
        XCTAssertEqual(health.stdout, "ok\n")
        // Round robin by connection; each server sees proxyd's client certificate.
        var names: [String] = [], reused: [String] = []
        for _ in 0..<4 {
            let r = try Tool.curlInsecure(["-v", "https://127.0.0.1:\(port)/"])
            XCTAssertTrue(r.stderr.contains("CN=client.test"), "the certificate curl sees is proxyd's (my-crt-key.pem)")
            XCTAssertTrue(r.stdout.contains("client=[CN=client.test] verify=SUCCESS"), r.stdout)
            names.append(String(r.stdout.prefix(6)))
            reused.append(String(r.stdout.split(separator: " ").last ?? ""))
        }
        // proxyd keeps each server's TLS session: later connections resume it.
        XCTAssertEqual(reused.suffix(2), ["reused=r\n", "reused=r\n"], "\(reused)")
        XCTAssertEqual(Set(names), ["myweb1", "myweb2"], "\(names)")
        XCTAssertNotEqual(names[0], names[1])
    }

    /// haproxy-ssl-passthrough.conf: mode tcp without ssl; the certificate the client sees
    /// is nginx's and nginx sees the client's own certificate.
    func testLabSSLPassthrough() throws {
        let web1 = try nginx("myweb1"), web2 = try nginx("myweb2")
        defer { web1.stop(); web2.stop() }
        let port = TCP.freePort()
        let proxy = try ProxydProcess(config: try labGlobal(serverVerify: nil) + """
            frontend https-in
            \tbind 127.0.0.1:\(port)
            \tdefault_backend app

            backend app
            \tbalance roundrobin
            \toption  tcp-check
            \toption  log-health-checks
            \tserver  myweb1 127.0.0.1:\(web1.port) check port \(web1.port) inter 10s fall 3 rise 2
            \tserver  myweb2 127.0.0.1:\(web2.port) check port \(web2.port) inter 10s fall 3 rise 2
            """, waitForPorts: [port])
        defer { proxy.stop() }
        let r = try Tool.curlInsecure(["-v", "--cert", try m.path("client.crt"), "--key", try m.path("client.key"),
                                       "https://127.0.0.1:\(port)/"])
        XCTAssertEqual(r.status, 0, r.all)
        XCTAssertTrue(r.stderr.contains("CN=nginx.test"), "the certificate seen is nginx's: \(r.stderr)")
        XCTAssertTrue(r.stdout.contains("client=[CN=client.test] verify=SUCCESS"), r.stdout)
        let health = try Tool.curlInsecure(["https://127.0.0.1:\(port)/healthz"])
        XCTAssertEqual(health.stdout, "ok\n", health.all)
    }

    /// Large bodies both ways through both TLS legs, in http and tcp mode: every byte
    /// arrives in order (records split across reads, backpressure on each side).
    func testLargeBodiesThroughBothTLSLegs() throws {
        let web = try nginx("myweb1")
        defer { web.stop() }
        let file = try web.serve("big.bin", size: 12_345_678)
        let httpPort = TCP.freePort(), tcpPort = TCP.freePort()
        let proxy = try ProxydProcess(config: try labGlobal() + """
            listen http
                mode http
                bind 127.0.0.1:\(httpPort) ssl crt proxy.pem
                server myweb1 127.0.0.1:\(web.port) ssl verify none
            listen tcp
                bind 127.0.0.1:\(tcpPort) ssl crt proxy.pem
                server myweb1 127.0.0.1:\(web.port) ssl verify none
            """, waitForPorts: [httpPort, tcpPort])
        defer { proxy.stop() }
        for port in [httpPort, tcpPort] {
            let out = try m.path("download-\(port).bin")
            let r = try Tool.curlInsecure(["-o", out, "-w", "%{http_code} %{size_download}",
                                           "https://127.0.0.1:\(port)/files/big.bin"])
            XCTAssertEqual(r.stdout, "200 12345678", r.all)
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: out)), file, "same bytes through port \(port)")
            try? FileManager.default.removeItem(atPath: out)
        }
    }

    func testLargeUploadThroughTermination() throws {
        let counter = try TestBackend(name: "count", behaviour: .countBody)
        let port = TCP.freePort()
        let proxy = try ProxydProcess(config: try labGlobal() + """
            listen up
                mode http
                bind 127.0.0.1:\(port) ssl crt proxy.pem
                server count 127.0.0.1:\(counter.port)
            """, waitForPorts: [port])
        defer { proxy.stop() }
        let upload = try m.path("upload.bin")
        try Data(repeating: 0x61, count: 9_000_001).write(to: URL(fileURLWithPath: upload))
        defer { try? FileManager.default.removeItem(atPath: upload) }
        let r = try Tool.curlInsecure(["--data-binary", "@\(upload)", "https://127.0.0.1:\(port)/up"])
        XCTAssertEqual(r.status, 0, r.all)
        XCTAssertEqual(r.stdout, "9000001")
    }

    /// A server whose TLS handshake fails is a failed connection attempt: retried, then
    /// redispatched, and the client never notices (mode tcp).
    func testFailedServerHandshakeIsRetriedElsewhere() throws {
        let notTLS = try TestBackend(name: "echo", behaviour: .tcpEcho)
        let web = try nginx("myweb2")
        defer { web.stop() }
        let port = TCP.freePort()
        let proxy = try ProxydProcess(config: try labGlobal() + """
            listen tls
                bind 127.0.0.1:\(port) ssl crt proxy.pem
                retries 1
                option redispatch
                server myweb1 127.0.0.1:\(notTLS.port) ssl verify none
                server myweb2 127.0.0.1:\(web.port) ssl verify none
            """, waitForPorts: [port])
        defer { proxy.stop() }
        for _ in 0..<2 {
            let r = try Tool.curlInsecure(["https://127.0.0.1:\(port)/healthz"])
            XCTAssertEqual(r.stdout, "ok\n", r.all)
        }
        XCTAssertGreaterThanOrEqual(notTLS.connectionCount, 1, "the broken server was tried")
    }

    /// Health checks over TLS run on the data path's reactors (TLSTransport over a native
    /// connect): the same log sentences as HAProxy 2.6 for a check that passes over TLS and
    /// one whose server does not speak TLS.
    func testHealthChecksOverTLSAsHAProxyLogsThem() throws {
        let web = try nginx("myweb1")
        defer { web.stop() }
        let plain = try TestBackend(name: "plain")
        func config(_ log: LogReceiver, _ port: Int) throws -> String {
            try labGlobal().replacingOccurrences(of: "    nbthread 1\n", with: "    nbthread 1\n    log \(log.path) local0\n") + """
                frontend fe
                    mode http
                    bind 127.0.0.1:\(port)
                    default_backend app
                backend app
                    mode http
                    log global
                    option log-health-checks
                    option httpchk GET /healthz
                    server tls 127.0.0.1:\(web.port) check inter 300ms ssl verify none crt client.pem
                    server plain 127.0.0.1:\(plain.port) check inter 300ms check-ssl verify none

                """
        }
        let passed = "Health check for server app/tls succeeded, reason: Layer7 check passed, code: 200"
        // A plain HTTP server: it waits for a request, the ClientHello gets no answer.
        let failed = "Health check for server app/plain failed, reason: Layer6 timeout"
        var seen: [String: [String]] = [:]
        for name in ["haproxy", "proxyd"] {
            let log = try LogReceiver()
            defer { log.stop() }
            let port = TCP.freePort()
            let text = try config(log, port)
            let stop: () -> Void
            if name == "haproxy" {
                let reference = try ReferenceHAProxy(config: text, waitForPorts: [port])
                stop = { reference.stop() }
            } else {
                let proxy = try ProxydProcess(config: text, waitForPorts: [port])
                stop = { proxy.stop() }
            }
            defer { stop() }
            let lines = [log.wait(for: passed), log.wait(for: failed)].compactMap { $0 }
            XCTAssertEqual(lines.count, 2, "\(name): \(log.messages.joined(separator: "\n"))")
            // The check counter after the message differs with timing: keep the words.
            seen[name] = lines.map { $0.components(separatedBy: ", check duration").first ?? $0 }
        }
        XCTAssertEqual(seen["proxyd"], seen["haproxy"])
    }

    /// The hook for the health-check engine: a check connection made with
    /// `makeCheckTLSHandler` speaks TLS to nginx (httpchk over TLS, check-sni), and a
    /// plain server gets no handler unless `check-ssl`.
    func testHealthCheckTLSHook() throws {
        let web = try nginx("myweb1")
        defer { web.stop() }
        let result = ConfigurationLoader.load(text: try labGlobal() + """
            backend app
                option httpchk GET /healthz
                server tls 127.0.0.1:\(web.port) check ssl verify none crt client.pem
                server forced 127.0.0.1:\(web.port) check check-ssl verify none check-sni forced.test
                server plain 127.0.0.1:\(web.port) check
                server off 127.0.0.1:\(web.port) ssl verify none check no-check-ssl
            listen x
                bind 127.0.0.1:\(TCP.freePort())
                server s 127.0.0.1:1

            """, name: "hook.cfg")
        let config = try XCTUnwrap(result.configuration, "\(result.diagnostics)")
        let runtime = try RuntimeBuilder.build(config, threads: 1)
        defer { runtime.shutdown() }
        let servers = try XCTUnwrap(runtime.backend(named: "app")).servers
        XCTAssertNil(servers[2].makeCheckTLSHandler(sni: nil, timeout: nil), "plain checks")
        XCTAssertNil(servers[3].makeCheckTLSHandler(sni: nil, timeout: nil), "no-check-ssl")

        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        func check(_ server: RuntimeServer, sni: String?, path: String = "/healthz") throws -> String {
            let collector = ResponseCollector()
            let channel = try ClientBootstrap(group: group)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let tls = server.makeCheckTLSHandler(sni: sni, timeout: .seconds(2)) {
                            try channel.pipeline.syncOperations.addHandler(tls)
                        }
                        try channel.pipeline.syncOperations.addHandler(collector)
                    }
                }
                .connect(host: "127.0.0.1", port: web.port)
                .flatMap { TLSHandler.handshakeCompleted(on: $0) }
                .wait()
            try channel.writeAndFlush(ByteBuffer(string: "GET \(path) HTTP/1.0\r\n\r\n")).wait()
            try channel.closeFuture.wait()
            return collector.text
        }
        XCTAssertTrue(try check(servers[0], sni: nil).hasSuffix("\r\n\r\nok\n"), "httpchk over TLS")
        XCTAssertTrue(try check(servers[1], sni: "forced.test").hasSuffix("ok\n"), "check-ssl on a plain server line")
        // check-sni reaches nginx: its default page shows the SNI it got, and the client
        // certificate of the server line.
        XCTAssertTrue(try check(servers[1], sni: "forced.test", path: "/").contains("sni=[forced.test]"))
        XCTAssertTrue(try check(servers[0], sni: nil, path: "/").contains("client=[CN=client.test]"))
    }
}

/// Collects what a connection receives until it closes.
private final class ResponseCollector: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    private let received = NIOLockedValueBox("")
    var text: String { received.withLockedValue { $0 } }
    func channelActive(context: ChannelHandlerContext) { context.fireChannelActive() }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        received.withLockedValue { $0 += String(buffer: buffer) }
    }
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        context.close(promise: nil)
    }
}
