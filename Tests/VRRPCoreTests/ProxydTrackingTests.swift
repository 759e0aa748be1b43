import XCTest
@testable import VRRPCore

/// The pure half of proxyd tracking: the `subscribe ha` lines, the verdict they give, the
/// `vrrp_track_proxyd` block, and a master's handover with a fake clock.
final class ProxydTrackingTests: XCTestCase {
    let s: Nanos = .second

    func testLinesOfTheSubscription() {
        XCTAssertEqual(ProxydEvent.parse("proxyd-ha 1 pid=42 netns=4026531992 state=serving grace=3000"),
                       .hello(version: 1, pid: 42, netns: 4026531992, stopping: false, graceMs: 3000))
        XCTAssertEqual(ProxydEvent.parse("proxyd-ha 1 pid=7 state=stopping\r"),
                       .hello(version: 1, pid: 7, netns: nil, stopping: true, graceMs: nil))
        XCTAssertEqual(ProxydEvent.parse("frontend http-in down"), .frontend(name: "http-in", up: false))
        XCTAssertEqual(ProxydEvent.parse("state stopping grace=500"), .stopping(graceMs: 500))
        XCTAssertEqual(ProxydEvent.parse("error: permission denied"), .error("permission denied"))
        XCTAssertEqual(ProxydEvent.parse("ready"), .ready)
        XCTAssertEqual(ProxydEvent.parse("pong"), .pong)
        for junk in ["", "HTTP/1.0 200 OK", "proxyd-ha x pid=1", "proxyd-ha 1", "frontend a sideways", "ready now"] {
            XCTAssertNil(ProxydEvent.parse(Substring(junk)), junk)
        }
    }

    func testSomethingElseOnTheSocketIsNotProxyd() {
        var v = ProxydView()
        XCTAssertThrowsError(try v.apply("Unknown command, please enter \"help\"")) { e in
            guard case ProxydView.Violation.notProxyd = e else { return XCTFail("\(e)") }
        }
        var refused = ProxydView()
        XCTAssertEqual(try refused.apply("error: permission denied"), .error("permission denied"),
                       "a hold refused by a level-user socket comes before the greeting")
        XCTAssertEqual(try refused.apply("proxyd-ha 1 pid=3"), .hello(version: 1, pid: 3, netns: nil, stopping: false, graceMs: nil))
        var w = ProxydView()
        XCTAssertThrowsError(try w.apply("proxyd-ha 2 pid=1")) { e in
            XCTAssertEqual(e as? ProxydView.Violation, .unsupportedVersion(2))
        }
    }

    func testVerdict() throws {
        var v = ProxydView()
        XCTAssertEqual(v.verdict(frontends: [], ourNetns: 5), .down("no answer yet"))
        _ = try v.apply("proxyd-ha 1 pid=9 netns=5 state=serving grace=3000")
        _ = try v.apply("frontend http-in up")
        _ = try v.apply("frontend stats up")
        XCTAssertEqual(v.verdict(frontends: [], ourNetns: 5), .down("no answer yet"), "not before the snapshot ends")
        _ = try v.apply("ready")
        XCTAssertEqual(v.verdict(frontends: [], ourNetns: 5), .up)
        XCTAssertEqual(v.verdict(frontends: ["http-in"], ourNetns: 5), .up)
        XCTAssertEqual(v.verdict(frontends: ["nope"], ourNetns: 5), .down("proxyd pid 9 has no frontend 'nope'"))
        _ = try v.apply("frontend http-in down")
        XCTAssertEqual(v.verdict(frontends: ["http-in"], ourNetns: 5), .down("frontend http-in of proxyd pid 9 has no usable server"))
        XCTAssertEqual(v.verdict(frontends: [], ourNetns: 5), .up, "frontends count only when named")
        // Another node's proxyd answering on a shared path never counts.
        guard case .down(let why) = v.verdict(frontends: [], ourNetns: 6) else { return XCTFail() }
        XCTAssertTrue(why.contains("another network namespace"), why)
        _ = try v.apply("state stopping grace=500")
        XCTAssertEqual(v.graceMs, 500)
        XCTAssertEqual(v.verdict(frontends: [], ourNetns: 5), .down("proxyd pid 9 is stopping"))
        _ = try v.apply("some future line")   // ignored, not fatal
    }

    func testTheBlockAndItsErrors() {
        let text = """
        vrrp_track_proxyd proxyd {
            socket /run/proxyd/admin.sock
            frontend http-in
            timeout 0.5
            handover 2
        }
        vrrp_track_proxyd bad {
            socket run/admin.sock
            weight 300
            colour blue
        }
        vrrp_instance VI_1 {
            interface eth0
            virtual_router_id 51
            track_proxyd {
                proxyd weight -20
                proxy
            }
        }
        """
        let (c, d) = ConfigParser.parse(text: text, file: "k.conf")
        let t = c.proxydTracker(named: "proxyd")
        XCTAssertEqual(t?.socket, "/run/proxyd/admin.sock")
        XCTAssertEqual(t?.frontends, ["http-in"])
        XCTAssertEqual(t?.timeout, 0.5)
        XCTAssertEqual(t?.handover, 2)
        XCTAssertEqual(t?.weight, 0, "a proxyd that is down means FAULT by default")
        XCTAssertEqual(c.instances.first?.trackProxyd, [TrackRef(name: "proxyd", weight: -20)])
        let text2 = d.items.map(\.description).joined(separator: "\n")
        XCTAssertTrue(text2.contains("(k.conf: Line 8) vrrp_track_proxyd bad: socket 'run/admin.sock' must be an absolute path"), text2)
        XCTAssertTrue(text2.contains("(k.conf: Line 9) number '300' outside range [-253, 253]"), text2)
        XCTAssertTrue(text2.contains("(k.conf: Line 10) Unknown keyword 'colour'"), text2)
        XCTAssertTrue(text2.contains("(VI_1) track_proxyd proxy not found, ignoring... - did you mean 'proxyd'?"), text2)
    }

    func master(priority: Int = 101) -> VRRPMachine {
        var m = VRRPMachine(config: VRRPMachineConfig(version: 2, advertInterval: 100, basePriority: priority,
                                                      primaryAddress: IPv4Address("10.77.1.4")!))
        _ = m.start(now: 0)
        _ = m.tick(now: 4 * s)
        XCTAssertEqual(m.state, .master)
        return m
    }

    func testPlannedHandoverKeepsTheAddressesUntilTheNewMasterSpeaks() {
        var m = master()
        let acts = m.resign(now: 10 * s, until: 13 * s)
        XCTAssertEqual(acts.first, .sendAdvert(priority: 0))
        XCTAssertFalse(acts.contains(.removeVIPs), "the VIPs stay while the backup takes over")
        XCTAssertTrue(m.isResigning)
        // No advert at our priority while handing over: it would reset the backup's timer.
        XCTAssertEqual(m.nextDeadline, 13 * s)
        XCTAssertTrue(m.tick(now: 11 * s).isEmpty)
        // The backup (lower base priority) becomes master after its skew time and says so.
        let taken = m.receive(priority: 100, from: IPv4Address("10.77.1.5")!, intervalCentiseconds: 100, now: 10 * s + 610_000_000)
        XCTAssertTrue(taken.contains(.removeVIPs))
        XCTAssertTrue(taken.contains(.stateChanged(from: .master, to: .backup)))
        XCTAssertFalse(taken.contains(.sendAdvert(priority: 101)), "no new election while handing over")
        XCTAssertFalse(m.isResigning)
    }

    func testHandoverWithNobodyToTakeOverEndsAtItsDeadline() {
        var m = master()
        _ = m.resign(now: 10 * s, until: 12 * s)
        XCTAssertTrue(m.receive(priority: 0, from: IPv4Address("10.77.1.5")!, intervalCentiseconds: 100, now: 11 * s).isEmpty)
        let end = m.tick(now: 12 * s)
        XCTAssertTrue(end.contains(.removeVIPs))
        XCTAssertEqual(m.state, .backup)
    }

    func testCrashReleasesAtOnce() {
        var m = master()
        let acts = m.resign(now: 10 * s, until: 10 * s)
        XCTAssertEqual(acts.first, .sendAdvert(priority: 0))
        XCTAssertTrue(acts.contains(.removeVIPs))
        XCTAssertEqual(m.state, .backup)
        // Only a master resigns.
        XCTAssertTrue(m.resign(now: 11 * s, until: 12 * s).isEmpty)
    }
}
