import Foundation
import XCTest

/// The Debian package (issue 11, item 7): scripts/install's PREFIX, and the .deb that
/// scripts/package builds (scripts/test builds it before the tests) installed with apt-get,
/// both services run, and purged, all in a `Sandbox` whose /usr, /etc and /var are
/// overlays: the machine's dpkg database and files are the same afterwards, which the test
/// checks too.
final class PackageTests: XCTestCase {
    static let repo = CheckModeTests.repoRoot.path

    /// The newest package scripts/package left in .build/package.
    static func builtPackage() throws -> String {
        let dir = "\(repo)/.build/package"
        let debs = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [])
            .filter { $0.hasPrefix("proxyd_") && $0.hasSuffix(".deb") }
            .map { "\(dir)/\($0)" }
            .sorted { modified($0) > modified($1) }
        guard let deb = debs.first else {
            throw XCTSkip("no .build/package/proxyd_*.deb: run scripts/package (scripts/test does)")
        }
        return deb
    }

    static func modified(_ path: String) -> Date {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date) ?? .distantPast
    }

    // MARK: scripts/install with PREFIX

    /// PREFIX=/usr: binaries in /usr/sbin, the helper in /usr/lib/proxyd, manual pages in
    /// /usr/share/man, units in /lib/systemd/system, and every installed init script and
    /// unit names those paths (none is left naming /usr/local). Script modes are kept.
    func testInstallWithPrefixNamesItsOwnPaths() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("pkt\(getpid())-prefix").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        var env = ProcessInfo.processInfo.environment
        env["DESTDIR"] = root
        env["PREFIX"] = "/usr"
        env["PROXYD_BIN_DIR"] = ProxydProcess.binaryDirectory.path
        let r = try Sandbox.runProcess("\(Self.repo)/scripts/install", [], environment: env, timeout: 60)
        XCTAssertEqual(r.status, 0, r.output)
        let fm = FileManager.default
        func mode(_ path: String) -> Int {
            ((try? fm.attributesOfItem(atPath: root + path))?[.posixPermissions] as? Int) ?? -1
        }
        for (path, expected) in [("/usr/sbin/proxyd", 0o755), ("/usr/sbin/vrrpd", 0o755),
                                 ("/usr/lib/proxyd/make-sample-cert", 0o755), ("/etc/vrrpd/chk_proxyd.sh", 0o755),
                                 ("/etc/init.d/proxyd", 0o755), ("/etc/init.d/vrrpd", 0o755),
                                 ("/usr/share/man/man8/proxyd.8", 0o644), ("/usr/share/man/man5/vrrpd.conf.5", 0o644),
                                 ("/lib/systemd/system/proxyd.service", 0o644), ("/lib/systemd/system/vrrpd.service", 0o644)] {
            XCTAssertEqual(mode(path), expected, "\(path): mode \(String(mode(path), radix: 8))")
        }
        XCTAssertFalse(fm.fileExists(atPath: root + "/usr/local"), "PREFIX=/usr installed under /usr/local")
        XCTAssertFalse(fm.fileExists(atPath: root + "/etc/systemd"), "a package's units go to /lib/systemd/system")
        for file in ["/etc/init.d/proxyd", "/etc/init.d/vrrpd", "/lib/systemd/system/proxyd.service", "/lib/systemd/system/vrrpd.service"] {
            let text = try String(contentsOfFile: root + file, encoding: .utf8)
            XCTAssertFalse(text.contains("/usr/local"), "\(file) still names /usr/local")
        }
        let initScript = try String(contentsOfFile: root + "/etc/init.d/proxyd", encoding: .utf8)
        XCTAssertTrue(initScript.contains("PROXYD=/usr/sbin/proxyd\n"), initScript)
        XCTAssertTrue(initScript.contains("MAKE_SAMPLE_CERT=/usr/lib/proxyd/make-sample-cert\n"), initScript)
        let unit = try String(contentsOfFile: root + "/lib/systemd/system/vrrpd.service", encoding: .utf8)
        XCTAssertTrue(unit.contains("ExecStart=/usr/sbin/vrrpd "), unit)
    }

    // MARK: the installed sample

    /// etc/proxyd/proxyd.cfg as installed (global and defaults only, as Debian's
    /// haproxy.cfg) runs on any host and serves its control socket: HAProxy 2.6 counts the
    /// socket as a listener, so must proxyd (it once exited: "No enabled listener found").
    /// Run in the foreground here, with the socket in a temporary directory and without the
    /// chroot, user and syslog the installed one uses.
    func testInstalledConfigurationRunsWithOnlyItsControlSocket() throws {
        let installed = try String(contentsOfFile: "\(Self.repo)/etc/proxyd/proxyd.cfg", encoding: .utf8)
        XCTAssertFalse(installed.split(separator: "\n").contains { line in
            ["frontend", "backend", "listen"].contains { line.hasPrefix($0 + " ") }
        }, "the installed proxyd.cfg is meant to hold no proxy")
        let config = installed.split(separator: "\n", omittingEmptySubsequences: false).compactMap { line -> String? in
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let keyword = words.first else { return String(line) }
            if ["chroot", "user", "group", "daemon", "log"].contains(keyword) { return nil }
            return String(line)
                .replacingOccurrences(of: "/run/proxyd/admin.sock", with: "{DIR}/admin.sock")
                .replacingOccurrences(of: "/etc/proxyd/errors/", with: "\(Self.repo)/etc/proxyd/errors/")
        }.joined(separator: "\n")
        let proxyd = try ProxydProcess(config: config, extraArguments: ["-db"])
        defer { proxyd.stop() }
        let socket = proxyd.directory.appendingPathComponent("admin.sock").path
        var answer = ""
        for _ in 0..<50 where !answer.contains("Name: proxyd") {
            usleep(100_000)
            guard proxyd.process.isRunning else { break }
            answer = (try? Sandbox.runProcess("/bin/sh", ["-c", "echo 'show info' | socat -t 2 stdio \"UNIX-CONNECT:$1\"", "sh", socket],
                                              timeout: 5))?.output ?? ""
        }
        XCTAssertTrue(proxyd.process.isRunning, "proxyd exited: \(proxyd.stderrText())")
        XCTAssertTrue(answer.contains("Name: proxyd"), "no answer on the control socket: \(answer)")
    }

    // MARK: the .deb

    /// What the package holds, read with dpkg-deb (no root needed): the layout, conffiles,
    /// maintainer scripts, gzipped manual pages, and Depends on Debian packages only (the
    /// Swift runtime is linked in).
    func testPackageContents() throws {
        let deb = try Self.builtPackage()
        let contents = try Sandbox.runProcess("/bin/sh", ["-c", "dpkg-deb --fsys-tarfile \"$1\" | tar -t", "sh", deb], timeout: 30)
        XCTAssertEqual(contents.status, 0, contents.output)
        // "./usr/sbin/proxyd", "./var/lib/proxyd/": as absolute paths without the slash at the end.
        let paths = Set(contents.output.split(separator: "\n").map { line -> String in
            var path = String(line.dropFirst())
            if path.count > 1 && path.hasSuffix("/") { path.removeLast() }
            return path
        })
        for path in ["/usr/sbin/proxyd", "/usr/sbin/vrrpd", "/usr/lib/proxyd/make-sample-cert",
                     "/etc/proxyd/proxyd.cfg", "/etc/proxyd/proxyd-normal.cfg", "/etc/proxyd/proxyd-ssl-termination.cfg",
                     "/etc/proxyd/proxyd-ssl-passthrough.cfg", "/etc/proxyd/errors/503.http",
                     "/etc/vrrpd/keepalived-master.conf", "/etc/vrrpd/keepalived-backup.conf", "/etc/vrrpd/chk_proxyd.sh",
                     "/etc/init.d/proxyd", "/etc/init.d/vrrpd", "/etc/default/proxyd", "/etc/default/vrrpd",
                     "/lib/systemd/system/proxyd.service", "/lib/systemd/system/vrrpd.service",
                     "/usr/share/man/man8/proxyd.8.gz", "/usr/share/man/man8/vrrpd.8.gz",
                     "/usr/share/man/man5/proxyd.cfg.5.gz", "/usr/share/man/man5/vrrpd.conf.5.gz",
                     "/usr/share/doc/proxyd/copyright", "/usr/share/doc/proxyd/changelog.gz", "/var/lib/proxyd"] {
            XCTAssertTrue(paths.contains(path), "the package lacks \(path)")
        }
        XCTAssertFalse(paths.contains { $0.hasPrefix("/usr/local") }, "the package installs under /usr/local")
        // Modes as scripts/install sets them: vrrpd refuses a track script it cannot execute.
        let listing = try Sandbox.runProcess("/bin/sh", ["-c", "dpkg-deb --fsys-tarfile \"$1\" | tar -tv", "sh", deb], timeout: 30)
        for (path, mode) in [("./etc/vrrpd/chk_proxyd.sh", "-rwxr-xr-x"), ("./etc/init.d/vrrpd", "-rwxr-xr-x"),
                             ("./usr/sbin/proxyd", "-rwxr-xr-x"), ("./etc/proxyd/proxyd.cfg", "-rw-r--r--")] {
            let line = listing.output.split(separator: "\n").first { $0.hasSuffix(" " + path) }
            XCTAssertEqual(line.map { String($0.prefix(10)) }, mode, "\(path): \(line ?? "missing")")
            XCTAssertTrue(line?.contains(" root/root ") ?? false, "\(path) is not root's: \(line ?? "missing")")
        }

        // The daemons stay small: a file of ProxyCore that imported Foundation (for
        // ProcessInfo alone) once took the stripped proxyd from 15 to 64 MB, Foundation
        // and ICU's tables linked in statically.
        for daemon in ["./usr/sbin/proxyd", "./usr/sbin/vrrpd"] {
            let line = listing.output.split(separator: "\n").first { $0.hasSuffix(" " + daemon) }
            let size = line.flatMap { $0.split(separator: " ", omittingEmptySubsequences: true).dropFirst(2).first }
                .flatMap { Int($0) }
            XCTAssertLessThan(size ?? .max, 30_000_000, "\(daemon): \(line ?? "missing")")
        }

        let fields = try Sandbox.runProcess("/usr/bin/dpkg-deb", ["--field", deb, "Package", "Depends"], timeout: 30)
        XCTAssertEqual(fields.status, 0, fields.output)
        XCTAssertTrue(fields.output.contains("Package: proxyd"), fields.output)
        for library in ["libssl3", "libc6"] {
            XCTAssertTrue(fields.output.contains(library), "Depends lacks \(library): \(fields.output)")
        }
        XCTAssertFalse(fields.output.lowercased().contains("swift"), fields.output)

        let control = FileManager.default.temporaryDirectory.appendingPathComponent("pkt\(getpid())-control").path
        defer { try? FileManager.default.removeItem(atPath: control) }
        let extracted = try Sandbox.runProcess("/usr/bin/dpkg-deb", ["--control", deb, control], timeout: 30)
        XCTAssertEqual(extracted.status, 0, extracted.output)
        let conffiles = try String(contentsOfFile: control + "/conffiles", encoding: .utf8).split(separator: "\n").map(String.init)
        for path in ["/etc/proxyd/proxyd.cfg", "/etc/default/vrrpd", "/etc/init.d/proxyd", "/etc/vrrpd/chk_proxyd.sh"] {
            XCTAssertTrue(conffiles.contains(path), "\(path) is not a conffile")
        }
        XCTAssertTrue(conffiles.allSatisfy { $0.hasPrefix("/etc/") && paths.contains($0) }, "a conffile outside /etc or missing: \(conffiles)")
        for script in ["postinst", "prerm", "postrm"] {
            let r = try Sandbox.runProcess("/bin/sh", ["-n", control + "/" + script], timeout: 20)
            XCTAssertEqual(r.status, 0, "\(script): \(r.output)")
        }
    }

    /// apt-get installs the package and its postinst starts proxyd (as Debian's haproxy);
    /// both services run with `service` (systemd is not pid 1 here); the log reaches
    /// /var/log/proxyd.log when the package carries the rsyslog snippet; apt-get purge leaves
    /// nothing of it behind. All inside a sandbox; the machine's package database and the
    /// package's paths are checked unchanged afterwards.
    func testAptInstallRunAndPurge() throws {
        try Sandbox.skipUnlessAvailable()
        let deb = try Self.builtPackage()
        let hostBefore = try Self.hostFingerprint()
        let r = try Sandbox.run(#"""
            export DEBIAN_FRONTEND=noninteractive
            deb='\#(deb)'
            ip link add eth0 type veth peer name eth1 && ip addr add 10.77.0.4/24 dev eth0 \
              && ip link set eth1 up && ip link set eth0 up || exit 98
            # A machine without proxyd: what scripts/install may have put on this one goes
            # (in the sandbox only; the proxyd user may stay, as it does after a purge).
            rm -rf /etc/proxyd /etc/vrrpd /etc/default/proxyd /etc/default/vrrpd /etc/init.d/proxyd /etc/init.d/vrrpd \
              /etc/systemd/system/proxyd.service /etc/systemd/system/vrrpd.service /etc/rc?.d/[SK]??proxyd \
              /etc/rc?.d/[SK]??vrrpd /usr/local/sbin/proxyd /usr/local/sbin/vrrpd /usr/local/lib/proxyd \
              /usr/local/share/man/man?/proxyd* /usr/local/share/man/man?/vrrpd* /var/lib/proxyd /var/log/proxyd.log*
            # Everything of ours is named proxyd or vrrpd (files, links, rc links, systemd
            # state): after the purge that part of the tree must be as it is now. The lab's
            # namespaces (/etc/netns) belong to another test, which may change them meanwhile;
            # man's page cache is man's (systemd-analyze verify reads the pages).
            ours() {
              find /etc /usr /var /run /lib -xdev 2>/dev/null | grep -E 'proxyd|vrrpd' | grep -Ev '^/etc/netns/|^/var/cache/man/' | sort
            }
            # A machine where scripts/install (scripts/lab, the README's main command) ran
            # holds files of ours already, which the package would take over and the purge
            # remove: the package is tried as on a machine without them (only the overlays
            # see this).
            ours | xargs -r rm -rf
            ours > /tmp/before
            # As on a machine with sysvinit in runlevel 2, where the maintainer scripts start
            # and stop the services: the sandbox has no init (invoke-rc.d does nothing without
            # a runlevel), and an image built for containers has a policy-rc.d that forbids
            # starting anything. /usr is an overlay here.
            rm -f /usr/sbin/runlevel /usr/sbin/policy-rc.d
            printf '#!/bin/sh\necho "N 2"\n' > /usr/sbin/runlevel && chmod 755 /usr/sbin/runlevel
            step install apt-get install -y --no-install-recommends "$deb"
            step status dpkg-query -W -f '${Status} ${Version}' proxyd
            step started-by-postinst service proxyd status
            step user getent passwd proxyd
            step rc-links sh -c 'ls /etc/rc2.d | grep -c -E "^S[0-9]+(proxyd|vrrpd)$"'
            step man man -w -M /usr/share/man proxyd vrrpd proxyd.cfg vrrpd.conf
            step units systemd-analyze verify /lib/systemd/system/proxyd.service /lib/systemd/system/vrrpd.service
            step cert openssl x509 -noout -subject -in /etc/proxyd/ssl/proxyd.pem
            step termination proxyd -c -f /etc/proxyd/proxyd-ssl-termination.cfg

            if [ -e /etc/rsyslog.d/49-proxyd.conf ]; then
              # Debian 12's rsyslog has a systemd unit and no init script: started by hand
              # (its /dev/log in the sandbox's own /dev).
              step rsyslog rsyslogd -i /run/rsyslogd.pid
            fi
            # proxyd: the installed configuration with a frontend added, as an operator does.
            cat >> /etc/proxyd/proxyd.cfg <<'CFG'

            frontend http-in
            	bind 127.0.0.1:8080
            	http-request return status 200 content-type text/plain string "packaged"
            CFG
            step reload service proxyd reload
            step proxyd-status service proxyd status
            step served curl -s --max-time 3 http://127.0.0.1:8080/
            step info sh -c 'echo "show info" | socat -t 2 stdio /run/proxyd/admin.sock | grep "^Name:"'
            if [ -e /etc/rsyslog.d/49-proxyd.conf ]; then
              i=0; while [ $i -lt 50 ] && ! grep -q "http-in" /var/log/proxyd.log 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
              step log grep -m1 "http-in" /var/log/proxyd.log
            fi

            # vrrpd: the master sample with the VIP filled in; it takes the VIP (no peer).
            sed 's/<your_virtual_ip>/10.77.0.6/' /etc/vrrpd/keepalived-master.conf > /etc/vrrpd/keepalived.conf
            step vrrpd-start service vrrpd start
            step vrrpd-status service vrrpd status
            i=0; while [ $i -lt 80 ] && ! ip -4 -o addr show dev eth0 | grep -q " 10.77.0.6/"; do sleep 0.1; i=$((i + 1)); done
            step vip sh -c 'ip -4 -o addr show dev eth0 | grep -c " 10.77.0.6/"'

            # The operator's own file goes with the operator; then the purge.
            rm /etc/vrrpd/keepalived.conf
            if [ -e /run/rsyslogd.pid ]; then kill "$(cat /run/rsyslogd.pid)"; sleep 0.2; fi
            step purge apt-get purge -y proxyd
            step gone sh -c '! pgrep -x proxyd && ! pgrep -x vrrpd && ! dpkg-query -W proxyd 2>/dev/null'
            ours > /tmp/after
            step left diff /tmp/before /tmp/after
            """#, overlays: ["etc", "usr", "var"], privateDev: true, timeout: 240)
        XCTAssertEqual(try Self.hostFingerprint(), hostBefore, "the machine's installed state changed")

        XCTAssertEqual(r.step("install").status, 0, r.output)
        XCTAssertTrue(r.step("status").output.hasPrefix("install ok installed"), r.step("status").output)
        // As Debian's haproxy: started by the postinst (invoke-rc.d) with the installed
        // configuration, which needs no lab; then reloaded by the operator.
        XCTAssertEqual(r.step("started-by-postinst").status, 0, "\(r.step("started-by-postinst").output)\n\(r.step("install").output)")
        XCTAssertTrue(r.step("user").output.hasPrefix("proxyd:x:"), r.step("user").output)
        XCTAssertEqual(r.step("rc-links").output, "2", "update-rc.d did not enable both services")
        XCTAssertEqual(r.step("man").status, 0, r.step("man").output)
        XCTAssertTrue(r.step("man").output.contains("/usr/share/man/man8/proxyd.8.gz"), r.step("man").output)
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze") {
            // The units name /usr/sbin's programs, which exist, and man pages that do.
            XCTAssertEqual(r.step("units").status, 0, r.step("units").output)
            XCTAssertEqual(r.step("units").output, "", "systemd-analyze verify complained")
        }
        XCTAssertEqual(r.step("cert").status, 0, "no self-signed certificate made at start: \(r.step("cert").output)")
        XCTAssertEqual(r.step("termination").status, 0, r.step("termination").output)

        XCTAssertEqual(r.step("reload").status, 0, r.output)
        XCTAssertTrue(r.step("reload").output.contains("Reloading proxyd: proxyd."), r.step("reload").output)
        XCTAssertEqual(r.step("proxyd-status").status, 0, r.step("proxyd-status").output)
        XCTAssertEqual(r.step("served").output, "packaged", r.output)
        XCTAssertEqual(r.step("info").output, "Name: proxyd", r.step("info").output)
        if r.steps["rsyslog"] != nil {
            XCTAssertEqual(r.step("rsyslog").status, 0, r.step("rsyslog").output)
            XCTAssertEqual(r.step("log").status, 0, "no log line in /var/log/proxyd.log:\n\(r.output)")
        }

        XCTAssertEqual(r.step("vrrpd-start").status, 0, r.output)
        XCTAssertEqual(r.step("vrrpd-status").status, 0, r.step("vrrpd-status").output)
        XCTAssertEqual(r.step("vip").output, "1", "vrrpd from the package did not take the VIP")

        XCTAssertEqual(r.step("purge").status, 0, r.step("purge").output)
        XCTAssertEqual(r.step("gone").status, 0, "a daemon or the package survived the purge: \(r.step("gone").output)")
        XCTAssertEqual(r.step("left").status, 0, "left behind by the purge (or removed):\n\(r.step("left").output)")
    }

    /// The package database and the package's own paths on the machine, outside any
    /// sandbox. Narrow on purpose: other tests change /etc meanwhile (the lab's namespaces,
    /// a scripts/install of their own).
    static func hostFingerprint() throws -> String {
        let r = try Sandbox.runProcess("/bin/sh", ["-c", """
            sha256sum /var/lib/dpkg/status
            for p in /usr/sbin/proxyd /usr/sbin/vrrpd /usr/lib/proxyd /lib/systemd/system/proxyd.service \\
                     /usr/share/man/man8/proxyd.8.gz /usr/share/doc/proxyd /var/lib/dpkg/info/proxyd.list; do
              stat -c '%n %s %Y' "$p" 2>/dev/null || echo "$p absent"
            done
            """], timeout: 30)
        return r.output
    }
}
