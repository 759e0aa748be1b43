import XCTest
import Foundation
@testable import VRRPCore

/// vrrpd's two processes (supervisor in -p, VRRP child in -r) with the lab's timers: VRRPv2,
/// advert_int 1, priorities 101/100, so the backup's skew time is 156/256 = 0.609 s. A
/// client in its own namespace connects to the VIP every ~5 ms; both load balancers'
/// addresses are sampled every ~10 ms.
final class SupervisorSystemTests: XCTestCase {
    var lab: Lab?
    var client: VIPClient?
    var servers: NameServers?

    override func tearDown() {
        client?.stop()
        client = nil
        servers?.stop()
        servers = nil
        lab?.tearDown(keepLogsOnFailure: (testRun?.failureCount ?? 0) > 0)
        lab = nil
    }

    static let masterConf = Lab.v2(Lab.instanceConfig(state: "MASTER", priority: 101, advert: "1"))
    static let backupConf = Lab.v2(Lab.instanceConfig(priority: 100, advert: "1"))

    /// a master, b backup, name servers on both, the client answered by a.
    func startPair() throws -> (Lab, VIPWatcher) {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/socat") else { throw XCTSkip("socat not installed (the query socket is read with it)") }
        let lab = try Lab(hosts: ["a", "b", "c"])
        self.lab = lab
        servers = try NameServers(lab, hosts: ["a", "b"])
        // -r as the lab passes it (an older vrrpd wrote its own pid there).
        try lab.startVrrpd("a", on: "a", config: Self.masterConf, extra: ["-r", lab.path("a-vrrp.pid")])
        try lab.startVrrpd("b", on: "b", config: Self.backupConf)
        let watcher = try VIPWatcher(lab, hosts: ["a", "b"])
        XCTAssertNotNil(lab.waitUntil(8) { watcher.holders() == ["a"] }, "a never became the only VIP holder")
        XCTAssertNotNil(lab.waitUntil(3) { lab.instance("b", on: "b")["master"] as? String == lab.address("a") },
                        "b never heard a as master")
        let client = VIPClient()
        self.client = client
        client.start(in: lab.ns("c"))
        XCTAssertNotNil(lab.waitUntil(3) { client.firstAnswer("a", after: 0) != nil }, "the client never reached a through the VIP")
        return (lab, watcher)
    }

    /// VIP off the old holder within one advert interval, the backup holding it and serving
    /// the client within 0.7 s (its skew time is 0.609 s), never both for more than 0.1 s.
    func assertFailover(_ t: VIPTimeline, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertLessThan(t.left ?? 99, 1.0, "\(what): VIP left the master after \(t.left.map { "\($0) s" } ?? "never") (limit 1 s); \(t)", file: file, line: line)
        XCTAssertLessThan(t.taken ?? 99, 0.7, "\(what): backup held the VIP after \(t.taken.map { "\($0) s" } ?? "never") (limit 0.7 s); \(t)", file: file, line: line)
        XCTAssertLessThanOrEqual(t.longestDouble, 0.1, "\(what): both held the VIP for \(t.longestDouble) s (limit 0.1 s); \(t)", file: file, line: line)
        XCTAssertLessThan(t.served ?? 99, 0.7, "\(what): the client was first answered by the backup after \(t.served.map { "\($0) s" } ?? "never") (limit 0.7 s); \(t)", file: file, line: line)
        print("\(what): \(t)")
    }

    func testSigkillOfTheSupervisorMakesTheChildReleaseTheVIPAtOnce() throws {
        let (lab, watcher) = try startPair()
        let supervisor = try XCTUnwrap(PidFile.read(lab.path("a.pid")))
        XCTAssertEqual(supervisor, lab.processes["a"]?.processIdentifier, "-p must name the supervisor")
        let child = lab.vrrpChildPid("a") ?? 0

        let t0 = Monotonic.seconds()
        kill(supervisor, SIGKILL)
        let t = VIPTimeline.record(watcher, client: client, from: "a", to: "b", start: t0, until: 1.5)
        assertFailover(t, "supervisor SIGKILLed")
        XCTAssertNotEqual(child, supervisor, "-r names the supervisor, not a VRRP child")
        XCTAssertNotNil(lab.waitUntil(3) { !Lab.isVrrpd(child) }, "the orphaned VRRP child did not stop")
        XCTAssertTrue(lab.log("a").contains("(VI_1) sent 0 priority"), "the child did not say goodbye")
        XCTAssertTrue(lab.log("b").contains("(VI_1) Backup received priority 0 advertisement"))
        XCTAssertNil(lab.vrrpChildPid("a"), "the child left its pid file")
        XCTAssertEqual(watcher.holders(), ["b"])
    }

    func testSigkillOfTheVRRPChildIsReleasedBySupervisorAndRespawned() throws {
        let (lab, watcher) = try startPair()
        let supervisor = try XCTUnwrap(lab.processes["a"]?.processIdentifier)
        let child = try XCTUnwrap(lab.vrrpChildPid("a"), "no VRRP child pid file")

        let t0 = Monotonic.seconds()
        kill(child, SIGKILL)
        let t = VIPTimeline.record(watcher, client: client, from: "a", to: "b", start: t0, until: 1.5)
        assertFailover(t, "VRRP child SIGKILLed")
        XCTAssertNotEqual(child, supervisor, "-r names the supervisor, not a VRRP child")
        let log = lab.log("a")
        XCTAssertTrue(log.contains("VRRP child process(\(child)) was killed by signal 9 without being asked to stop"), log)
        XCTAssertTrue(log.contains("(VI_1) sent 0 priority to 224.0.0.18 for the dead VRRP child"), log)

        var respawned: pid_t?
        XCTAssertNotNil(lab.waitUntil(3) {
            respawned = lab.vrrpChildPid("a")
            return respawned.map { $0 != child && Lab.isVrrpd($0) && Lab.parent(of: $0) == supervisor } ?? false
        }, "no new VRRP child in the -r file (it holds \(respawned.map(String.init) ?? "nothing"))")
        XCTAssertTrue(Lab.isVrrpd(supervisor))
        XCTAssertTrue(lab.log("a").contains("Starting VRRP child process, pid=\(respawned ?? 0)"))
        // The query socket is the new child's (put in place by rename over the dead one's).
        XCTAssertEqual(lab.queryJSON("a", on: "a")["pid"] as? Int, respawned.map(Int.init))

        // The new child starts as BACKUP and, with the higher priority, preempts after
        // Master_Down_Interval (3.61 s): a handover with no double holding either.
        let back = VIPTimeline.record(watcher, client: nil, from: "b", to: "a", start: t0, until: 6.5)
        print("respawned child preempting back: \(back)")
        XCTAssertNotNil(back.taken, "the respawned child never took the VIP back: \(back)")
        XCTAssertLessThanOrEqual(back.longestDouble, 0.1, "preempting back: both held the VIP for \(back.longestDouble) s (limit 0.1 s); \(back)")
        XCTAssertEqual(lab.state("a", on: "a"), "MASTER")
        let entered = lab.log("a").components(separatedBy: "(VI_1) Entering BACKUP STATE").count - 1
        XCTAssertGreaterThanOrEqual(entered, 2, "the respawned child did not start as BACKUP")
    }

    /// A SIGHUP with a trap in the file (a `""` VIP used to crash the parser, killing the
    /// master and leaving its VIP): refused, the running configuration kept, no failover.
    func testSighupWithABrokenConfigIsRefusedAndTheMasterStays() throws {
        let (lab, watcher) = try startPair()
        let child = lab.vrrpChildPid("a") ?? 0
        let broken = Lab.v2(Lab.instanceConfig(state: "MASTER", priority: 101, advert: "1", vip: "\(Lab.vip)/24\n    \"\""))
        let conf = lab.write("a.conf", broken)
        let badLine = (broken.components(separatedBy: "\n").firstIndex { $0.trimmingCharacters(in: .whitespaces) == "\"\"" } ?? -1) + 1
        let error = "(\(conf): Line \(badLine)) VRRP parsed invalid IP \"\" (an empty string). skipping IP..."

        let t0 = Monotonic.seconds()
        lab.signal("a", SIGHUP)
        XCTAssertNotNil(lab.waitUntil(3) { lab.log("a").contains("Reload failed: configuration has errors - keeping the running configuration") },
                        "no refusal logged")
        let t = VIPTimeline.record(watcher, client: nil, from: "a", to: "b", start: t0, until: 4.5)
        XCTAssertNil(t.left, "a lost the VIP after a refused reload: \(t)")
        XCTAssertNil(t.taken, "b took the VIP after a refused reload: \(t)")
        XCTAssertTrue(lab.log("a").contains(error), "the error with file:line is not in the log")
        XCTAssertEqual(lab.vrrpChildPid("a"), child, "the VRRP child changed: it died on the reload")
        XCTAssertTrue(Lab.isVrrpd(child))
        XCTAssertEqual(lab.state("a", on: "a"), "MASTER")
        XCTAssertEqual(lab.state("b", on: "b"), "BACKUP")

        let check = Lab.sh("\(Lab.vrrpd!) -t -f \(conf)")
        XCTAssertEqual(check.status, 5, "vrrpd -t exit status \(check.status) (expected 5): \(check.out)")
        XCTAssertTrue(check.out.contains(error), check.out)
    }

    /// Without --dont-fork: the daemon detaches, -p names the supervisor and -r the child;
    /// SIGTERM to the supervisor stops both, and each removes its own pid file.
    func testForkedDaemonWritesBothPidFilesAndStopsCleanly() throws {
        let lab = try Lab(hosts: ["a"])
        self.lab = lab
        let conf = lab.write("a.conf", Lab.v3(Lab.instanceConfig(priority: 100, advert: "0.1")))
        // -r not given: the child's pid file is derived from -p.
        let main = lab.path("main.pid"), vrrp = lab.path("main-vrrp.pid"), sock = lab.path("q.sock")
        try lab.start("a", on: "a", [Lab.vrrpd!, "-l", "--no-syslog", "-f", conf, "-p", main, "--query-socket", sock])
        XCTAssertNotNil(lab.waitUntil(3) { lab.processes["a"]?.isRunning == false }, "the starting process did not detach")
        if lab.processes["a"]?.isRunning == false { XCTAssertEqual(lab.processes["a"]?.terminationStatus, 0) }
        var supervisor: pid_t?, child: pid_t?
        XCTAssertNotNil(lab.waitUntil(3) {
            supervisor = PidFile.read(main); child = PidFile.read(vrrp)
            return supervisor.map(Lab.isVrrpd) == true && child.map(Lab.isVrrpd) == true
        }, "pid files: main \(String(describing: supervisor)), child \(String(describing: child))")
        XCTAssertNotEqual(supervisor, child)
        XCTAssertEqual(child.flatMap(Lab.parent(of:)), supervisor, "-r must name the supervisor's child")
        XCTAssertNotNil(lab.waitUntil(3) { lab.hasVIP("a") })

        kill(supervisor ?? 0, SIGTERM)
        XCTAssertNotNil(lab.waitUntil(3) { !Lab.isVrrpd(supervisor ?? 0) && !Lab.isVrrpd(child ?? 0) }, "the two processes did not stop")
        XCTAssertFalse(lab.hasVIP("a"), "the VIP stayed after a clean stop")
        XCTAssertFalse(FileManager.default.fileExists(atPath: main), "the supervisor left its pid file")
        XCTAssertFalse(FileManager.default.fileExists(atPath: vrrp), "the child left its pid file")
        XCTAssertFalse(FileManager.default.fileExists(atPath: sock), "the child left its query socket")
        XCTAssertTrue(lab.log("a").contains("Stopped vrrpd v"))
    }
}
