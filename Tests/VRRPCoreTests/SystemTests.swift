import XCTest
import Foundation
@testable import VRRPCore

/// vrrpd against vrrpd in network namespaces, with VRRPv3 timers short enough for CI.
final class VrrpdSystemTests: XCTestCase {
    var lab: Lab?

    override func tearDown() {
        lab?.tearDown(keepLogsOnFailure: (testRun?.failureCount ?? 0) > 0)
        lab = nil
    }

    func testTwoVrrpdElectOneMasterAndCleanStopFailsOverWithinSkew() throws {
        let lab = try Lab(hosts: ["a", "b"])
        self.lab = lab
        // advert 0.5 s: skew of priority 100 is 0.30 s, Master_Down_Interval 1.80 s.
        try lab.startVrrpd("a", on: "a", config: Lab.v3(Lab.instanceConfig(state: "MASTER", priority: 150, advert: "0.5")))
        try lab.startVrrpd("b", on: "b", config: Lab.v3(Lab.instanceConfig(priority: 100, advert: "0.5")))
        XCTAssertNotNil(lab.waitUntil(5) { lab.vipHolders() == ["a"] }, "a never became the only VIP holder")
        usleep(1_200_000)
        XCTAssertEqual(lab.vipHolders(), ["a"])
        XCTAssertEqual(lab.state("a", on: "a"), "MASTER")
        XCTAssertEqual(lab.state("b", on: "b"), "BACKUP")
        XCTAssertEqual(lab.instance("b", on: "b")["master"] as? String, lab.address("a"))
        XCTAssertTrue(lab.log("a").contains("(VI_1) Entering MASTER STATE"))
        XCTAssertTrue(lab.log("b").contains("(VI_1) Entering BACKUP STATE"))

        lab.signal("a", SIGTERM)
        let took = lab.waitUntil(3) { lab.hasVIP("b") }
        XCTAssertNotNil(took, "b never took over after a stopped")
        // Priority 0 from the stopping master: the skew (0.30 s) alone, far below 1.8 s.
        XCTAssertLessThan(took ?? 99, 1.0)
        XCTAssertNotNil(lab.waitUntil(2) { !lab.hasVIP("a") }, "a left its VIP behind on a clean stop")
        lab.stop("a")
        XCTAssertTrue(lab.log("a").contains("(VI_1) sent 0 priority"))
        XCTAssertTrue(lab.log("b").contains("(VI_1) Backup received priority 0 advertisement"))
        XCTAssertEqual(lab.state("b", on: "b"), "MASTER")
    }

    func testSigkillFailsOverWithinMasterDownIntervalAndRestartPreempts() throws {
        let lab = try Lab(hosts: ["a", "b"])
        self.lab = lab
        // advert 0.2 s: b's Master_Down_Interval is 0.6 + (156 * 0.2 / 256) = 0.72 s.
        let confA = Lab.v3(Lab.instanceConfig(priority: 150, advert: "0.2"))
        try lab.startVrrpd("a", on: "a", config: confA)
        try lab.startVrrpd("b", on: "b", config: Lab.v3(Lab.instanceConfig(priority: 100, advert: "0.2")))
        XCTAssertNotNil(lab.waitUntil(4) { lab.vipHolders() == ["a"] })
        usleep(600_000)
        // The whole node's VRRP dies (supervisor and child): nobody says goodbye.
        lab.crashVrrpd("a")
        let took = lab.waitUntil(3) { lab.hasVIP("b") }
        XCTAssertNotNil(took)
        XCTAssertLessThan(took ?? 99, 0.72 + 0.4, "slower than Master_Down_Interval")
        XCTAssertGreaterThan(took ?? 0, 0.72 - 0.2 - 0.1, "faster than the RFC allows: the backup did not wait")
        XCTAssertTrue(lab.hasVIP("a"), "a crash cannot remove the VIP: it is stale on a")

        // a comes back: it removes its stale VIP, then preempts b (higher priority).
        try lab.startVrrpd("a2", on: "a", config: confA)
        XCTAssertNotNil(lab.waitUntil(5) { lab.vipHolders() == ["a"] }, "a did not preempt b")
        XCTAssertTrue(lab.log("a2").contains("removed stale VIP \(Lab.vip)"))
        XCTAssertTrue(lab.log("b").contains("Master received advert from \(lab.address("a")) with higher priority 150, ours 100"))
        XCTAssertEqual(lab.state("b", on: "b"), "BACKUP")
    }

    func testNopreemptKeepsTheLowerMaster() throws {
        let lab = try Lab(hosts: ["a", "b"])
        self.lab = lab
        try lab.startVrrpd("b", on: "b", config: Lab.v3(Lab.instanceConfig(priority: 100, advert: "0.1")))
        XCTAssertNotNil(lab.waitUntil(3) { lab.vipHolders() == ["b"] })
        try lab.startVrrpd("a", on: "a", config: Lab.v3(Lab.instanceConfig(priority: 150, advert: "0.1", extra: "  nopreempt")))
        XCTAssertNotNil(lab.waitUntil(3) { lab.state("a", on: "a") == "BACKUP" })
        usleep(1_500_000) // about four Master_Down_Intervals
        XCTAssertEqual(lab.vipHolders(), ["b"], "nopreempt: a must not take over from a live master")
        XCTAssertEqual(lab.state("a", on: "a"), "BACKUP")
        // With preemption (the default) the same start takes over.
        lab.stop("a")
        try lab.startVrrpd("a2", on: "a", config: Lab.v3(Lab.instanceConfig(priority: 150, advert: "0.1")))
        XCTAssertNotNil(lab.waitUntil(3) { lab.vipHolders() == ["a"] }, "preempt: a should take over")
    }

    func testFailingTrackScriptMovesTheVIPByWeight() throws {
        let lab = try Lab(hosts: ["a", "b"])
        self.lab = lab
        let flag = lab.path("proxy-ok")
        _ = FileManager.default.createFile(atPath: flag, contents: nil)
        let scriptA = """
        vrrp_script chk_proxy {
          script "/bin/sh -c 'test -e \(flag)'"
          interval 0.2
          weight 20
        }
        vrrp_script chk_missing {
          script "/nonexistent/chk"
          interval 1
          weight -1
        }

        """ + Lab.instanceConfig(priority: 100, advert: "0.1", extra: "  track_script {\n    chk_proxy\n    chk_missing\n  }")
        try lab.startVrrpd("a", on: "a", config: Lab.v3(scriptA))
        try lab.startVrrpd("b", on: "b", config: Lab.v3(Lab.instanceConfig(priority: 110, advert: "0.1")))
        // a: 100 + 20 - 1 = 119 > 110.
        XCTAssertNotNil(lab.waitUntil(4) { lab.vipHolders() == ["a"] })
        XCTAssertEqual(lab.instance("a", on: "a")["priority"] as? Int, 119)
        let scripts = lab.instance("a", on: "a")["scripts"] as? [[String: Any]] ?? []
        XCTAssertEqual(scripts.first { $0["name"] as? String == "chk_proxy" }?["status"] as? String, "GOOD")
        XCTAssertEqual(scripts.first { $0["name"] as? String == "chk_missing" }?["status"] as? String, "BAD")
        XCTAssertTrue(lab.log("a").contains("VRRP_Script(chk_missing) cannot run: script '/nonexistent/chk' not found"))

        try FileManager.default.removeItem(atPath: flag)
        let moved = lab.waitUntil(4) { lab.vipHolders() == ["b"] }
        XCTAssertNotNil(moved, "the VIP did not move when a's script failed")
        XCTAssertLessThan(moved ?? 99, 0.2 + 0.34 + 0.6)
        XCTAssertEqual(lab.instance("a", on: "a")["priority"] as? Int, 99)
        XCTAssertTrue(lab.log("a").contains("VRRP_Script(chk_proxy) failed (exited with status 1)"))

        _ = FileManager.default.createFile(atPath: flag, contents: nil)
        XCTAssertNotNil(lab.waitUntil(4) { lab.vipHolders() == ["a"] }, "the VIP did not come back when the script recovered")
        XCTAssertTrue(lab.log("a").contains("VRRP_Script(chk_proxy) succeeded"))
    }

    func testScriptTimeoutKillsTheScriptAndCountsAsFailure() throws {
        let lab = try Lab(hosts: ["a"])
        self.lab = lab
        let conf = """
        vrrp_script slow {
          script "/bin/sleep 30"
          interval 0.3
          timeout 0.2
          weight -50
        }

        """ + Lab.instanceConfig(priority: 100, advert: "0.1", extra: "  track_script {\n    slow\n  }")
        try lab.startVrrpd("a", on: "a", config: Lab.v3(conf))
        XCTAssertNotNil(lab.waitUntil(3) { lab.instance("a", on: "a")["priority"] as? Int == 50 })
        XCTAssertTrue(lab.log("a").contains("VRRP_Script(slow) timed out"))
        // The killed runs are gone: no pile of sleeping children.
        let sleeping = Lab.sh("ip netns pids \(lab.ns("a")) | xargs -r ps -o comm= -p | grep -c sleep").out
        XCTAssertLessThanOrEqual(Int(sleeping.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0, 1)
    }

    /// Forged and malformed adverts from a third host are dropped, counted by reason, and
    /// change nothing; a well-formed one with a higher priority (the control) does.
    func testMalformedAndForgedPacketsAreDroppedAndCounted() throws {
        let lab = try Lab(hosts: ["a", "b", "c"])
        self.lab = lab
        let auth = "  authentication {\n    auth_type PASS\n    auth_pass secret\n  }"
        try lab.startVrrpd("a", on: "a", config: Lab.v2(Lab.instanceConfig(priority: 200, advert: "1", extra: auth)))
        try lab.startVrrpd("b", on: "b", config: Lab.v2(Lab.instanceConfig(priority: 100, advert: "1", extra: auth)))
        XCTAssertNotNil(lab.waitUntil(6) { lab.vipHolders() == ["a"] })
        let c = IPv4Address(lab.address("c"))!
        let vip = IPv4Address(Lab.vip)!
        func advert(vrid: UInt8 = 51, interval: UInt16 = 1, pass: String = "secret") -> [UInt8] {
            VRRPAdvert(version: 2, vrid: vrid, priority: 254, interval: interval, addresses: [vip],
                       auth: .password(pass)).encode(source: c, destination: .vrrpGroup)
        }
        func inject(_ bytes: [UInt8], ttl: Int = 255) {
            let r = Lab.sh("ip netns exec \(lab.ns("c")) socat -u STDIN IP4-SENDTO:224.0.0.18:112,ip-multicast-ttl=\(ttl),ip-multicast-if=\(lab.address("c"))",
                           input: Data(bytes))
            XCTAssertEqual(r.status, 0, r.out)
        }
        var badSum = advert()
        badSum[7] ^= 0x5a
        inject(advert(), ttl: 64)
        inject(badSum)
        inject(advert(vrid: 52))
        inject(advert(pass: "guess"))
        inject(Array(advert().prefix(6)))
        inject(advert(interval: 3))
        usleep(500_000)
        XCTAssertEqual(lab.vipHolders(), ["a"])
        let ia = lab.instance("a", on: "a")
        XCTAssertEqual(ia["state"] as? String, "MASTER")
        XCTAssertEqual(ia["became_master"] as? Int, 1)
        let drops = ia["drops"] as? [String: Int] ?? [:]
        XCTAssertEqual(drops["bad_ttl"], 1)
        XCTAssertEqual(drops["bad_checksum"], 1)
        XCTAssertEqual(drops["auth_failure"], 1)
        XCTAssertEqual(drops["short"], 1)
        XCTAssertEqual(drops["interval_mismatch"], 1)
        let ifDrops = (lab.queryJSON("a", on: "a")["interface_drops"] as? [String: [String: Int]])?["eth0"] ?? [:]
        XCTAssertEqual(ifDrops["unknown_vrid"], 1)
        XCTAssertTrue(lab.log("a").contains("dropping advert from \(lab.address("c")): bad_ttl"))
        XCTAssertEqual(lab.state("b", on: "b"), "BACKUP")
        // SIGUSR2 writes the counters in keepalived's stats layout.
        lab.signal("a", SIGUSR2)
        XCTAssertNotNil(lab.waitUntil(2) { ((try? String(contentsOfFile: lab.path("a.stats"), encoding: .utf8)) ?? "").contains("TTL: 1") })
        // The control: the same injection path, a valid higher-priority advert, is obeyed.
        inject(advert())
        XCTAssertNotNil(lab.waitUntil(2) { lab.log("a").contains("Master received advert from \(lab.address("c")) with higher priority 254") })
    }

    func testSighupKeepsUnchangedInstancesAndAppliesChanges() throws {
        let lab = try Lab(hosts: ["a", "b"])
        self.lab = lab
        let one = Lab.instanceConfig(priority: 150, advert: "0.1")
        let two = Lab.instanceConfig(name: "VI_2", priority: 150, advert: "0.1", vrid: 52, vip: "10.77.10.101")
        try lab.startVrrpd("a", on: "a", config: Lab.v3(one + two))
        try lab.startVrrpd("b", on: "b", config: Lab.v3(Lab.instanceConfig(priority: 100, advert: "0.1")
                                                       + Lab.instanceConfig(name: "VI_2", priority: 100, advert: "0.1", vrid: 52, vip: "10.77.10.101")))
        XCTAssertNotNil(lab.waitUntil(3) { lab.vipHolders() == ["a"] && lab.vipHolders("10.77.10.101") == ["a"] })
        // VI_2 drops to priority 50 on a; VI_1 is unchanged and must not fail over.
        // A comment shifts VI_1's lines: that is not a change either.
        _ = lab.write("a.conf", "# reloaded\n# with VI_2 lowered\n" + Lab.v3(one + Lab.instanceConfig(name: "VI_2", priority: 50, advert: "0.1", vrid: 52, vip: "10.77.10.101")))
        let before = lab.log("b")
        lab.signal("a", SIGHUP)
        XCTAssertNotNil(lab.waitUntil(3) { lab.vipHolders("10.77.10.101") == ["b"] })
        usleep(500_000)
        XCTAssertEqual(lab.vipHolders(), ["a"], "VI_1 changed hands on a reload that did not touch it")
        XCTAssertFalse(lab.log("b").dropFirst(before.count).contains("(VI_1) Entering MASTER STATE"))
        XCTAssertTrue(lab.log("a").contains("Reload finished: 1 instance(s) kept their state, 1 stayed master with a new configuration, 0 (re)started"))
        // VI_2 was master: it stays master at its new priority 50 (no priority-0 goodbye) and
        // b (100) preempts it by the RFC's rules.
        XCTAssertFalse(lab.log("a").contains("(VI_2) sent 0 priority"))
        XCTAssertTrue(lab.log("b").contains("(VI_2) received lower priority (50) advert from \(lab.address("a")) - discarding"))
        XCTAssertEqual(lab.instance("a", on: "a", "VI_2")["priority"] as? Int, 50)

        // VI_1 changed (priority 150 -> 160) while master: it stays master, no failover.
        let before2 = lab.log("b")
        _ = lab.write("a.conf", Lab.v3(Lab.instanceConfig(priority: 160, advert: "0.1")
                                       + Lab.instanceConfig(name: "VI_2", priority: 50, advert: "0.1", vrid: 52, vip: "10.77.10.101")))
        lab.signal("a", SIGHUP)
        XCTAssertNotNil(lab.waitUntil(3) { lab.instance("a", on: "a")["priority"] as? Int == 160 })
        usleep(600_000)
        XCTAssertEqual(lab.vipHolders(), ["a"])
        XCTAssertEqual(lab.state("a", on: "a"), "MASTER")
        XCTAssertFalse(lab.log("b").dropFirst(before2.count).contains("(VI_1) Entering MASTER STATE"), "reload caused a failover")
        XCTAssertFalse(lab.log("b").dropFirst(before2.count).contains("(VI_1) Backup received priority 0"), "reload said goodbye")
        XCTAssertTrue(lab.log("a").contains("(VI_1) configuration changed - staying master through the reload"))
    }

    func testConfigTestAndNotRootMessages() throws {
        guard let bin = Lab.vrrpd else { throw XCTSkip("vrrpd binary not built") }
        let dir = NSTemporaryDirectory() + "vrrpt-conf-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bad = dir + "/bad.conf"
        try "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 1\n  priorty 100\n}\n".write(toFile: bad, atomically: true, encoding: .utf8)
        let r = Lab.sh("\(bin) -t -f \(bad)")
        XCTAssertEqual(r.status, 5)
        XCTAssertTrue(r.out.contains("(\(bad): Line 4) Unknown keyword 'priorty' - did you mean 'priority'? in vrrp_instance"), r.out)
        let good = dir + "/good.conf"
        try ConfigTests.labMaster.write(toFile: good, atomically: true, encoding: .utf8)
        let g = Lab.sh("\(bin) -t -d -f \(good)")
        XCTAssertEqual(g.status, 0, g.out)
        XCTAssertTrue(g.out.contains(" VRRP Instance = VI_1"))
        // Without the capabilities: a clear error naming them (setpriv drops them all).
        if geteuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") {
            let n = Lab.sh("/usr/bin/setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \(bin) -n --no-syslog -f \(good) -p \(dir)/x.pid --query-socket none")
            XCTAssertNotEqual(n.status, 0)
            XCTAssertTrue(n.out.contains("CAP_NET_RAW") && n.out.contains("CAP_NET_ADMIN"), n.out)
        }
    }

    func testUnicastPeersAndNotifyScripts() throws {
        let lab = try Lab(hosts: ["a", "b"])
        self.lab = lab
        // One file per call: appends from concurrent scripts are not atomic on every /tmp.
        let notes = lab.path("notes")
        try FileManager.default.createDirectory(atPath: notes, withIntermediateDirectories: true)
        let notify = lab.write("notify.sh", "#!/bin/sh\necho \"$*\" > \(notes)/generic-$3\n")
        chmod(notify, 0o755)
        let master = lab.write("master.sh", "#!/bin/sh\necho master-script > \(notes)/master\n")
        chmod(master, 0o755)
        func conf(_ me: String, _ peer: String, _ prio: Int, _ extra: String = "") -> String {
            Lab.v3(Lab.instanceConfig(priority: prio, advert: "0.1", extra: """
              unicast_src_ip \(lab.address(me))
              unicast_peer {
                \(lab.address(peer))
              }
            \(extra)
            """))
        }
        try lab.startVrrpd("a", on: "a", config: conf("a", "b", 150, "  notify \(notify)\n  notify_master \(master)"))
        try lab.startVrrpd("b", on: "b", config: conf("b", "a", 100))
        XCTAssertNotNil(lab.waitUntil(3) { lab.vipHolders() == ["a"] })
        usleep(500_000)
        XCTAssertEqual(lab.state("b", on: "b"), "BACKUP")
        XCTAssertGreaterThan(lab.instance("b", on: "b")["adverts_received"] as? Int ?? 0, 0, "unicast adverts did not arrive")
        lab.stop("a")
        XCTAssertNotNil(lab.waitUntil(2) { lab.hasVIP("b") })
        func note(_ name: String) -> String {
            ((try? String(contentsOfFile: "\(notes)/\(name)", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        }
        lab.waitUntil(2) { !note("generic-STOP").isEmpty }
        // keepalived's arguments: INSTANCE name state priority, after the specific script.
        XCTAssertEqual(note("generic-BACKUP"), "INSTANCE VI_1 BACKUP 150")
        XCTAssertEqual(note("generic-MASTER"), "INSTANCE VI_1 MASTER 150")
        XCTAssertEqual(note("master"), "master-script")
        XCTAssertEqual(note("generic-STOP"), "INSTANCE VI_1 STOP 150")
    }

    /// The shipped track script asks the proxy over its control socket: a socket that
    /// answers `show info` with a Pid line passes; a wrong answer or no socket fails.
    func testShippedTrackScriptProbesTheControlSocket() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/socat") else { throw XCTSkip("socat not installed") }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let script = root.appendingPathComponent("etc/vrrpd/chk_proxyd.sh").path
        let sock = NSTemporaryDirectory() + "vrrpt-chk-\(getpid()).sock"
        defer { unlink(sock) }
        XCTAssertNotEqual(Lab.sh("\(script) \(sock)").status, 0, "no socket must fail")
        for (answer, ok) in [("Name: proxyd\\nPid: 42\\n", true), ("Unknown command\\n", false)] {
            let responder = NSTemporaryDirectory() + "vrrpt-chk-\(getpid()).sh"
            try "#!/bin/sh\nread cmd\nprintf '\(answer)'\n".write(toFile: responder, atomically: true, encoding: .utf8)
            chmod(responder, 0o755)
            defer { unlink(responder) }
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/socat")
            p.arguments = ["UNIX-LISTEN:\(sock),fork", "EXEC:\(responder)"]
            try p.run()
            defer { p.terminate(); p.waitUntilExit(); unlink(sock) }
            for _ in 0..<100 where !FileManager.default.fileExists(atPath: sock) { usleep(10_000) }
            XCTAssertEqual(Lab.sh("\(script) \(sock)").status == 0, ok, answer)
        }
    }

    /// The instance's own interface losing carrier puts it in FAULT (VIP released, the
    /// backup takes over); carrier back, it returns to BACKUP and preempts again.
    func testInterfaceDownMeansFault() throws {
        let lab = try Lab(hosts: ["a", "b"])
        self.lab = lab
        try lab.startVrrpd("a", on: "a", config: Lab.v3(Lab.instanceConfig(priority: 150, advert: "0.1")))
        try lab.startVrrpd("b", on: "b", config: Lab.v3(Lab.instanceConfig(priority: 100, advert: "0.1")))
        XCTAssertNotNil(lab.waitUntil(3) { lab.vipHolders() == ["a"] })
        Lab.sh("ip -n \(lab.ns("br")) link set \(lab.ns("a")) down")
        XCTAssertNotNil(lab.waitUntil(3) { lab.state("a", on: "a") == "FAULT" })
        XCTAssertNotNil(lab.waitUntil(3) { lab.vipHolders() == ["b"] }, "a kept its VIP in FAULT or b did not take over")
        XCTAssertTrue(lab.log("a").contains("(VI_1) Entering FAULT STATE"))
        Lab.sh("ip -n \(lab.ns("br")) link set \(lab.ns("a")) up")
        XCTAssertNotNil(lab.waitUntil(4) { lab.vipHolders() == ["a"] }, "a did not come back from FAULT")
    }

    /// On becoming master the GARPs go out with the first advert (before it, not 2-32 ms
    /// after as keepalived's do), `vrrp_garp_master_repeat` of them, and again after
    /// `vrrp_garp_master_delay`. Also: SIGUSR1's dump and the query socket's text answer.
    func testGratuitousARPsGoOutWithTheFirstAdvertAndRepeat() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/tcpdump") else { throw XCTSkip("tcpdump not installed") }
        let lab = try Lab(hosts: ["a", "b"])
        self.lab = lab
        let pcap = lab.path("garp.pcap")
        try lab.start("tcpdump", on: "b", ["/usr/bin/tcpdump", "-i", "eth0", "-U", "--immediate-mode", "-w", pcap, "arp or ip proto 112"])
        usleep(400_000)
        let conf = "global_defs {\n  vrrp_version 3\n  vrrp_garp_master_delay 1\n  vrrp_garp_master_repeat 3\n}\n"
            + Lab.instanceConfig(priority: 150, advert: "0.1", vip: "\(Lab.vip)/24 brd \(Lab.subnet).255 label eth0:vip")
        try lab.startVrrpd("a", on: "a", config: conf)
        XCTAssertNotNil(lab.waitUntil(3) { lab.hasVIP("a") })
        let shown = Lab.sh("ip -n \(lab.ns("a")) -4 -o addr show dev eth0").out
        XCTAssertTrue(shown.contains("inet \(Lab.vip)/24 brd \(Lab.subnet).255 scope global secondary eth0:vip"), shown)
        usleep(1_600_000)
        lab.stop("tcpdump")
        let lines = Lab.sh("tcpdump -r \(pcap) -tt -nn 2>/dev/null").out.split(separator: "\n")
        func time(_ l: Substring) -> Double { Double(l.split(separator: " ")[0]) ?? 0 }
        let garps = lines.filter { $0.contains("who-has \(Lab.vip) ") && $0.contains("tell \(Lab.vip),") }.map(time)
        let adverts = lines.filter { $0.contains("VRRPv3, Advertisement") }.map(time)
        XCTAssertEqual(garps.count, 6, lines.joined(separator: "\n"))
        guard garps.count == 6, let firstAdvert = adverts.first else { return XCTFail("no GARPs or adverts captured") }
        XCTAssertLessThanOrEqual(garps[2], firstAdvert, "the first burst must not trail the first advert")
        XCTAssertLessThan(firstAdvert - garps[0], 0.005)
        XCTAssertEqual(garps[3] - garps[0], 1.0, accuracy: 0.25)

        lab.signal("a", SIGUSR1)
        XCTAssertNotNil(lab.waitUntil(2) {
            ((try? String(contentsOfFile: lab.path("a.data"), encoding: .utf8)) ?? "").contains("VI_1: state MASTER")
        })
        let data = (try? String(contentsOfFile: lab.path("a.data"), encoding: .utf8)) ?? ""
        XCTAssertTrue(data.contains(" VRRP Instance = VI_1"))
        XCTAssertTrue(data.contains("   Gratuitous ARP repeat = 3"))
        let text = lab.query("a", on: "a", "show")
        XCTAssertTrue(text.contains("VI_1: state MASTER, priority 150 (base 150), master \(lab.address("a")), vrid 51"), text)
        XCTAssertTrue(lab.query("a", on: "a", "bogus").hasPrefix("Unknown command 'bogus'"))
    }

    /// vrrp_sync_group: a member going to FAULT (weight-0 script failing) takes the other
    /// member with it, so both VIPs move together; group notify gets "GROUP name STATE".
    func testSyncGroupMovesTogether() throws {
        let lab = try Lab(hosts: ["a", "b"])
        self.lab = lab
        let flag = lab.path("ok")
        _ = FileManager.default.createFile(atPath: flag, contents: nil)
        let notes = lab.path("group")
        try FileManager.default.createDirectory(atPath: notes, withIntermediateDirectories: true)
        let notify = lab.write("group.sh", "#!/bin/sh\necho \"$*\" > \(notes)/$1-$3\n")
        chmod(notify, 0o755)
        let vip2 = "10.77.10.101"
        func conf(_ prio: Int, script: Bool) -> String {
            var c = script ? "vrrp_script chk {\n  script \"/bin/sh -c 'test -e \(flag)'\"\n  interval 0.2\n}\n" : ""
            c += Lab.instanceConfig(priority: prio, advert: "0.1")
            c += Lab.instanceConfig(name: "VI_2", priority: prio, advert: "0.1", vrid: 52,
                                    extra: script ? "  track_script {\n    chk\n  }" : "", vip: vip2)
            c += "vrrp_sync_group G1 {\n  group {\n    VI_1\n    VI_2\n  }\n  notify \(notify)\n}\n"
            return Lab.v3(c)
        }
        try lab.startVrrpd("a", on: "a", config: conf(150, script: true))
        try lab.startVrrpd("b", on: "b", config: conf(100, script: false))
        XCTAssertNotNil(lab.waitUntil(4) { lab.vipHolders() == ["a"] && lab.vipHolders(vip2) == ["a"] })
        try FileManager.default.removeItem(atPath: flag)
        XCTAssertNotNil(lab.waitUntil(4) { lab.vipHolders() == ["b"] && lab.vipHolders(vip2) == ["b"] },
                        "the group did not move together")
        XCTAssertEqual(lab.state("a", on: "a"), "FAULT")
        XCTAssertEqual(lab.instance("a", on: "a", "VI_2")["state"] as? String, "FAULT")
        _ = FileManager.default.createFile(atPath: flag, contents: nil)
        XCTAssertNotNil(lab.waitUntil(4) { lab.vipHolders() == ["a"] && lab.vipHolders(vip2) == ["a"] })
        func note(_ name: String) -> String {
            ((try? String(contentsOfFile: "\(notes)/\(name)", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        }
        lab.waitUntil(2) { !note("GROUP-FAULT").isEmpty }
        XCTAssertTrue(note("GROUP-MASTER").hasPrefix("GROUP G1 MASTER"))
        XCTAssertTrue(note("GROUP-FAULT").hasPrefix("GROUP G1 FAULT"))
    }

    /// Track scripts run as script_user (here nobody), and vrrp_startup_delay holds the
    /// instances in INIT before they start.
    func testScriptUserAndStartupDelay() throws {
        let lab = try Lab(hosts: ["a"])
        self.lab = lab
        let conf = """
        global_defs {
          vrrp_version 3
          script_user nobody
          vrrp_startup_delay 1
        }
        vrrp_script as_nobody {
          script "/bin/sh -c 'test $(id -u) = 65534'"
          interval 0.2
          weight 20
        }

        """ + Lab.instanceConfig(priority: 100, advert: "0.1", extra: "  track_script {\n    as_nobody\n  }")
        try lab.startVrrpd("a", on: "a", config: conf)
        XCTAssertNotNil(lab.waitUntil(2) { lab.state("a", on: "a") != nil })
        XCTAssertEqual(lab.state("a", on: "a"), "INIT", "vrrp_startup_delay: still waiting")
        XCTAssertFalse(lab.hasVIP("a"))
        XCTAssertNotNil(lab.waitUntil(3) { lab.vipHolders() == ["a"] })
        XCTAssertEqual(lab.instance("a", on: "a")["priority"] as? Int, 120, "the script did not run as nobody")
    }

    /// The query socket defaults to the pid file's path with .sock, and a second daemon
    /// refuses a query socket a live one serves instead of stealing it.
    func testQuerySocketPathFollowsThePidFileAndIsNotStolen() throws {
        let lab = try Lab(hosts: ["a"])
        self.lab = lab
        let conf = lab.write("one.conf", Lab.v3(Lab.instanceConfig(priority: 100, advert: "0.1")))
        try lab.start("one", on: "a", [Lab.vrrpd!, "-n", "-l", "--no-syslog", "-f", conf, "-p", lab.path("lb1.pid")])
        XCTAssertNotNil(lab.waitUntil(3) { FileManager.default.fileExists(atPath: lab.path("lb1.sock")) })
        XCTAssertTrue(Lab.sh("echo show | socat -t 2 stdio UNIX-CONNECT:\(lab.path("lb1.sock"))").out.contains("VI_1: state"))
        let empty = lab.write("two.conf", "global_defs {\n  router_id two\n}\n")
        try lab.start("two", on: "a", [Lab.vrrpd!, "-n", "-l", "--no-syslog", "-f", empty, "-p", lab.path("lb2.pid"),
                                       "--query-socket", lab.path("lb1.sock")])
        XCTAssertNotNil(lab.waitUntil(3) { lab.log("two").contains("is in use by another running vrrpd") }, lab.log("two"))
        lab.stop("two")
        XCTAssertTrue(Lab.sh("echo show | socat -t 2 stdio UNIX-CONNECT:\(lab.path("lb1.sock"))").out.contains("VI_1: state"),
                      "the first daemon lost its query socket")
    }

    /// -S 7 logs to syslog as LOG_LOCAL7 (priority <190> for info), in keepalived's words.
    /// /dev/log is faked in a private mount namespace, so the host's syslog is untouched.
    func testSyslogFacility() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare"),
              FileManager.default.isExecutableFile(atPath: "/usr/bin/socat") else { throw XCTSkip("needs unshare and socat") }
        let lab = try Lab(hosts: ["a"])
        self.lab = lab
        let conf = lab.write("a.conf", Lab.v3(Lab.instanceConfig(priority: 255, advert: "0.1")))
        let dev = lab.path("dev")
        let out = lab.path("syslog.out")
        let script = lab.write("syslog.sh", """
        set -e
        mkdir -p \(dev)
        touch \(dev)/null \(dev)/urandom
        mount --bind /dev/null \(dev)/null
        mount --bind /dev/urandom \(dev)/urandom
        mount --bind \(dev) /dev
        socat -u UNIX-RECV:/dev/log STDOUT > \(out) 2>/dev/null < /dev/null &
        s=$!
        for i in $(seq 1 100); do [ -S /dev/log ] && break; sleep 0.01; done
        ip netns exec \(lab.ns("a")) \(Lab.vrrpd!) -n -S 7 -f \(conf) -p \(lab.path("a.pid")) --query-socket none &
        p=$!
        sleep 1
        kill $p; wait $p || true
        sleep 0.2
        kill $s
        """)
        let r = Lab.sh("unshare -m /bin/bash \(script)")
        XCTAssertEqual(r.status, 0, r.out)
        let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        XCTAssertTrue(text.contains("<190>"), text)
        XCTAssertTrue(text.contains("vrrpd["), text)
        XCTAssertTrue(text.contains("(VI_1) Entering MASTER STATE"), text)
        XCTAssertTrue(text.contains("(VI_1) sent 0 priority"), text)
    }

    /// track_interface with a weight, from netlink link state: a tracked link losing carrier
    /// lowers the priority (the VIP moves), carrier back raises it (the VIP returns).
    func testTrackInterfaceWeight() throws {
        let lab = try Lab(hosts: ["a", "b"])
        self.lab = lab
        let a = lab.ns("a")
        XCTAssertEqual(Lab.sh("ip -n \(a) link add trk0 type veth peer name trk1 && ip -n \(a) link set trk0 up && ip -n \(a) link set trk1 up").status, 0)
        try lab.startVrrpd("a", on: "a", config: Lab.v3(Lab.instanceConfig(priority: 150, advert: "0.1",
                                                                           extra: "  track_interface {\n    trk0 weight -60\n  }")))
        try lab.startVrrpd("b", on: "b", config: Lab.v3(Lab.instanceConfig(priority: 100, advert: "0.1")))
        XCTAssertNotNil(lab.waitUntil(4) { lab.vipHolders() == ["a"] })
        Lab.sh("ip -n \(a) link set trk1 down")
        XCTAssertNotNil(lab.waitUntil(3) { lab.vipHolders() == ["b"] }, "the VIP did not move when trk0 lost carrier")
        XCTAssertEqual(lab.instance("a", on: "a")["priority"] as? Int, 90)
        XCTAssertTrue(lab.query("a", on: "a", "show").contains("interface trk0: DOWN, weight -60"))
        Lab.sh("ip -n \(a) link set trk1 up")
        XCTAssertNotNil(lab.waitUntil(3) { lab.vipHolders() == ["a"] }, "the VIP did not come back with trk0's carrier")
        XCTAssertEqual(lab.instance("a", on: "a")["priority"] as? Int, 150)
    }
}
