import Foundation
import XCTest

/// Both daemons as services (issue 11, item 3): scripts/install, the init scripts, the
/// /etc/default files and the systemd units, driven as an operator does (`service proxyd
/// start`, …) in a `Sandbox`, so that nothing of the installed system changes.
final class ServiceTests: XCTestCase {
    static let repo = CheckModeTests.repoRoot.path

    /// Installs this build in the sandbox; the scripts below start with it.
    static let install = #"cd "$REPO" && PROXYD_BIN_DIR="$BIN" scripts/install >/dev/null || exit 99"#

    static let proxydConfig = """
        global
            stats socket /run/proxyd/admin.sock mode 600 level admin
        defaults
            mode http
            timeout connect 1s
            timeout client 5s
            timeout server 5s
        frontend web
            bind 127.0.0.1:8080
            http-request return status 200 content-type text/plain string "hello"
        """

    /// On eth0, a veth in the sandbox whose peer nobody listens on: no advert comes back,
    /// so vrrpd becomes master and takes the VIP.
    static let vrrpdConfig = """
        vrrp_instance VI_1 {
            state MASTER
            interface eth0
            virtual_router_id 51
            priority 101
            advert_int 1
            virtual_ipaddress {
                10.99.0.100/24
            }
        }
        """

    // MARK: usage

    /// A wrong, missing or extra argument: the usage line on stderr and exit 2, whatever
    /// the state. Run straight from the repository: these paths change nothing.
    func testInitScriptsAnswerAWrongArgumentWithTheirUsage() throws {
        for daemon in ["proxyd", "vrrpd"] {
            for arguments in [["bogus"], [], ["start", "now"], ["--help"], ["Start"]] {
                let r = try Sandbox.runProcess("/bin/sh", ["\(Self.repo)/etc/init.d/\(daemon)"] + arguments, timeout: 20)
                XCTAssertEqual(r.status, 2, "\(daemon) \(arguments): \(r.output)")
                XCTAssertEqual(r.output, "Usage: /etc/init.d/\(daemon) {start|stop|reload|force-reload|restart|status|check}\n",
                               "\(daemon) \(arguments)")
            }
        }
    }

    func testInitScriptsAreValidShell() throws {
        for daemon in ["proxyd", "vrrpd"] {
            let r = try Sandbox.runProcess("/bin/sh", ["-n", "\(Self.repo)/etc/init.d/\(daemon)"], timeout: 20)
            XCTAssertEqual(r.status, 0, r.output)
            let text = try String(contentsOfFile: "\(Self.repo)/etc/init.d/\(daemon)", encoding: .utf8)
            for field in ["Provides:", "Required-Start:", "Required-Stop:", "Default-Start:", "Default-Stop:", "Short-Description:"] {
                XCTAssertTrue(text.contains("# \(field)"), "\(daemon): LSB header without \(field)")
            }
        }
    }

    // MARK: proxyd

    func testProxydCheckAndStartRefuseABrokenConfigWithFileAndLine() throws {
        try Sandbox.skipUnlessAvailable()
        let r = try Sandbox.run(Self.install + """

            cat > /etc/proxyd/proxyd.cfg <<'CFG'
            \(Self.proxydConfig.replacingOccurrences(of: "bind 127.0.0.1:8080", with: "bind 127.0.0.1:8080 bogus"))
            CFG
            step check service proxyd check
            step start service proxyd start
            step status service proxyd status
            step pidfile test -e /run/proxyd.pid
            step listening curl -s --max-time 2 http://127.0.0.1:8080/
            """)
        let where_ = "[/etc/proxyd/proxyd.cfg:9]"
        let check = r.step("check")
        XCTAssertEqual(check.status, 1, check.output)
        XCTAssertTrue(check.output.contains(where_) && check.output.contains("unknown keyword 'bogus'"), check.output)
        let start = r.step("start")
        XCTAssertEqual(start.status, 1, start.output)
        XCTAssertTrue(start.output.contains(where_) && start.output.contains("unknown keyword 'bogus'"), start.output)
        XCTAssertTrue(start.output.contains("proxyd: /etc/proxyd/proxyd.cfg has errors: not starting"), start.output)
        XCTAssertFalse(start.output.contains("Starting proxyd"), start.output)
        XCTAssertEqual(r.step("status").status, 3, r.step("status").output)
        XCTAssertNotEqual(r.step("pidfile").status, 0)
        XCTAssertNotEqual(r.step("listening").status, 0)
    }

    /// reload and restart with a broken config print why and leave the running proxyd
    /// alone (same pid, still serving); a good config then reloads to a new process.
    func testProxydReloadAndRestartLeaveTheRunningProxydAloneOnABrokenConfig() throws {
        try Sandbox.skipUnlessAvailable()
        let r = try Sandbox.run(Self.install + """

            cat > /etc/proxyd/proxyd.cfg <<'CFG'
            \(Self.proxydConfig)
            CFG
            step start service proxyd start
            step status service proxyd status
            step serving curl -s --max-time 2 http://127.0.0.1:8080/
            # The control socket through /run/proxyd -> /etc/proxyd/run -> /run/proxyd.d/default.
            step socket sh -c 'echo "show info" | socat - /run/proxyd/admin.sock | grep "^Pid:"'
            first=$(cat /run/proxyd.pid)
            sed -i 's/string "hello"/strin "hello"/' /etc/proxyd/proxyd.cfg
            step reload-bad service proxyd reload
            step restart-bad service proxyd restart
            step start-again service proxyd start
            step same-pid sh -c "test \\"\\$(cat /run/proxyd.pid)\\" = $first && kill -0 $first"
            step still-serving curl -s --max-time 2 http://127.0.0.1:8080/
            sed -i 's/strin "hello"/string "bye"/' /etc/proxyd/proxyd.cfg
            step reload service proxyd reload
            step new-pid sh -c "test \\"\\$(cat /run/proxyd.pid)\\" != $first"
            step new-config curl -s --max-time 2 http://127.0.0.1:8080/
            i=0; while kill -0 $first 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
            step old-gone sh -c "! kill -0 $first 2>/dev/null"
            step stop service proxyd stop
            step stopped service proxyd status
            step stop-again service proxyd stop
            """)
        XCTAssertEqual(r.step("start").status, 0, r.output)
        XCTAssertEqual(r.step("start").output, "Starting proxyd: proxyd.")
        XCTAssertTrue(r.step("status").output.hasPrefix("proxyd is running (pid "), r.step("status").output)
        XCTAssertEqual(r.step("serving").output, "hello")
        XCTAssertEqual(r.step("socket").status, 0, r.step("socket").output)
        for name in ["reload-bad", "restart-bad"] {
            let s = r.step(name)
            XCTAssertEqual(s.status, 1, s.output)
            XCTAssertTrue(s.output.contains("[/etc/proxyd/proxyd.cfg:10]"), s.output)
            XCTAssertTrue(s.output.contains("the running proxyd keeps"), s.output)
        }
        XCTAssertEqual(r.step("start-again").output, "proxyd is already running")
        XCTAssertEqual(r.step("same-pid").status, 0, "the refused reload or restart touched proxyd")
        XCTAssertEqual(r.step("still-serving").output, "hello")
        XCTAssertEqual(r.step("reload").status, 0, r.step("reload").output)
        XCTAssertEqual(r.step("reload").output, "Reloading proxyd: proxyd.")
        XCTAssertEqual(r.step("new-pid").status, 0)
        XCTAssertEqual(r.step("new-config").output, "bye")
        XCTAssertEqual(r.step("old-gone").status, 0, "the old proxyd did not finish after the reload")
        XCTAssertEqual(r.step("stop").output, "Stopping proxyd: proxyd.")
        XCTAssertEqual(r.step("stopped").status, 3)
        XCTAssertEqual(r.step("stop-again").status, 0)
        XCTAssertEqual(r.step("stop-again").output, "proxyd not running")
    }

    /// /etc/default/proxyd is read: CONFIG names another file, EXTRAOPTS reaches proxyd.
    func testProxydReadsEtcDefault() throws {
        try Sandbox.skipUnlessAvailable()
        let r = try Sandbox.run(Self.install + """

            cat > /etc/proxyd/other.cfg <<'CFG'
            \(Self.proxydConfig)
            CFG
            echo 'CONFIG="/etc/proxyd/other.cfg"' >> /etc/default/proxyd
            echo 'EXTRAOPTS="-n 77"' >> /etc/default/proxyd
            step start service proxyd start
            step maxconn sh -c 'echo "show info" | socat - /run/proxyd/admin.sock | grep "^Maxconn:"'
            step cmdline sh -c 'tr "\\0" " " < /proc/$(cat /run/proxyd.pid)/cmdline'
            step stop service proxyd stop
            """)
        XCTAssertEqual(r.step("start").status, 0, r.output)
        XCTAssertEqual(r.step("maxconn").output, "Maxconn: 77", r.output)
        XCTAssertTrue(r.step("cmdline").output.contains("-f /etc/proxyd/other.cfg -n 77"), r.step("cmdline").output)
    }

    // MARK: vrrpd

    func testVrrpdStartRefusesAMissingOrBrokenConfig() throws {
        try Sandbox.skipUnlessAvailable()
        let r = try Sandbox.run(Self.install + """

            step start-missing service vrrpd start
            cat > /etc/vrrpd/keepalived.conf <<'CFG'
            \(Self.vrrpdConfig.replacingOccurrences(of: "priority 101", with: "priorty 101"))
            CFG
            step check service vrrpd check
            step start service vrrpd start
            step status service vrrpd status
            step reload service vrrpd reload
            """)
        let missing = r.step("start-missing")
        XCTAssertEqual(missing.status, 6, missing.output)
        XCTAssertTrue(missing.output.contains("/etc/vrrpd/keepalived.conf does not exist"), missing.output)
        let check = r.step("check")
        XCTAssertEqual(check.status, 5, check.output)
        XCTAssertTrue(check.output.contains("(/etc/vrrpd/keepalived.conf: Line 5) Unknown keyword 'priorty'"), check.output)
        let start = r.step("start")
        XCTAssertEqual(start.status, 1, start.output)
        XCTAssertTrue(start.output.contains("(/etc/vrrpd/keepalived.conf: Line 5) Unknown keyword 'priorty'"), start.output)
        XCTAssertTrue(start.output.contains("vrrpd: /etc/vrrpd/keepalived.conf has errors: not starting"), start.output)
        XCTAssertEqual(r.step("status").status, 3, r.step("status").output)
        XCTAssertEqual(r.step("reload").status, 7, r.step("reload").output)
        XCTAssertTrue(r.step("reload").output.contains("vrrpd is not running"), r.step("reload").output)
    }

    /// start, status, a refused reload and restart (same pids), a good reload (SIGHUP:
    /// same pids, the VIP stays), stop (the VIP goes).
    func testVrrpdServiceLifecycle() throws {
        try Sandbox.skipUnlessAvailable()
        let r = try Sandbox.run(Self.install + """

            ip link add eth0 type veth peer name eth1 && ip addr add 10.99.0.2/24 dev eth0 \\
              && ip link set eth1 up && ip link set eth0 up || exit 98
            cat > /etc/vrrpd/keepalived.conf <<'CFG'
            \(Self.vrrpdConfig)
            CFG
            step check service vrrpd check
            step start service vrrpd start
            step status service vrrpd status
            first=$(cat /run/vrrpd.pid); child=$(cat /run/vrrpd-vrrp.pid)
            i=0; until ip -4 addr show eth0 | grep -q 10.99.0.100 || [ $i -ge 100 ]; do sleep 0.1; i=$((i + 1)); done
            step master sh -c 'ip -4 addr show eth0 | grep -q 10.99.0.100'
            sed -i 's/priority 101/priorty 101/' /etc/vrrpd/keepalived.conf
            step reload-bad service vrrpd reload
            step restart-bad service vrrpd restart
            sed -i 's/priorty 101/priority 101/' /etc/vrrpd/keepalived.conf
            step reload service vrrpd reload
            sleep 0.5
            step same-pids sh -c "test \\"\\$(cat /run/vrrpd.pid) \\$(cat /run/vrrpd-vrrp.pid)\\" = \\"$first $child\\" && kill -0 $first && kill -0 $child"
            step still-master sh -c 'ip -4 addr show eth0 | grep -q 10.99.0.100'
            step stop service vrrpd stop
            step stopped service vrrpd status
            step vip-gone sh -c '! ip -4 addr show eth0 | grep -q 10.99.0.100'
            step both-gone sh -c "! kill -0 $first 2>/dev/null && ! kill -0 $child 2>/dev/null"
            """)
        XCTAssertEqual(r.step("check").output, "Configuration file /etc/vrrpd/keepalived.conf is valid", r.output)
        XCTAssertEqual(r.step("start").status, 0, r.output)
        XCTAssertEqual(r.step("start").output, "Starting vrrpd: vrrpd.")
        XCTAssertTrue(r.step("status").output.hasPrefix("vrrpd is running (pid "), r.step("status").output)
        XCTAssertTrue(r.step("status").output.contains(", VRRP child "), r.step("status").output)
        XCTAssertEqual(r.step("master").status, 0, "vrrpd never took the VIP:\n\(r.output)")
        for name in ["reload-bad", "restart-bad"] {
            let s = r.step(name)
            XCTAssertEqual(s.status, 1, s.output)
            XCTAssertTrue(s.output.contains("(/etc/vrrpd/keepalived.conf: Line 5) Unknown keyword 'priorty'"), s.output)
            XCTAssertTrue(s.output.contains("the running vrrpd keeps"), s.output)
        }
        XCTAssertEqual(r.step("reload").output, "Reloading vrrpd: vrrpd.")
        XCTAssertEqual(r.step("same-pids").status, 0, "a reload replaced a vrrpd process:\n\(r.output)")
        XCTAssertEqual(r.step("still-master").status, 0, "the VIP moved on a reload that changed nothing")
        XCTAssertEqual(r.step("stop").output, "Stopping vrrpd: vrrpd.")
        XCTAssertEqual(r.step("stopped").status, 3)
        XCTAssertEqual(r.step("vip-gone").status, 0)
        XCTAssertEqual(r.step("both-gone").status, 0)
    }

    // MARK: install

    /// DESTDIR installs the whole tree under a directory and nothing else; a second run
    /// keeps the operator's edits of configs and /etc/default files.
    func testInstallIntoDestdirKeepsTheOperatorsFiles() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("install-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        var env = ProcessInfo.processInfo.environment
        env["DESTDIR"] = root
        env["PROXYD_BIN_DIR"] = ProxydProcess.binaryDirectory.path
        let first = try Sandbox.runProcess("\(Self.repo)/scripts/install", [], environment: env, timeout: 60)
        XCTAssertEqual(first.status, 0, first.output)
        let fm = FileManager.default
        func mode(_ path: String) -> Int {
            ((try? fm.attributesOfItem(atPath: root + path))?[.posixPermissions] as? Int) ?? -1
        }
        for (path, expected) in [("/usr/local/sbin/proxyd", 0o755), ("/usr/local/sbin/vrrpd", 0o755),
                                 ("/etc/init.d/proxyd", 0o755), ("/etc/init.d/vrrpd", 0o755),
                                 ("/etc/default/proxyd", 0o644), ("/etc/default/vrrpd", 0o644),
                                 ("/etc/proxyd/proxyd.cfg", 0o644), ("/etc/vrrpd/chk_proxyd.sh", 0o755),
                                 ("/etc/systemd/system/proxyd.service", 0o644),
                                 ("/etc/systemd/system/vrrpd.service", 0o644)] {
            XCTAssertEqual(mode(path), expected, "\(path): mode \(String(mode(path), radix: 8))")
        }
        XCTAssertEqual(try fm.destinationOfSymbolicLink(atPath: root + "/etc/proxyd/run"), "/run/proxyd.d/default")
        XCTAssertFalse(fm.fileExists(atPath: root + "/run"), "a DESTDIR tree gets no /run")

        try "CONFIG=\"/etc/proxyd/mine.cfg\"\n".write(toFile: root + "/etc/default/proxyd", atomically: true, encoding: .utf8)
        try "# mine\n".write(toFile: root + "/etc/proxyd/proxyd.cfg", atomically: true, encoding: .utf8)
        let second = try Sandbox.runProcess("\(Self.repo)/scripts/install", [], environment: env, timeout: 60)
        XCTAssertEqual(second.status, 0, second.output)
        XCTAssertEqual(try String(contentsOfFile: root + "/etc/default/proxyd", encoding: .utf8), "CONFIG=\"/etc/proxyd/mine.cfg\"\n")
        XCTAssertEqual(try String(contentsOfFile: root + "/etc/proxyd/proxyd.cfg", encoding: .utf8), "# mine\n")
    }

    /// Without DESTDIR on a machine that systemd does not run (the sandbox: no
    /// /run/systemd/system), no unit is installed.
    func testInstallPutsUnitsOnlyWhereSystemdIsTheInit() throws {
        try Sandbox.skipUnlessAvailable()
        let r = try Sandbox.run(Self.install + """

            step no-units sh -c '! ls /etc/systemd/system/proxyd.service /etc/systemd/system/vrrpd.service 2>/dev/null'
            mkdir -p /run/systemd/system
            # systemctl cannot reach a manager here; the units are installed all the same.
            cd "$REPO" && PROXYD_BIN_DIR="$BIN" scripts/install >/dev/null 2>&1
            step units ls /etc/systemd/system/proxyd.service /etc/systemd/system/vrrpd.service
            """)
        XCTAssertEqual(r.step("no-units").status, 0, r.output)
        XCTAssertEqual(r.step("units").status, 0, r.output)
    }

    // MARK: systemd

    /// `systemd-analyze verify` finds nothing to say about either unit, once installed
    /// (it checks that the programs exist, and with man(1) that the pages named in
    /// Documentation= do).
    func testSystemdUnitsVerify() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze") else {
            throw XCTSkip("systemd-analyze is not installed (Debian package systemd)")
        }
        try Sandbox.skipUnlessAvailable()
        // As if systemd ran the sandbox, so that scripts/install installs the units.
        let r = try Sandbox.run("mkdir -p /run/systemd/system\n" + Self.install + """

            step verify systemd-analyze verify /etc/systemd/system/proxyd.service /etc/systemd/system/vrrpd.service
            """)
        let verify = r.step("verify")
        XCTAssertEqual(verify.status, 0, verify.output)
        XCTAssertEqual(verify.output, "", "systemd-analyze verify complained")
    }

    /// The units say what the issue asks of them.
    func testSystemdUnitsDeclareWhatTheyPromise() throws {
        let proxyd = try String(contentsOfFile: "\(Self.repo)/etc/systemd/proxyd.service", encoding: .utf8)
        for line in ["Type=notify", "ExecStartPre=/usr/local/sbin/proxyd -c -f ${CONFIG} $EXTRAOPTS",
                     "ExecReload=/usr/local/sbin/proxyd -c -f ${CONFIG} $EXTRAOPTS", "ExecReload=/bin/kill -USR2 $MAINPID",
                     "EnvironmentFile=-/etc/default/proxyd", "RuntimeDirectory=proxyd.d/default",
                     "NoNewPrivileges=yes", "ProtectSystem=full", "ProtectHome=yes", "PrivateTmp=yes",
                     "PIDFile=/run/proxyd.pid"] {
            XCTAssertTrue(proxyd.split(separator: "\n").contains(Substring(line)), "proxyd.service lacks \(line)")
        }
        let vrrpd = try String(contentsOfFile: "\(Self.repo)/etc/systemd/vrrpd.service", encoding: .utf8)
        for line in ["AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW", "EnvironmentFile=-/etc/default/vrrpd",
                     "ExecStartPre=/usr/local/sbin/vrrpd -f ${CONFIG} $DAEMON_ARGS -t",
                     "ExecReload=/usr/local/sbin/vrrpd -f ${CONFIG} $DAEMON_ARGS -t", "ExecReload=/bin/kill -HUP $MAINPID"] {
            XCTAssertTrue(vrrpd.split(separator: "\n").contains(Substring(line)), "vrrpd.service lacks \(line)")
        }
    }
}
