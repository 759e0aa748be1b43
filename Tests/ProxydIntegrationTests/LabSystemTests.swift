import Foundation
import XCTest

/// The lab of ../shared/seed/lab-README.md, end to end, with this build: `scripts/lab`
/// (two nginx web servers, two load balancers with proxyd + vrrpd, a client, in network
/// namespaces) walks through every test step of the tutorial and must pass them all; then,
/// while it stays up, its subcommands and the ports it publishes on 127.0.0.1 are used as a
/// new user would (a browser on the stats page included); then it is killed with SIGKILL
/// and `scripts/lab down` must remove everything it left.
///
/// It all runs in a `Sandbox`: scripts/install, the lab's /etc/netns files and /run/netns
/// namespaces, the published ports all live and die there; the installed system is
/// checked unchanged. Root only.
final class LabSystemTests: XCTestCase {
    func testTheLabPassesEveryStepAndItsSubcommandsWork() throws {
        try Sandbox.skipUnlessAvailable()
        for tool in ["/usr/sbin/nginx", "/usr/bin/chromium", "/usr/bin/socat", "/usr/bin/nsenter"] {
            guard FileManager.default.isExecutableFile(atPath: tool) else {
                throw XCTSkip("\(tool) is not installed (scripts/install-deps installs it)")
            }
        }
        let before = try installedSystem()
        // The lab runs rsyslogd (scripts/lab-syslog), which makes /dev/log: in a /dev of its own.
        let r = try Sandbox.run(Self.script, privateDev: true, timeout: 300)
        XCTAssertEqual(try installedSystem(), before, "the installed system changed")

        XCTAssertEqual(r.step("install").status, 0, r.step("install").output)
        XCTAssertEqual(r.step("installed-is-this-build").status, 0, "scripts/install did not install this build in the sandbox")

        // Every step of the walk passes, within the configs' own timers; it ends in the
        // normal setup (the closing help's first command works).
        let walk = r.step("walk").output
        XCTAssertTrue(walk.contains("Result: 0 failed step(s)"), walk)
        XCTAssertFalse(walk.contains("FAILED"), walk)
        XCTAssertTrue(walk.contains("The lab is up until you press Ctrl-C"), walk)
        XCTAssertTrue(r.step("help-first-command").output.hasPrefix("<h1>Greeting from myweb"), r.output)

        // status: the VIP's holder, both daemons on both load balancers, each server.
        let status = r.step("status")
        XCTAssertEqual(status.status, 0, status.output)
        XCTAssertTrue(status.output.contains("virtual IP 10.77.0.6: mylb1\n"), status.output)
        XCTAssertTrue(status.output.contains("vrrpd: MASTER (priority 101)"), status.output)
        XCTAssertTrue(status.output.contains("vrrpd: BACKUP (priority 100)"), status.output)
        XCTAssertEqual(status.output.components(separatedBy: "servers: myweb1 UP  myweb2 UP").count - 1, 2, status.output)
        XCTAssertTrue(status.output.contains("setup normal"), status.output)

        // exec, shell: the node's network and its own hostname.
        XCTAssertEqual(r.step("exec").status, 0)
        XCTAssertTrue(r.step("exec").output.contains("inet 10.77.0.6/"), r.step("exec").output)
        XCTAssertEqual(r.step("exec-status").status, 3, "exec must pass on the command's exit status")
        XCTAssertTrue(r.step("shell").output.contains("I am mylb2"), r.step("shell").output)

        // use: the tutorial's cp + reload on both load balancers, through the published ports.
        XCTAssertEqual(r.step("use").status, 0, r.step("use").output)
        XCTAssertTrue(r.step("https-28443").output.hasPrefix("<h1>Greeting from myweb"), r.output)
        XCTAssertTrue(r.step("https-29443").output.hasPrefix("<h1>Greeting from myweb"), r.output)
        XCTAssertEqual(r.step("use-normal").status, 0, r.step("use-normal").output)

        // Published ports, each node's stats page with its own name, the tutorial's URI
        // and credentials; a browser renders it.
        XCTAssertEqual(r.step("web1-18080").output, "<h1>Greeting from myweb1</h1>")
        XCTAssertEqual(r.step("web2-19443").output, "<h1>Greeting from myweb2</h1>")
        let page1 = r.step("stats-28090").output, page2 = r.step("stats-29090").output
        XCTAssertTrue(page1.contains("mylb1") && !page1.contains("mylb2"), page1)
        XCTAssertTrue(page2.contains("mylb2") && !page2.contains("mylb1"), page2)
        XCTAssertTrue(page1.contains("myweb1") && page1.contains("myweb2"), page1)
        XCTAssertEqual(r.step("stats-no-auth").output, "401")
        let png = r.step("screenshot-png").output.split(separator: " ")
        XCTAssertEqual(png.first.map(String.init), "89504e470d0a1a0a", "not a PNG: \(r.step("screenshot").output)")
        XCTAssertGreaterThan(Int(png.last ?? "") ?? 0, 20_000, "a blank page? \(r.step("screenshot").output)")

        // Wrong arguments and wrong states: a clear message and a non-zero exit, no trace.
        for (name, expected) in [("bad-node", "unknown node 'mylb3'"), ("bad-setup", "unknown setup 'tls'"),
                                 ("bad-command", "usage: scripts/lab"), ("second-lab", "a lab is already up"),
                                 ("status-after-down", "no lab is up")] {
            let s = r.step(name)
            XCTAssertNotEqual(s.status, 0, "\(name): \(s.output)")
            XCTAssertTrue(s.output.contains(expected), "\(name): \(s.output)")
            XCTAssertFalse(s.output.contains("line "), "\(name) looks like a trace: \(s.output)")
        }

        // Killed with SIGKILL: down still removes every namespace, process, port and file.
        XCTAssertTrue(r.step("status-after-kill").output.contains("the scripts/lab that made it is gone"), r.output)
        XCTAssertEqual(r.step("down").status, 0, r.step("down").output)
        XCTAssertEqual(r.step("left-behind").output, "", "scripts/lab down left these behind")
    }

    /// What is run in the sandbox. The lab runs in the foreground mode a user starts
    /// (with checks every second, `--fast`), its output in a file the steps read.
    static let script = #"""
        cd "$REPO"
        step install env PROXYD_BIN_DIR="$BIN" scripts/install
        step installed-is-this-build cmp "$BIN/proxyd" /usr/local/sbin/proxyd
        export LAB_SKIP_BUILD=1 HOME=/tmp/home
        scripts/lab --fast > /tmp/lab.out 2>&1 &
        lab=$!
        # Bounded: the walk takes ~40 s here; its own waits are bounded by the configs.
        for _ in $(seq 360); do
          grep -q 'until you press Ctrl-C' /tmp/lab.out && break
          kill -0 $lab 2>/dev/null || break
          sleep 0.5
        done
        step walk cat /tmp/lab.out
        step help-first-command scripts/lab exec client curl -s --max-time 3 http://10.77.0.6:8080/healthz
        step status scripts/lab status
        step exec scripts/lab exec mylb1 ip -4 addr show eth0
        step exec-status scripts/lab exec mylb1 sh -c 'exit 3'
        step shell sh -c 'echo "echo I am \$(hostname)" | scripts/lab shell mylb2'
        step use scripts/lab use ssl-termination
        step https-28443 curl -sk --max-time 3 https://127.0.0.1:28443/healthz
        step https-29443 curl -sk --max-time 3 https://127.0.0.1:29443/healthz
        step use-normal scripts/lab use normal
        step web1-18080 curl -s --max-time 3 http://127.0.0.1:18080/healthz
        step web2-19443 curl -sk --max-time 3 https://127.0.0.1:19443/healthz
        step stats-28090 curl -s --max-time 3 -u haproxy:passw0rd http://127.0.0.1:28090/haproxy/stats
        step stats-29090 curl -s --max-time 3 -u haproxy:passw0rd http://127.0.0.1:29090/haproxy/stats
        step stats-no-auth curl -s --max-time 3 -o /dev/null -w '%{http_code}' http://127.0.0.1:28090/haproxy/stats
        step screenshot timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
          --user-data-dir=/tmp/chromium --window-size=1400,700 --screenshot=/tmp/stats.png \
          'http://haproxy:passw0rd@127.0.0.1:28090/haproxy/stats'
        step screenshot-png sh -c 'printf "%s %s" "$(head -c 8 /tmp/stats.png | od -An -tx1 | tr -d " \n")" "$(stat -c %s /tmp/stats.png)"'
        step bad-node scripts/lab exec mylb3 true
        step bad-setup scripts/lab use tls
        step bad-command scripts/lab frob
        step second-lab scripts/lab --check
        kill -KILL $lab
        step status-after-kill scripts/lab status
        step down scripts/lab down
        step left-behind sh -c 'ip netns list; ls /etc/netns /run/proxyd-lab /run/proxyd.d 2>/dev/null | grep lab;
                                ss -Hltn; ps -eo comm= | grep -x -e socat -e nginx -e vrrpd -e proxyd -e sleep;
                                findmnt -rn -o TARGET | grep -e /run/netns/lab- -e proxyd-lab'
        step status-after-down scripts/lab status
        """#

    /// The files a test must never change: the daemons and init scripts installed on the
    /// machine, and the lab's namespaces (none of which must leak out of the sandbox).
    private func installedSystem() throws -> String {
        let r = try Sandbox.runProcess("/bin/sh", ["-c", "sha256sum /usr/local/sbin/* /etc/init.d/* 2>&1; ip netns list | grep '^lab-'; ls -d /etc/netns/lab-* /run/proxyd-lab 2>/dev/null"],
                                       timeout: 30)
        return r.output
    }
}
