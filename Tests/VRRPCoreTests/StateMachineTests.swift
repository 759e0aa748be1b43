import XCTest
@testable import VRRPCore

/// The state machine driven by a fake clock: no sleeps, every transition.
final class StateMachineTests: XCTestCase {
    let me = IPv4Address("10.77.1.1")!
    let peerLow = IPv4Address("10.77.1.0")!
    let peerHigh = IPv4Address("10.77.1.2")!
    let s: Nanos = .second

    func machine(priority: Int = 100, version: UInt8 = 2, interval: Int = 100, preempt: Bool = true,
                 preemptDelay: Nanos = 0, garpDelay: Nanos = 5 * .second, refresh: Nanos = 0) -> VRRPMachine {
        VRRPMachine(config: VRRPMachineConfig(version: version, advertInterval: interval, preempt: preempt,
                                              preemptDelay: preemptDelay, basePriority: priority,
                                              primaryAddress: me, garpMasterDelay: garpDelay,
                                              garpMasterRepeat: 5, garpMasterRefresh: refresh))
    }

    func adverts(_ a: [VRRPAction]) -> [UInt8] {
        a.compactMap { if case .sendAdvert(let p) = $0 { return p } else { return nil } }
    }

    func testTimersFollowTheRFC() {
        var m = machine(priority: 100)
        // v2: skew = (256 - 100) / 256 s; down = 3 * 1 s + skew.
        XCTAssertEqual(m.skewTime, 156 * s / 256)
        XCTAssertEqual(m.masterDownInterval, 3 * s + 156 * s / 256)
        var v3 = machine(priority: 200, version: 3, interval: 10)
        XCTAssertEqual(v3.skewTime, 56 * 10 * Nanos.centisecond / 256)
        let v3skew: Nanos = 56 * 10 * Nanos.centisecond / 256
        let v3down: Nanos = 30 * Nanos.centisecond + v3skew
        XCTAssertEqual(v3.masterDownInterval, v3down)
        // v3 learns the master's interval.
        _ = v3.start(now: 0)
        _ = v3.receive(priority: 250, from: peerHigh, intervalCentiseconds: 20, now: 1)
        XCTAssertEqual(v3.masterAdverInterval, 20)
        let learned: Nanos = 1 + 60 * Nanos.centisecond + 56 * 20 * Nanos.centisecond / 256
        XCTAssertEqual(v3.masterDownDeadline, learned)
        _ = m.start(now: 0)
        XCTAssertEqual(m.nextDeadline, m.masterDownInterval)
    }

    func testInitializeToBackupThenMasterOnTimeout() {
        var m = machine()
        let a = m.start(now: 0)
        XCTAssertEqual(m.state, .backup)
        XCTAssertTrue(a.contains(.stateChanged(from: .initialize, to: .backup)))
        XCTAssertTrue(a.contains(.log("Entering BACKUP STATE (init)")))
        XCTAssertEqual(m.tick(now: m.masterDownInterval - 1), [])
        let b = m.tick(now: m.masterDownInterval)
        XCTAssertEqual(m.state, .master)
        // VIPs, then GARPs and the first advert together, in that order.
        let order = b.filter { if case .log = $0 { return false } else { return true } }
        XCTAssertEqual(order, [.stateChanged(from: .backup, to: .master), .addVIPs, .sendGARP(count: 5), .sendAdvert(priority: 100)])
        XCTAssertTrue(b.contains(.log("Receive advertisement timeout")))
    }

    func testOwnerGoesStraightToMaster() {
        var m = machine(priority: 255)
        let a = m.start(now: 0)
        XCTAssertEqual(m.state, .master)
        XCTAssertEqual(adverts(a), [255])
    }

    func testMasterAdvertisesEveryInterval() {
        var m = machine(priority: 255)
        _ = m.start(now: 0)
        XCTAssertEqual(adverts(m.tick(now: s - 1)), [])
        XCTAssertEqual(adverts(m.tick(now: s)), [255])
        XCTAssertEqual(adverts(m.tick(now: 2 * s + 5)), [255])
        XCTAssertEqual(m.adverDeadline, 3 * s)
        // A stalled process restarts the cadence instead of bursting.
        XCTAssertEqual(adverts(m.tick(now: 10 * s)), [255])
        XCTAssertEqual(m.adverDeadline, 11 * s)
    }

    func testGARPSecondBurstAndRefresh() {
        var m = machine(priority: 255, garpDelay: 5 * s, refresh: 60 * s)
        _ = m.start(now: 0)
        XCTAssertEqual(m.garpDeadline, 5 * s)
        XCTAssertTrue(m.tick(now: 5 * s).contains(.sendGARP(count: 5)))
        XCTAssertEqual(m.garpDeadline, 65 * s)
        XCTAssertTrue(m.tick(now: 65 * s).contains(.sendGARP(count: 1)))
        XCTAssertEqual(m.garpDeadline, 125 * s)
        var none = machine(priority: 255, garpDelay: 0)
        _ = none.start(now: 0)
        XCTAssertNil(none.garpDeadline)
    }

    func testBackupResetsTimerOnHigherOrEqualAdverts() {
        var m = machine(priority: 100)
        _ = m.start(now: 0)
        XCTAssertEqual(m.receive(priority: 100, from: peerLow, intervalCentiseconds: 100, now: 2 * s), [])
        XCTAssertEqual(m.masterDownDeadline, 2 * s + m.masterDownInterval)
        XCTAssertEqual(m.masterAddress, peerLow)
        _ = m.receive(priority: 150, from: peerHigh, intervalCentiseconds: 100, now: 4 * s)
        XCTAssertEqual(m.tick(now: 4 * s + m.masterDownInterval - 1), [])
        XCTAssertEqual(m.state, .backup)
    }

    func testBackupDiscardsLowerPriorityWhenPreempting() {
        var m = machine(priority: 100)
        _ = m.start(now: 0)
        let deadline = m.masterDownDeadline
        let a = m.receive(priority: 50, from: peerHigh, intervalCentiseconds: 100, now: s)
        XCTAssertEqual(a, [.log("received lower priority (50) advert from 10.77.1.2 - discarding")])
        XCTAssertEqual(m.masterDownDeadline, deadline)
        _ = m.tick(now: deadline!)
        XCTAssertEqual(m.state, .master)
    }

    /// Preempting a live master (its lower-priority adverts still heard): advertise at once,
    /// take the addresses and send the gratuitous ARPs only after the handover delay.
    func testPreemptingALiveMasterTakesTheAddressesAfterTheHandover() {
        let handover: Nanos = 80_000_000
        var m = VRRPMachine(config: VRRPMachineConfig(basePriority: 100, primaryAddress: me, garpMasterDelay: 5 * s,
                                                      garpMasterRepeat: 5, preemptHandover: handover))
        _ = m.start(now: 0)
        let deadline = m.masterDownDeadline!
        _ = m.receive(priority: 50, from: peerHigh, intervalCentiseconds: 100, now: deadline - s / 2)
        let a = m.tick(now: deadline)
        XCTAssertEqual(m.state, .master)
        XCTAssertEqual(adverts(a), [100])
        XCTAssertFalse(a.contains(.addVIPs), "\(a)")
        XCTAssertFalse(a.contains(.sendGARP(count: 5)), "\(a)")
        XCTAssertEqual(m.takeAddressesAt, deadline + handover)
        XCTAssertEqual(m.nextDeadline, deadline + handover)
        XCTAssertEqual(m.tick(now: deadline + handover - 1), [])
        XCTAssertEqual(m.tick(now: deadline + handover), [.addVIPs, .sendGARP(count: 5)])
        XCTAssertNil(m.takeAddressesAt)
        // The second GARP burst counts from when the addresses were taken.
        XCTAssertEqual(m.garpDeadline, deadline + handover + 5 * s)
    }

    /// No live master heard (it died, or we start alone): the addresses are taken at once.
    func testMasterDownWithoutALiveMasterTakesTheAddressesAtOnce() {
        var m = VRRPMachine(config: VRRPMachineConfig(basePriority: 100, primaryAddress: me,
                                                      preemptHandover: 80_000_000))
        _ = m.start(now: 0)
        _ = m.receive(priority: 50, from: peerHigh, intervalCentiseconds: 100, now: s)
        // The lower master went silent long ago: by our next timeout it is not "live".
        _ = m.receive(priority: 150, from: peerHigh, intervalCentiseconds: 100, now: 2 * s)
        let a = m.tick(now: m.masterDownDeadline!)
        XCTAssertEqual(m.state, .master)
        XCTAssertEqual(Array(a.filter { $0 == .addVIPs || $0 == .sendGARP(count: 5) }), [.addVIPs, .sendGARP(count: 5)])
        XCTAssertNil(m.takeAddressesAt)
    }

    /// Beaten (or resigning) before the addresses were taken: nothing to remove.
    func testPendingPreemptionLeavesNothingToRemove() {
        for leave in ["higher", "resign", "shutdown"] {
            var m = VRRPMachine(config: VRRPMachineConfig(basePriority: 100, primaryAddress: me,
                                                          preemptHandover: 80_000_000))
            _ = m.start(now: 0)
            let deadline = m.masterDownDeadline!
            _ = m.receive(priority: 50, from: peerHigh, intervalCentiseconds: 100, now: deadline - 1)
            _ = m.tick(now: deadline)
            XCTAssertNotNil(m.takeAddressesAt)
            let a: [VRRPAction]
            switch leave {
            case "higher": a = m.receive(priority: 200, from: peerHigh, intervalCentiseconds: 100, now: deadline + 1)
            case "resign": a = m.resign(now: deadline + 1, until: deadline + s)
            default: a = m.shutdown(now: deadline + 1)
            }
            XCTAssertFalse(a.contains(.removeVIPs), "\(leave): \(a)")
            XCTAssertNotEqual(m.state, .master, leave)
            XCTAssertNil(m.takeAddressesAt, leave)
            XCTAssertFalse(m.tick(now: deadline + s).contains(.addVIPs), leave)
        }
    }

    func testNopreemptAcceptsLowerPriorityMaster() {
        var m = machine(priority: 100, preempt: false)
        _ = m.start(now: 0)
        _ = m.receive(priority: 50, from: peerHigh, intervalCentiseconds: 100, now: 3 * s)
        XCTAssertEqual(m.masterDownDeadline, 3 * s + m.masterDownInterval)
        XCTAssertEqual(m.tick(now: 3 * s + m.masterDownInterval - 1), [])
        XCTAssertEqual(m.state, .backup)
    }

    func testPreemptDelayHoldsOffThenPreempts() {
        var m = machine(priority: 100, preemptDelay: 10 * s)
        _ = m.start(now: 0)
        // Within the delay a lower master keeps us backup.
        for t in stride(from: s, through: 9 * s, by: Int(s)) {
            _ = m.receive(priority: 50, from: peerHigh, intervalCentiseconds: 100, now: t)
        }
        XCTAssertEqual(m.tick(now: 9 * s + 1), [])
        XCTAssertEqual(m.state, .backup)
        // After it, lower adverts are discarded and the timer runs out.
        for t in stride(from: 10 * s, through: 12 * s, by: Int(s)) {
            _ = m.receive(priority: 50, from: peerHigh, intervalCentiseconds: 100, now: t)
        }
        _ = m.tick(now: 9 * s + m.masterDownInterval)
        XCTAssertEqual(m.state, .master)
    }

    func testPriorityZeroMakesBackupTakeOverAfterSkew() {
        var m = machine(priority: 100)
        _ = m.start(now: 0)
        _ = m.receive(priority: 150, from: peerHigh, intervalCentiseconds: 100, now: s)
        XCTAssertEqual(m.receive(priority: 0, from: peerHigh, intervalCentiseconds: 100, now: 2 * s),
                       [.log("Backup received priority 0 advertisement")])
        XCTAssertEqual(m.masterDownDeadline, 2 * s + m.skewTime)
        XCTAssertEqual(m.tick(now: 2 * s + m.skewTime - 1), [])
        _ = m.tick(now: 2 * s + m.skewTime)
        XCTAssertEqual(m.state, .master)
    }

    func testMasterAnswersPriorityZeroAtOnce() {
        var m = machine(priority: 255)
        _ = m.start(now: 0)
        XCTAssertEqual(m.receive(priority: 0, from: peerHigh, intervalCentiseconds: 100, now: s / 2), [.sendAdvert(priority: 255)])
        XCTAssertEqual(m.adverDeadline, s / 2 + s)
        XCTAssertEqual(m.state, .master)
    }

    func testMasterStepsDownForHigherPriority() {
        var m = machine(priority: 255 - 155)
        _ = m.start(now: 0)
        _ = m.tick(now: m.masterDownInterval)
        XCTAssertEqual(m.state, .master)
        let a = m.receive(priority: 101, from: peerLow, intervalCentiseconds: 100, now: 5 * s)
        XCTAssertEqual(m.state, .backup)
        XCTAssertTrue(a.contains(.removeVIPs))
        XCTAssertTrue(a.contains(.stateChanged(from: .master, to: .backup)))
        XCTAssertEqual(adverts(a), [])
        XCTAssertEqual(m.masterDownDeadline, 5 * s + m.masterDownInterval)
        XCTAssertEqual(m.masterAddress, peerLow)
    }

    func testEqualPriorityTieGoesToHigherAddress() {
        var low = machine(priority: 100)
        _ = low.start(now: 0)
        _ = low.tick(now: low.masterDownInterval)
        // Same priority from a higher address: we (10.77.1.1) yield to 10.77.1.2.
        _ = low.receive(priority: 100, from: peerHigh, intervalCentiseconds: 100, now: 4 * s)
        XCTAssertEqual(low.state, .backup)
        var high = machine(priority: 100)
        _ = high.start(now: 0)
        _ = high.tick(now: high.masterDownInterval)
        // Same priority from a lower address: we keep master and re-assert at once.
        let a = high.receive(priority: 100, from: peerLow, intervalCentiseconds: 100, now: 4 * s)
        XCTAssertEqual(high.state, .master)
        XCTAssertEqual(adverts(a), [100])
    }

    func testMasterAnswersLowerPriorityWithAnAdvert() {
        var m = machine(priority: 200)
        _ = m.start(now: 0)
        _ = m.tick(now: m.masterDownInterval)
        let a = m.receive(priority: 100, from: peerHigh, intervalCentiseconds: 100, now: 4 * s)
        XCTAssertEqual(m.state, .master)
        XCTAssertEqual(adverts(a), [200])
    }

    func testShutdownFromMasterSendsPriorityZeroAndRemovesVIPs() {
        var m = machine(priority: 255)
        _ = m.start(now: 0)
        let a = m.shutdown(now: s)
        XCTAssertEqual(a, [.sendAdvert(priority: 0), .log("sent 0 priority"), .removeVIPs,
                           .stateChanged(from: .master, to: .stopped)])
        XCTAssertEqual(m.state, .stopped)
        XCTAssertNil(m.nextDeadline)
        var b = machine()
        _ = b.start(now: 0)
        XCTAssertEqual(b.shutdown(now: s), [.stateChanged(from: .backup, to: .stopped)])
    }

    func testFaultFromMasterAndRecovery() {
        var m = machine(priority: 150)
        _ = m.start(now: 0)
        _ = m.tick(now: m.masterDownInterval)
        let a = m.setFault(true, now: 5 * s)
        XCTAssertEqual(m.state, .fault)
        XCTAssertEqual(adverts(a), [0])
        XCTAssertTrue(a.contains(.removeVIPs))
        XCTAssertTrue(a.contains(.log("Entering FAULT STATE")))
        XCTAssertNil(m.nextDeadline)
        XCTAssertEqual(m.receive(priority: 200, from: peerHigh, intervalCentiseconds: 100, now: 6 * s), [])
        let b = m.setFault(false, now: 7 * s)
        XCTAssertEqual(m.state, .backup)
        XCTAssertTrue(b.contains(.stateChanged(from: .fault, to: .backup)))
        XCTAssertEqual(m.masterDownDeadline, 7 * s + m.masterDownInterval)
    }

    func testFaultFromBackupAndAtStart() {
        var m = machine()
        _ = m.start(now: 0)
        _ = m.setFault(true, now: s)
        XCTAssertEqual(m.state, .fault)
        XCTAssertEqual(m.tick(now: 100 * s), [])
        var f = machine()
        _ = f.setFault(true, now: 0)
        XCTAssertEqual(f.state, .initialize)
        _ = f.start(now: 0)
        XCTAssertEqual(f.state, .fault)
    }

    func testEffectivePriorityChangesSkewAndAdverts() {
        var m = machine(priority: 100)
        _ = m.start(now: 0)
        XCTAssertEqual(m.setPriority(98, now: s), [.log("Changing effective priority from 100 to 98")])
        XCTAssertEqual(m.skewTime, 158 * s / 256)
        XCTAssertEqual(m.setPriority(98, now: s), [])
        XCTAssertEqual(m.setPriority(400, now: s), [.log("Changing effective priority from 98 to 254")])
        XCTAssertEqual(m.setPriority(-5, now: s), [.log("Changing effective priority from 254 to 1")])
        _ = m.tick(now: m.masterDownDeadline!)
        XCTAssertEqual(adverts(m.tick(now: m.adverDeadline!)), [1])
        var owner = machine(priority: 255)
        XCTAssertEqual(owner.setPriority(100, now: 0), [])
        XCTAssertEqual(owner.priority, 255)
    }

    /// Two machines wired back to back with a fake clock elect one master, and the
    /// backup takes over after the master stops (skew) or goes silent (down interval).
    func testTwoMachinesElectAndFailOver() {
        var a = VRRPMachine(config: VRRPMachineConfig(version: 3, advertInterval: 10, basePriority: 150,
                                                      primaryAddress: IPv4Address("10.77.1.1")!))
        var b = VRRPMachine(config: VRRPMachineConfig(version: 3, advertInterval: 10, basePriority: 100,
                                                      primaryAddress: IPv4Address("10.77.1.2")!))
        var now: Nanos = 0
        var inflight: [(to: Int, prio: UInt8, from: IPv4Address)] = []
        func deliver(_ acts: [VRRPAction], from idx: Int) {
            for case .sendAdvert(let p) in acts {
                inflight.append((to: 1 - idx, prio: p, from: idx == 0 ? a.config.primaryAddress : b.config.primaryAddress))
            }
        }
        var aliveA = true
        deliver(a.start(now: now), from: 0)
        deliver(b.start(now: now), from: 1)
        func run(until end: Nanos) {
            while now < end {
                now += .centisecond / 10
                if aliveA { deliver(a.tick(now: now), from: 0) }
                deliver(b.tick(now: now), from: 1)
                let msgs = inflight; inflight = []
                for m in msgs {
                    if m.to == 0 && aliveA { deliver(a.receive(priority: m.prio, from: m.from, intervalCentiseconds: 10, now: now), from: 0) }
                    if m.to == 1 { deliver(b.receive(priority: m.prio, from: m.from, intervalCentiseconds: 10, now: now), from: 1) }
                }
            }
        }
        run(until: 2 * s)
        XCTAssertEqual(a.state, .master)
        XCTAssertEqual(b.state, .backup)
        // Clean stop: b takes over after its skew time alone.
        deliver(a.shutdown(now: now), from: 0)
        aliveA = false
        let stopped = now
        var afterStop: Nanos?
        while now < stopped + s && afterStop == nil {
            run(until: now + .centisecond / 10)
            if b.state == .master { afterStop = now }
        }
        XCTAssertEqual(b.state, .master)
        XCTAssertLessThanOrEqual(afterStop! - stopped, b.skewTime + .centisecond)
        // a comes back with a higher priority and preempts after its down interval.
        a = VRRPMachine(config: a.config)
        aliveA = true
        deliver(a.start(now: now), from: 0)
        run(until: now + 2 * s)
        XCTAssertEqual(a.state, .master)
        XCTAssertEqual(b.state, .backup)
        // a dies silently (SIGKILL): b waits Master_Down_Interval.
        aliveA = false
        let killed = now
        var tookOver: Nanos?
        while now < killed + 2 * s && tookOver == nil {
            run(until: now + .centisecond)
            if b.state == .master { tookOver = now }
        }
        XCTAssertNotNil(tookOver)
        XCTAssertLessThanOrEqual(tookOver! - killed, b.masterDownInterval + .centisecond)
        XCTAssertGreaterThanOrEqual(tookOver! - killed, b.masterDownInterval - 10 * .centisecond)
    }

    func testSyncGroupFollowAndStopFromFault() {
        var m = machine(priority: 100)
        _ = m.start(now: 0)
        let a = m.follow(.master, now: s)
        XCTAssertEqual(m.state, .master)
        XCTAssertTrue(a.contains(.addVIPs))
        XCTAssertEqual(adverts(a), [100])
        XCTAssertEqual(m.follow(.master, now: s), [], "already master")
        let b = m.follow(.backup, now: 2 * s)
        XCTAssertEqual(m.state, .backup)
        XCTAssertTrue(b.contains(.removeVIPs))
        XCTAssertEqual(adverts(b), [], "a master that follows its group to backup sends no priority 0")
        _ = m.setFault(true, now: 3 * s)
        XCTAssertEqual(m.follow(.master, now: 3 * s), [], "a faulty member does not follow to master")
        XCTAssertEqual(m.shutdown(now: 4 * s), [.stateChanged(from: .fault, to: .stopped)])
    }


    func testResumeAsMasterAfterReload() {
        var m = machine(priority: 90)
        let a = m.resumeAsMaster(now: s)
        XCTAssertEqual(m.state, .master)
        XCTAssertEqual(a.filter { if case .log = $0 { return false } else { return true } },
                       [.addVIPs, .sendGARP(count: 5), .sendAdvert(priority: 90)])
        XCTAssertFalse(a.contains { if case .stateChanged = $0 { return true } else { return false } },
                       "no notify: the instance did not change state")
        XCTAssertEqual(m.adverDeadline, 2 * s)
        var f = machine(priority: 90)
        _ = f.setFault(true, now: 0)
        _ = f.resumeAsMaster(now: s)
        XCTAssertEqual(f.state, .fault)
    }

}

final class TrackingTests: XCTestCase {
    func testFirstResultDecidesThenRiseAndFall() {
        var t = ScriptTracker(rise: 2, fall: 3)
        XCTAssertEqual(t.status, .initial)
        XCTAssertNil(t.passing)
        XCTAssertEqual(t.record(success: true), .good)
        XCTAssertNil(t.record(success: false))
        XCTAssertNil(t.record(success: false))
        XCTAssertEqual(t.record(success: false), .bad)
        XCTAssertEqual(t.passing, false)
        XCTAssertNil(t.record(success: true))
        XCTAssertNil(t.record(success: false))     // streak broken
        XCTAssertNil(t.record(success: true))
        XCTAssertEqual(t.record(success: true), .good)
    }

    func testInitFailStartsBad() {
        var t = ScriptTracker(rise: 2, fall: 1, initFail: true)
        XCTAssertEqual(t.passing, false)
        XCTAssertNil(t.record(success: true))
        XCTAssertEqual(t.record(success: true), .good)
        var first = ScriptTracker(rise: 1, fall: 1)
        XCTAssertEqual(first.record(success: false), .bad)
    }

    func testEffectivePriorityArithmetic() {
        func p(_ base: Int, _ t: [TrackedInput]) -> (Int, Bool) {
            let r = EffectivePriority.compute(base: base, tracked: t)
            return (r.priority, r.fault)
        }
        // Lab: weight 2, passing on both nodes: 103 vs 102; failing master: 101 vs 102.
        XCTAssertTrue(p(101, [TrackedInput(name: "chk", weight: 2, passing: true)]) == (103, false))
        XCTAssertTrue(p(101, [TrackedInput(name: "chk", weight: 2, passing: false)]) == (101, false))
        XCTAssertTrue(p(100, [TrackedInput(name: "chk", weight: -20, passing: false)]) == (80, false))
        XCTAssertTrue(p(100, [TrackedInput(name: "chk", weight: -20, passing: true)]) == (100, false))
        XCTAssertTrue(p(100, [TrackedInput(name: "a", weight: 10, passing: true),
                              TrackedInput(name: "b", weight: -30, passing: false)]) == (80, false))
        // reverse swaps the direction.
        XCTAssertTrue(p(100, [TrackedInput(name: "chk", weight: 10, reverse: true, passing: true)]) == (90, false))
        XCTAssertTrue(p(100, [TrackedInput(name: "chk", weight: -10, reverse: true, passing: false)]) == (110, false))
        // Clamping and the owner.
        XCTAssertTrue(p(250, [TrackedInput(name: "chk", weight: 50, passing: true)]) == (254, false))
        XCTAssertTrue(p(10, [TrackedInput(name: "chk", weight: -50, passing: false)]) == (1, false))
        XCTAssertTrue(p(255, [TrackedInput(name: "chk", weight: -50, passing: false)]) == (255, false))
        // No result yet: neither way, not even for weight 0.
        XCTAssertTrue(p(100, [TrackedInput(name: "a", weight: 2, passing: nil),
                              TrackedInput(name: "b", weight: -20, passing: nil),
                              TrackedInput(name: "c", weight: 0, passing: nil)]) == (100, false))
        // Weight 0 failing means FAULT.
        XCTAssertTrue(p(100, [TrackedInput(name: "chk", weight: 0, passing: false)]) == (100, true))
        XCTAssertTrue(p(100, [TrackedInput(name: "chk", weight: 0, passing: true)]) == (100, false))
    }

    func testScriptRunsArePhasedToEndJustBeforeAnAdvert() {
        let ms: Nanos = 1_000_000
        let s: Nanos = .second
        // Not master: the script's own period.
        XCTAssertEqual(ScriptSchedule.nextRun(nominal: 7 * s, now: 5 * s, advertDeadline: nil,
                                              advertInterval: s, expectedDuration: 2 * ms), 7 * s)
        // Adverts at 5.6, 6.6, 7.6 ...: the run due at 7.0 moves to the nearest, 6.6 - (2 * 2 ms + 5 ms).
        XCTAssertEqual(ScriptSchedule.nextRun(nominal: 7 * s, now: 5 * s, advertDeadline: 5600 * ms,
                                              advertInterval: s, expectedDuration: 2 * ms), 6600 * ms - 9 * ms)
        // Adverts at 5.2, 6.2, 7.2: the run due at 7.0 moves back to 7.2 - 9 ms, never more
        // than half an interval from its period.
        XCTAssertEqual(ScriptSchedule.nextRun(nominal: 7 * s, now: 5 * s, advertDeadline: 5200 * ms,
                                              advertInterval: s, expectedDuration: 2 * ms), 7200 * ms - 9 * ms)
        // Never in the past; the margin is at most half an interval (slow scripts).
        XCTAssertEqual(ScriptSchedule.nextRun(nominal: 5 * s, now: 5 * s, advertDeadline: 5010 * ms,
                                              advertInterval: 100 * ms, expectedDuration: 400 * ms), 5060 * ms)
        for nominal in stride(from: 5 * s, to: 9 * s, by: Int(37 * ms)) {
            let t = ScriptSchedule.nextRun(nominal: nominal, now: 5 * s, advertDeadline: 5300 * ms,
                                           advertInterval: s, expectedDuration: 1 * ms)
            XCTAssertGreaterThanOrEqual(t, 5 * s)
            XCTAssertLessThanOrEqual(abs(t - nominal), s / 2 + 1)
            XCTAssertEqual((t + 7 * ms - 300 * ms) % s, 0, "ends 7 ms before an advert")
        }
    }

}
