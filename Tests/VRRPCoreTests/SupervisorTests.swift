import XCTest
@testable import VRRPCore

/// The supervisor's pure parts: the respawn back-off and the pid file names.
final class SupervisorTests: XCTestCase {
    func supervisor() -> VRRPSupervisor {
        VRRPSupervisor(config: VRRPConfig(), configFile: "/dev/null", vrrpPidFile: nil, log: VRRPLog()) { _ in 0 }
    }

    func testRespawnIsImmediateOnceThenBacksOffWhileTheChildKeepsDyingQuickly() {
        let s = supervisor()
        let quick: Nanos = 2 * .second
        XCTAssertEqual(s.respawnDelay(lived: quick), 0, "the first death after a start respawns at once")
        XCTAssertEqual(s.respawnDelay(lived: quick), 1 * .second)
        XCTAssertEqual(s.respawnDelay(lived: quick), 2 * .second)
        XCTAssertEqual(s.respawnDelay(lived: quick), 4 * .second)
        for _ in 0..<40 { _ = s.respawnDelay(lived: quick) }
        XCTAssertEqual(s.respawnDelay(lived: quick), 30 * .second, "capped at maxRespawnDelay")
        // A child that ran 30 s was not crashing in a loop: the count starts again.
        XCTAssertEqual(s.respawnDelay(lived: 31 * .second), 0)
        XCTAssertEqual(s.respawnDelay(lived: quick), 1 * .second)
    }

    func testVRRPChildPidFileDefaultsBesideTheMainOne() {
        XCTAssertEqual(PidFile.vrrpDefault(for: "/run/vrrpd.pid"), "/run/vrrpd-vrrp.pid")
        XCTAssertEqual(PidFile.vrrpDefault(for: "/run/vrrpd-lb1.pid"), "/run/vrrpd-lb1-vrrp.pid")
        XCTAssertEqual(PidFile.vrrpDefault(for: "/var/run/vrrpd"), "/var/run/vrrpd-vrrp")
    }

    func testPidFileRoundTrip() throws {
        let path = NSTemporaryDirectory() + "vrrpt-pid-\(getpid())"
        defer { unlink(path) }
        XCTAssertNil(PidFile.read(path))
        XCTAssertTrue(PidFile.write(path, pid: 4242))
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "4242\n")
        XCTAssertEqual(PidFile.read(path), 4242)
    }
}
