import XCTest
import Foundation
@testable import VRRPCore

/// vrrpd beside Debian's keepalived 2.2.7 in the same namespaces, in both roles, with
/// VRRPv2 (the lab's timers) and VRRPv3 (0.1 s): one master, failover both ways.
final class KeepalivedInteropTests: XCTestCase {
    var lab: Lab?

    override func setUpWithError() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/keepalived") else {
            throw XCTSkip("keepalived is not installed (scripts/install-deps installs it)")
        }
    }

    override func tearDown() {
        lab?.tearDown(keepLogsOnFailure: (testRun?.failureCount ?? 0) > 0)
        lab = nil
    }

    func keepalivedState(_ key: String) -> String? {
        let log = lab!.log(key)
        var last: String?
        for line in log.split(separator: "\n") {
            if line.contains("(VI_1) Entering MASTER STATE") { last = "MASTER" }
            if line.contains("(VI_1) Entering BACKUP STATE") { last = "BACKUP" }
        }
        return last
    }

    /// vrrpd master (v2, advert 1 s, as the lab), keepalived backup: elect, clean stop,
    /// preempt back, SIGKILL.
    func testV2VrrpdMasterKeepalivedBackup() throws {
        let lab = try Lab(hosts: ["a", "b"])
        self.lab = lab
        let confA = Lab.v2(Lab.instanceConfig(state: "MASTER", priority: 150, advert: "1"))
        try lab.startVrrpd("vrrpd", on: "a", config: confA)
        try lab.startKeepalived("ka", on: "b", config: Lab.v2(Lab.instanceConfig(priority: 100, advert: "1")))
        XCTAssertNotNil(lab.waitUntil(8) { lab.vipHolders() == ["a"] }, "vrrpd never became master")
        XCTAssertNotNil(lab.waitUntil(3) { self.keepalivedState("ka") == "BACKUP" })
        usleep(1_500_000)
        XCTAssertEqual(lab.vipHolders(), ["a"])
        XCTAssertEqual(keepalivedState("ka"), "BACKUP")
        XCTAssertEqual(lab.instance("vrrpd", on: "a")["adverts_received"] as? Int, 0, "a backup keepalived sends nothing")

        lab.signal("vrrpd", SIGTERM)
        let took = lab.waitUntil(4) { lab.hasVIP("b") }
        XCTAssertNotNil(took)
        XCTAssertLessThan(took ?? 99, 1.6, "keepalived should take over after the skew (0.61 s), not Master_Down_Interval")
        XCTAssertTrue(lab.log("ka").contains("(VI_1) Backup received priority 0 advertisement"))
        lab.stop("vrrpd")
        XCTAssertFalse(lab.hasVIP("a"))

        try lab.startVrrpd("vrrpd2", on: "a", config: confA)
        XCTAssertNotNil(lab.waitUntil(8) { lab.vipHolders() == ["a"] }, "vrrpd did not preempt keepalived")
        XCTAssertNotNil(lab.waitUntil(2) { self.keepalivedState("ka") == "BACKUP" })

        usleep(1_200_000)
        lab.crashVrrpd("vrrpd2")
        let killed = lab.waitUntil(6) { lab.hasVIP("b") }
        XCTAssertNotNil(killed)
        XCTAssertLessThan(killed ?? 99, 3.61 + 0.6)
    }

    /// keepalived master, vrrpd backup (v2 with PASS authentication): vrrpd follows it,
    /// takes over on its clean stop, and yields when it comes back.
    func testV2KeepalivedMasterVrrpdBackupWithAuth() throws {
        let lab = try Lab(hosts: ["a", "b"])
        self.lab = lab
        let auth = "  authentication {\n    auth_type PASS\n    auth_pass s3cret\n  }"
        let confKA = Lab.v2(Lab.instanceConfig(state: "MASTER", priority: 150, advert: "1", extra: auth))
        try lab.startKeepalived("ka", on: "a", config: confKA)
        try lab.startVrrpd("vrrpd", on: "b", config: Lab.v2(Lab.instanceConfig(priority: 100, advert: "1", extra: auth)))
        XCTAssertNotNil(lab.waitUntil(8) { lab.vipHolders() == ["a"] }, "keepalived never became master")
        usleep(1_500_000)
        XCTAssertEqual(lab.vipHolders(), ["a"])
        let b = lab.instance("vrrpd", on: "b")
        XCTAssertEqual(b["state"] as? String, "BACKUP")
        XCTAssertEqual(b["master"] as? String, lab.address("a"))
        XCTAssertGreaterThan(b["adverts_received"] as? Int ?? 0, 0)
        XCTAssertEqual((b["drops"] as? [String: Int])?.values.reduce(0, +), 0, "keepalived's adverts must all validate")

        lab.signal("ka", SIGTERM)
        let took = lab.waitUntil(4) { lab.hasVIP("b") }
        XCTAssertNotNil(took)
        XCTAssertLessThan(took ?? 99, 1.6)
        XCTAssertTrue(lab.log("vrrpd").contains("(VI_1) Backup received priority 0 advertisement"))
        lab.stop("ka")

        try lab.startKeepalived("ka2", on: "a", config: confKA)
        XCTAssertNotNil(lab.waitUntil(8) { lab.vipHolders() == ["a"] }, "keepalived did not take its VIP back from vrrpd")
        XCTAssertEqual(lab.state("vrrpd", on: "b"), "BACKUP")
    }

    /// VRRPv3 at 0.1 s: vrrpd master then keepalived preempting it; SIGKILL each way.
    /// Every packet on the wire is checked by Wireshark's dissector when tshark is there.
    func testV3BothRolesAndSigkillEachWay() throws {
        let lab = try Lab(hosts: ["a", "b"])
        self.lab = lab
        let pcap = lab.path("v3.pcap")
        let hasTshark = FileManager.default.isExecutableFile(atPath: "/usr/bin/tshark")
        if hasTshark {
            try lab.start("tcpdump", on: "b", ["/usr/bin/tcpdump", "-i", "eth0", "-U", "--immediate-mode", "-w", pcap, "ip proto 112"])
            usleep(300_000)
        }
        try lab.startVrrpd("vrrpd", on: "a", config: Lab.v3(Lab.instanceConfig(priority: 150, advert: "0.1")))
        try lab.startKeepalived("ka", on: "b", config: Lab.v3(Lab.instanceConfig(priority: 100, advert: "0.1")))
        XCTAssertNotNil(lab.waitUntil(4) { lab.vipHolders() == ["a"] })
        usleep(800_000)
        XCTAssertEqual(lab.vipHolders(), ["a"])
        XCTAssertEqual(keepalivedState("ka"), "BACKUP")

        // vrrpd killed: keepalived waits Master_Down_Interval (0.3 + 0.061 s).
        lab.crashVrrpd("vrrpd")
        let t1 = lab.waitUntil(3) { lab.hasVIP("b") }
        XCTAssertNotNil(t1)
        XCTAssertLessThan(t1 ?? 99, 0.361 + 0.5)
        _ = Lab.sh("ip -n \(lab.ns("a")) addr del \(Lab.vip)/24 dev eth0")

        // vrrpd back as the lower one: keepalived stays master, vrrpd backs it up.
        try lab.startVrrpd("vrrpd2", on: "a", config: Lab.v3(Lab.instanceConfig(priority: 50, advert: "0.1")))
        XCTAssertNotNil(lab.waitUntil(3) { lab.state("vrrpd2", on: "a") == "BACKUP" })
        usleep(800_000)
        XCTAssertEqual(lab.vipHolders(), ["b"])
        XCTAssertEqual(lab.instance("vrrpd2", on: "a")["master"] as? String, lab.address("b"))
        XCTAssertEqual((lab.instance("vrrpd2", on: "a")["drops"] as? [String: Int])?.values.reduce(0, +), 0)

        // keepalived killed: vrrpd (priority 50) waits 0.3 + 0.081 s.
        lab.killKeepalived("ka")
        let t2 = lab.waitUntil(3) { lab.hasVIP("a") }
        XCTAssertNotNil(t2)
        XCTAssertLessThan(t2 ?? 99, 0.381 + 0.5)
        XCTAssertFalse(lab.log("vrrpd2").contains("Backup received priority 0 advertisement"),
                       "keepalived was not killed: it said goodbye")

        if hasTshark {
            usleep(300_000)
            lab.stop("tcpdump")
            let r = Lab.sh("tshark -r \(pcap) -Y vrrp -T fields -e ip.src -e vrrp.checksum.status -e ip.ttl -e vrrp.version 2>/dev/null | sort | uniq -c")
            let lines = r.out.split(separator: "\n").map { $0.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init) }
            XCTAssertTrue(lines.contains { $0.count == 5 && $0[1] == lab.address("a") }, "no vrrpd packets captured: \(r.out)")
            XCTAssertTrue(lines.contains { $0.count == 5 && $0[1] == lab.address("b") }, "no keepalived packets captured: \(r.out)")
            for l in lines where l.count == 5 {
                XCTAssertEqual(l[2], "1", "bad checksum per Wireshark: \(l)")
                XCTAssertEqual(l[3], "255", "TTL: \(l)")
                XCTAssertEqual(l[4], "3")
            }
        }
    }

    /// Unicast (v3, 0.1 s): vrrpd and keepalived advertise to each other's address; the
    /// v3 checksum then covers the unicast destination in the pseudo-header.
    func testV3UnicastPeers() throws {
        let lab = try Lab(hosts: ["a", "b"])
        self.lab = lab
        func conf(_ me: String, _ peer: String, _ prio: Int) -> String {
            Lab.v3(Lab.instanceConfig(priority: prio, advert: "0.1", extra: """
              unicast_src_ip \(lab.address(me))
              unicast_peer {
                \(lab.address(peer))
              }
            """))
        }
        try lab.startVrrpd("vrrpd", on: "a", config: conf("a", "b", 150))
        try lab.startKeepalived("ka", on: "b", config: conf("b", "a", 100))
        XCTAssertNotNil(lab.waitUntil(4) { lab.vipHolders() == ["a"] })
        usleep(800_000)
        XCTAssertEqual(lab.vipHolders(), ["a"])
        XCTAssertEqual(keepalivedState("ka"), "BACKUP")
        lab.crashVrrpd("vrrpd")
        XCTAssertNotNil(lab.waitUntil(3) { lab.hasVIP("b") }, "keepalived did not take over")
        _ = Lab.sh("ip -n \(lab.ns("a")) addr del \(Lab.vip)/24 dev eth0")
        // And the other way: keepalived master, vrrpd backup hears it over unicast.
        try lab.startVrrpd("vrrpd2", on: "a", config: conf("a", "b", 50))
        XCTAssertNotNil(lab.waitUntil(3) { lab.state("vrrpd2", on: "a") == "BACKUP" })
        usleep(800_000)
        let i = lab.instance("vrrpd2", on: "a")
        XCTAssertEqual(i["master"] as? String, lab.address("b"))
        XCTAssertGreaterThan(i["adverts_received"] as? Int ?? 0, 3)
        XCTAssertEqual((i["drops"] as? [String: Int])?.values.reduce(0, +), 0)
        XCTAssertEqual(lab.vipHolders(), ["b"])
    }
}
