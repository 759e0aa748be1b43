import Foundation
import XCTest

/// Logs where the tutorial looks (issue 11, item 2): after `scripts/install`, Debian's
/// rsyslog puts proxyd's lines in /var/log/proxyd.log (through the socket in proxyd's
/// chroot) and vrrpd's in /var/log/syslog, and logrotate rotates proxyd.log without a line
/// lost. In a `Sandbox` with a /dev of its own, so that the machine gains no /dev/log.
final class SyslogServiceTests: XCTestCase {
    /// The sample's global section (chroot, user, daemon, /dev/log twice) in front of a
    /// frontend that answers by itself.
    static let proxydConfig = """
        global
            log /dev/log local0
            log /dev/log local1 notice
            chroot /var/lib/proxyd
            stats socket /run/proxyd/admin.sock mode 660 level admin
            user proxyd
            group proxyd
            daemon
        defaults
            log global
            mode http
            option httplog
            timeout connect 1s
            timeout client 5s
            timeout server 5s
        frontend web
            bind 127.0.0.1:8080
            http-request return status 200 content-type text/plain string "hello"
        """

    func testRsyslogWritesProxydLinesToProxydLogAndVrrpdLinesToSyslog() throws {
        try Sandbox.skipUnlessAvailable()
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/rsyslogd"),
              FileManager.default.isExecutableFile(atPath: "/usr/sbin/logrotate") else {
            throw XCTSkip("rsyslog and logrotate are not installed (scripts/install-deps installs them)")
        }
        let r = try Sandbox.run(ServiceTests.install + """

            # Bounded waits: until CMD succeeds, at most 5 s.
            await() { i=0; until "$@" || [ $i -ge 50 ]; do sleep 0.1; i=$((i + 1)); done; }
            step installed sh -c 'ls -d /etc/rsyslog.d/49-proxyd.conf /etc/logrotate.d/proxyd /var/lib/proxyd/dev'
            cat > /etc/proxyd/proxyd.cfg <<'CFG'
            \(Self.proxydConfig)
            CFG
            # No kernel log in a sandbox (imklog needs /proc/kmsg): Debian's config otherwise.
            sed -i 's/^module(load="imklog"/#&/' /etc/rsyslog.conf
            step rsyslogd rsyslogd
            await test -S /var/lib/proxyd/dev/log
            step chroot-socket test -S /var/lib/proxyd/dev/log
            step start service proxyd start
            step request curl -s --max-time 2 http://127.0.0.1:8080/tutorial
            await grep -q "GET /tutorial" /var/log/proxyd.log
            step proxyd-log cat /var/log/proxyd.log
            step halog sh -c 'halog -st < /var/log/proxyd.log 2>/dev/null'
            step halog-summary sh -c 'halog -st < /var/log/proxyd.log 2>&1 >/dev/null'
            step dropped sh -c 'echo "show info" | socat - /run/proxyd/admin.sock | grep "^DroppedLogs:"'

            step rotate logrotate -f -s /tmp/logrotate.state /etc/logrotate.d/proxyd
            step request-after curl -s --max-time 2 http://127.0.0.1:8080/after-rotation
            await grep -q "GET /after-rotation" /var/log/proxyd.log
            step rotated-old cat /var/log/proxyd.log.1
            step rotated-new cat /var/log/proxyd.log

            ip link add eth0 type veth peer name eth1 && ip addr add 10.77.9.2/24 dev eth0 \\
              && ip link set eth1 up && ip link set eth0 up || exit 98
            cat > /etc/vrrpd/keepalived.conf <<'CFG'
            \(ServiceTests.vrrpdConfig.replacingOccurrences(of: "10.99.0.100", with: "10.77.9.100"))
            CFG
            step vrrpd service vrrpd start
            await grep -q "Entering MASTER STATE" /var/log/syslog
            step syslog cat /var/log/syslog
            """, privateDev: true)
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertEqual(r.step("installed").status, 0, r.step("installed").output)
        XCTAssertEqual(r.step("rsyslogd").status, 0, r.step("rsyslogd").output)
        XCTAssertEqual(r.step("chroot-socket").status, 0, "rsyslog made no socket in proxyd's chroot")
        XCTAssertEqual(r.step("start").status, 0, r.step("start").output)
        XCTAssertEqual(r.step("request").output, "hello")

        // `Dec  6 23:06:18 HOST proxyd[PID]: 127.0.0.1:PORT [06/Dec/2026:…] web web/<NOSRV> … "GET /tutorial HTTP/1.1"`
        let log = r.step("proxyd-log").output
        let line = try XCTUnwrap(log.split(separator: "\n").first { $0.contains("GET /tutorial") }, log)
        XCTAssertNotNil(line.range(of: #"^[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d \S+ proxyd\[\d+\]: 127\.0\.0\.1:\d+ \[.+\] web web/<NOSRV> .* 200 .*"GET /tutorial HTTP/1\.1"$"#,
                                    options: .regularExpression), String(line))
        XCTAssertEqual(r.step("dropped").output, "DroppedLogs: 0")
        // halog (HAProxy's log reader) parses the file: traditional syslog prefix.
        XCTAssertEqual(r.step("halog").output, "200 1")
        XCTAssertEqual(r.step("halog-summary").output, "1 lines in, 1 lines out, 0 parsing errors")

        XCTAssertEqual(r.step("rotate").status, 0, r.step("rotate").output)
        XCTAssertTrue(r.step("rotated-old").output.contains("GET /tutorial"), r.step("rotated-old").output)
        let fresh = r.step("rotated-new").output
        XCTAssertTrue(fresh.contains("GET /after-rotation"), "rsyslog kept writing to the rotated file: \(fresh)")
        XCTAssertFalse(fresh.contains("GET /tutorial"), fresh)

        let syslog = r.step("syslog").output
        XCTAssertNotNil(syslog.range(of: #"vrrpd\[\d+\]: \(VI_1\) Entering MASTER STATE"#, options: .regularExpression), syslog)
        // proxyd's lines stop at their own file (`stop` in 49-proxyd.conf).
        XCTAssertFalse(syslog.contains("proxyd["), syslog)
    }

    /// A package built from `DESTDIR=… scripts/install` carries the rsyslog snippet, the
    /// logrotate file and the chroot's dev/ (where rsyslog makes proxyd's socket).
    func testInstallIntoDestdirCarriesTheLogFiles() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("install-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        var env = ProcessInfo.processInfo.environment
        env["DESTDIR"] = root
        env["PROXYD_BIN_DIR"] = ProxydProcess.binaryDirectory.path
        let r = try Sandbox.runProcess("\(ServiceTests.repo)/scripts/install", [], environment: env, timeout: 60)
        XCTAssertEqual(r.status, 0, r.output)
        let fm = FileManager.default
        for path in ["/etc/rsyslog.d/49-proxyd.conf", "/etc/logrotate.d/proxyd"] {
            let mode = (try? fm.attributesOfItem(atPath: root + path))?[.posixPermissions] as? Int
            XCTAssertEqual(mode, 0o644, path)
        }
        var isDirectory: ObjCBool = false
        XCTAssertTrue(fm.fileExists(atPath: root + "/var/lib/proxyd/dev", isDirectory: &isDirectory) && isDirectory.boolValue)
        // The socket rsyslog listens on is the one proxyd's sample config reaches from its chroot.
        let snippet = try String(contentsOfFile: root + "/etc/rsyslog.d/49-proxyd.conf", encoding: .utf8)
        let sample = try String(contentsOfFile: root + "/etc/proxyd/proxyd.cfg", encoding: .utf8)
        XCTAssertTrue(snippet.contains("$AddUnixListenSocket /var/lib/proxyd/dev/log"), snippet)
        XCTAssertTrue(sample.contains("chroot /var/lib/proxyd") && sample.contains("log /dev/log"), sample)
    }
}
