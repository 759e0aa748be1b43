import XCTest
@testable import ProxyCore
import Shared

final class ConfigModelTests: XCTestCase {
    func load(_ text: String, resolve: Bool = false) -> LoadResult {
        ConfigurationLoader.load(text: text + "\n", name: "t.cfg", options: LoadOptions(resolveServers: resolve))
    }

    func model(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> ProxyConfiguration? {
        let r = load(text)
        XCTAssertNotEqual(r.exitCode, 1, "\(r.diagnostics)", file: file, line: line)
        return r.configuration
    }

    let lab = """
    global
    \tlog /dev/log\tlocal0
    \tlog /dev/log\tlocal1 notice
    \tstats socket /run/haproxy/admin.sock mode 660 level admin expose-fd listeners
    \tstats timeout 30s
    \tdaemon
    \tssl-default-bind-options no-sslv3

    defaults
    \tlog\tglobal
    \tmode\thttp
    \toption\thttplog
    \toption\tdontlognull
    \ttimeout connect 5000
    \ttimeout client  50000
    \ttimeout server  50000

    listen stats
    \tbind 0.0.0.0:8090
    \tmode http
    \tstats enable
    \tstats refresh 10s
    \tstats show-node
    \tstats auth haproxy:passw0rd
    \tstats uri /haproxy/stats

    frontend http-in
    \tbind *:8080
    \tdefault_backend app

    backend app
    \tbalance roundrobin
    \toption  log-health-checks
    \toption  httpchk GET /healthz
    \thttp-check expect rstatus (2|3)[0-9][0-9]
    \tserver  myweb1 10.0.0.1:80 check inter 10s fall 3 rise 2
    \tserver  myweb2 10.0.0.2:80 check inter 10s fall 3 rise 2 weight 5 backup
    """

    func testLabShapedConfig() throws {
        let c = try XCTUnwrap(model(lab))
        XCTAssertTrue(c.global.daemon)
        XCTAssertEqual(c.global.logs.count, 2)
        XCTAssertEqual(c.global.logs[1].maxLevel, .notice)
        XCTAssertEqual(c.global.logs[1].facility, "local1")
        XCTAssertEqual(c.global.statsSockets.first?.address, .unix(path: "/run/haproxy/admin.sock"))
        XCTAssertEqual(c.global.statsSockets.first?.mode, 0o660)
        XCTAssertEqual(c.global.statsSockets.first?.level, .admin)
        XCTAssertEqual(c.global.statsSockets.first?.exposeListenerFDs, true)
        XCTAssertEqual(c.global.statsTimeout, 30_000)
        XCTAssertEqual(c.proxies.map { $0.name }, ["stats", "http-in", "app"])

        let stats = try XCTUnwrap(c.proxy(named: "stats"))
        XCTAssertEqual(stats.capabilities, .listen)
        XCTAssertEqual(stats.binds.first?.address, .inet(host: .v4(0, 0, 0, 0), port: 8090))
        XCTAssertEqual(stats.stats.uri, "/haproxy/stats")
        XCTAssertEqual(stats.stats.refresh, 10_000)
        XCTAssertEqual(stats.stats.showNode, "")
        XCTAssertEqual(stats.stats.auth.first?.user, "haproxy")
        XCTAssertEqual(stats.stats.auth.first?.password, "passw0rd")

        let fe = try XCTUnwrap(c.proxy(named: "http-in"))
        XCTAssertEqual(fe.binds.first?.address, .inet(host: nil, port: 8080))
        XCTAssertEqual(fe.binds.first?.ssl.options, ["no-sslv3"])
        XCTAssertEqual(fe.defaultBackend, "app")
        XCTAssertEqual(fe.mode, .http)
        XCTAssertTrue(fe.httpLog)
        XCTAssertTrue(fe.dontLogNull)
        XCTAssertEqual(fe.logs.count, 2, "log global copies the global targets")
        XCTAssertEqual(fe.timeouts.client, 50_000)

        let be = try XCTUnwrap(c.backend(named: "app"))
        XCTAssertEqual(be.balance.algorithm, .roundRobin)
        XCTAssertTrue(be.logHealthChecks)
        XCTAssertEqual(be.timeouts.connect, 5000)
        XCTAssertEqual(be.servers.count, 2)
        let s1 = be.servers[0], s2 = be.servers[1]
        XCTAssertEqual(s1.addresses, [.v4(10, 0, 0, 1)])
        XCTAssertEqual(s1.port, 80)
        XCTAssertTrue(s1.check.enabled)
        XCTAssertEqual(s1.check.interval, 10_000)
        XCTAssertEqual(s1.check.rise, 2)
        XCTAssertEqual(s1.check.fall, 3)
        XCTAssertEqual(s1.weight, 1)
        XCTAssertEqual(s2.weight, 5)
        XCTAssertTrue(s2.backup)
        guard case let .http(request, expectations) = be.healthCheck.kind else { return XCTFail("httpchk expected") }
        XCTAssertEqual(request.method, "GET")
        XCTAssertEqual(request.uri, "/healthz")
        guard case let .statusRegex(re)? = expectations.first?.kind else { return XCTFail("rstatus expected") }
        XCTAssertTrue(re.matches("200"))
        XCTAssertTrue(re.matches("302"))
        XCTAssertFalse(re.matches("503"))
        XCTAssertEqual(c.listeners.count, 2)
    }

    func testDefaultsApplyToFollowingProxiesAndAreReplaced() throws {
        let c = try XCTUnwrap(model("""
        defaults
        \tmode http
        \ttimeout client 1s
        frontend a
        \tbind :1
        defaults
        \ttimeout client 2s
        frontend b
        \tbind :2
        defaults named
        \tmode http
        \ttimeout client 3s
        defaults
        \ttimeout client 4s
        frontend c from named
        \tbind :3
        frontend d
        \tbind :4
        """))
        XCTAssertEqual(c.proxy(named: "a")?.mode, .http)
        XCTAssertEqual(c.proxy(named: "a")?.timeouts.client, 1000)
        XCTAssertEqual(c.proxy(named: "b")?.mode, .tcp, "a new defaults section starts from HAProxy's defaults")
        XCTAssertEqual(c.proxy(named: "b")?.timeouts.client, 2000)
        XCTAssertEqual(c.proxy(named: "c")?.mode, .http)
        XCTAssertEqual(c.proxy(named: "c")?.timeouts.client, 3000)
        XCTAssertEqual(c.proxy(named: "d")?.timeouts.client, 4000)
    }

    func testACLsAndConditions() throws {
        let c = try XCTUnwrap(model("""
        defaults
        \tmode http
        \ttimeout client 1s
        \ttimeout connect 1s
        \ttimeout server 1s
        frontend f
        \tbind :80
        \tacl is_api path_beg -i /api /v2
        \tacl is_api hdr(host) -i api.example.com
        \tacl admin src 10.0.0.0/8
        \tuse_backend api if is_api !admin || { path_reg ^/x[0-9]+$ } METH_GET
        \tuse_backend app unless admin
        \tdefault_backend app
        \thttp-request set-header X-Forwarded-Proto https
        \thttp-request deny deny_status 429 if admin
        \thttp-request return status 200 content-type text/plain string ok if { path /ping }
        \thttp-request redirect location /new code 301 if { path /old }
        \thttp-response del-header Server
        backend api
        \tserver a 127.0.0.1:1
        backend app
        \tbalance hdr(host)
        \thash-type consistent
        \tserver b 127.0.0.1:2
        """))
        let f = try XCTUnwrap(c.proxy(named: "f"))
        XCTAssertEqual(f.acl(named: "is_api").count, 2)
        let first = try XCTUnwrap(f.acl(named: "is_api").first)
        XCTAssertEqual(first.criterion.fetch, .path)
        XCTAssertEqual(first.criterion.match, .beginning)
        XCTAssertTrue(first.criterion.ignoreCase)
        XCTAssertEqual(first.criterion.patterns, [.string("/api"), .string("/v2")])
        XCTAssertEqual(f.acl(named: "admin").first?.criterion.patterns,
                       [.network(IPNetwork(address: .v4(10, 0, 0, 0), prefixLength: 8))])

        let rule = f.useBackendRules[0]
        XCTAssertEqual(rule.backend, "api")
        let cond = try XCTUnwrap(rule.condition)
        XCTAssertEqual(cond.polarity, .if)
        XCTAssertEqual(cond.alternatives.count, 2)
        XCTAssertEqual(cond.alternatives[0].map { $0.name }, ["is_api", "admin"])
        XCTAssertEqual(cond.alternatives[0].map { $0.negated }, [false, true])
        XCTAssertEqual(cond.alternatives[0][0].criteria.count, 2, "both is_api lines are OR'ed")
        XCTAssertNil(cond.alternatives[1][0].name)
        XCTAssertEqual(cond.alternatives[1][0].criteria.first?.match, .regex)
        XCTAssertEqual(cond.alternatives[1][1].name, "METH_GET")
        XCTAssertEqual(f.useBackendRules[1].condition?.polarity, .unless)

        XCTAssertEqual(f.httpRequestRules.count, 4)
        XCTAssertEqual(f.httpRequestRules[0].action, .setHeader(name: "X-Forwarded-Proto", value: .literal("https")))
        guard case let .deny(reply) = f.httpRequestRules[1].action else { return XCTFail() }
        XCTAssertEqual(reply.status, 429)
        guard case let .return(ret) = f.httpRequestRules[2].action else { return XCTFail() }
        XCTAssertEqual(ret.status, 200)
        XCTAssertEqual(ret.contentType, "text/plain")
        XCTAssertEqual(ret.body, .string("ok"))
        guard case let .redirect(red) = f.httpRequestRules[3].action else { return XCTFail() }
        XCTAssertEqual(red.code, 301)
        XCTAssertEqual(red.kind, .location)
        XCTAssertEqual(f.httpResponseRules.first?.action, .deleteHeader(name: "Server", match: .string))

        let app = try XCTUnwrap(c.backend(named: "app"))
        XCTAssertEqual(app.balance.algorithm, .header(name: "host", useDomainOnly: false))
        XCTAssertEqual(app.balance.hashMethod, .consistent)
    }

    func testBindsAndServers() throws {
        let c = try XCTUnwrap(model("""
        defaults
        \ttimeout client 1s
        \ttimeout connect 1s
        \ttimeout server 1s
        listen l
        \tbind [::1]:8000,127.0.0.1:8001-8002 name x
        \tbind :::9000
        \tbind unix@/tmp/proxyd.sock mode 600
        \tdefault-server inter 3s fall 5
        \tserver a 127.0.0.1 check
        \tserver b [::1]:+10 maxconn 7 disabled
        \tserver c 127.0.0.1:80 init-addr none rise 4 fastinter 500ms downinter 1m
        \tserver d myhost.invalid:80 init-addr none
        """))
        let l = try XCTUnwrap(c.proxy(named: "l"))
        XCTAssertEqual(l.binds.map { $0.address.description },
                       ["[::1]:8000", "127.0.0.1:8001", "127.0.0.1:8002", "[::]:9000", "/tmp/proxyd.sock"])
        XCTAssertEqual(l.binds[0].name, "x")
        XCTAssertEqual(l.binds[4].unixMode, 0o600)
        let a = l.servers[0], b = l.servers[1], s = l.servers[2]
        XCTAssertNil(a.port, "no port: the client's destination port")
        XCTAssertEqual(a.check.interval, 3000)
        XCTAssertEqual(a.check.fall, 5)
        XCTAssertEqual(b.portOffset, 10)
        XCTAssertEqual(b.maxconn, 7)
        XCTAssertTrue(b.disabled)
        XCTAssertEqual(b.addresses, [.v6([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])])
        XCTAssertEqual(s.check.rise, 4)
        XCTAssertEqual(s.check.fastInterval, 500)
        XCTAssertEqual(s.check.downInterval, 60_000)
        XCTAssertEqual(s.initAddr, [.none])
    }

    func testInitAddrNoneKeepsAnUnresolvableServer() throws {
        let text = """
        defaults
        \ttimeout client 1s
        \ttimeout connect 1s
        \ttimeout server 1s
        listen l
        \tbind 127.0.0.1:1
        \tserver d no-such-host.invalid:80 init-addr last,libc,none
        """
        let r = ConfigurationLoader.load(text: text + "\n", name: "t.cfg", options: LoadOptions(resolveServers: true))
        XCTAssertEqual(r.exitCode, 0, "\(r.diagnostics)")
        XCTAssertEqual(r.configuration?.proxies.first?.servers.first?.addresses, [])
    }

    func testErrorfileLoadsRawBytes() throws {
        let path = NSTemporaryDirectory() + "proxyd-503-\(getpid()).http"
        let bytes: [UInt8] = Array("HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/html\r\n\r\n<h1>x</h1>\n".utf8) + [0xFF]
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let c = try XCTUnwrap(model("""
        defaults
        \ttimeout client 1s
        \terrorfile 503 \(path)
        frontend f
        \tbind :80
        """))
        XCTAssertEqual(c.proxies.first?.errorFiles[503], bytes)
    }

    func testUserlist() throws {
        let c = try XCTUnwrap(model("""
        userlist admins
        \tgroup ops users alice
        \tuser alice insecure-password s3cret
        \tuser bob password $6$abc$def groups ops
        frontend f
        \tbind :80
        \ttimeout client 1s
        """))
        let u = try XCTUnwrap(c.userlists.first)
        XCTAssertEqual(u.name, "admins")
        XCTAssertEqual(u.users.map { $0.name }, ["alice", "bob"])
        XCTAssertEqual(u.users[0].password, .plain("s3cret"))
        XCTAssertEqual(u.users[1].password, .hashed("$6$abc$def"))
        XCTAssertEqual(u.users[1].groups, ["ops"])
        XCTAssertEqual(u.groups.first?.users, ["alice"])
    }

    func testNoListenerExitsTwo() {
        XCTAssertEqual(load("backend b\n\tserver s 127.0.0.1:1\n").exitCode, 2)
    }

    func testDiagnosticRendering() {
        let d = Diagnostic.parsing(.alert, SourceLocation(file: "f.cfg", line: 3), "unknown keyword 'x' in 'global' section")
        XCTAssertEqual(DiagnosticRenderer.render(d, pid: 42),
                       "[ALERT]    (42) : config : parsing [f.cfg:3] : unknown keyword 'x' in 'global' section")
        XCTAssertEqual(DiagnosticRenderer.render(.warning("w"), pid: 7), "[WARNING]  (7) : config : w")
    }
}

/// `server-template`: a row of servers, each as its own `server` line would be.
final class ServerTemplateModelTests: XCTestCase {
    func testTemplatesDeclareRowsOfServers() throws {
        let r = ConfigurationLoader.load(text: """
            backend b
                default-server inter 3s
                server-template web 3 127.0.0.1:8080 check weight 7
                server-template api 5-6 127.0.0.1:9090
                server other 127.0.0.1:1

            """, name: "t.cfg", options: LoadOptions(resolveServers: false))
        let backend = try XCTUnwrap(r.configuration?.proxies.first { $0.name == "b" }, "\(r.diagnostics)")
        XCTAssertEqual(backend.servers.map(\.name), ["web1", "web2", "web3", "api5", "api6", "other"])
        XCTAssertEqual(backend.servers.map(\.weight), [7, 7, 7, 1, 1, 1])
        XCTAssertEqual(backend.servers.map(\.port), [8080, 8080, 8080, 9090, 9090, 1])
        XCTAssertEqual(backend.servers.filter { $0.check.enabled }.count, 3)
    }

    func testRanges() {
        XCTAssertEqual(ServerTemplateParser.numbers("3"), 1...3)
        XCTAssertEqual(ServerTemplateParser.numbers("5-6"), 5...6)
        XCTAssertEqual(ServerTemplateParser.numbers("1-2-3"), 1...2, "read as HAProxy reads it")
        XCTAssertNil(ServerTemplateParser.numbers("0"))
        XCTAssertNil(ServerTemplateParser.numbers("3-1"))
        XCTAssertNil(ServerTemplateParser.numbers("2-x"))
        XCTAssertNil(ServerTemplateParser.numbers("a"))
        XCTAssertNil(ServerTemplateParser.numbers("99999999999"))
    }
}
