import XCTest
import NIOCore
import NIOPosix
@testable import ProxyCore

/// The per-loop heap of check timers: order by due time, scheduling order among equals,
/// an earlier timer added later still first, and timers scheduled from a timer.
final class CheckTimersTests: XCTestCase {
    func testTimersRunInDueOrderOnTheirLoop() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let loop = group.next()
        let timers = CheckTimers(loop: loop)
        let done = loop.makePromise(of: [String].self)
        var fired: [String] = []
        func note(_ name: String) {
            XCTAssertTrue(loop.inEventLoop)
            fired.append(name)
            if fired.count == 7 { done.succeed(fired) }
        }
        try loop.submit {
            timers.schedule(in: 120) { note("c") }
            timers.schedule(in: 60) { note("b1") }
            timers.schedule(in: 60) { note("b2") }
            // Added last, due first: the loop's wake-up moves earlier.
            timers.schedule(in: 1) {
                note("a")
                // From a timer, as a runner reschedules itself.
                timers.schedule(in: 150) { note("e") }
                timers.schedule(in: 90) { note("b3") }
            }
            timers.schedule(in: 130) { note("d") }
        }.wait()
        XCTAssertEqual(try done.futureResult.wait(), ["a", "b1", "b2", "b3", "c", "d", "e"])
        XCTAssertEqual(try loop.submit { timers.pending }.wait(), 0)
    }

    func testThousandsOfTimersRunByDueTime() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let loop = group.next()
        let timers = CheckTimers(loop: loop)
        let count = 5_000
        let done = loop.makePromise(of: Int.self)
        var fired = 0
        var last = NIODeadline.uptimeNanoseconds(0)
        var ordered = true
        try loop.submit {
            for i in 0..<count {
                // Due times from 200 to 1 ms, in reverse order of scheduling. What must hold
                // is the order of the deadlines (scheduling takes time, so a later timer with
                // a shorter delay may be due later): allow 1 ms for the two clock reads.
                let due = 1 + (count - 1 - i) * 200 / count
                let deadline = NIODeadline.now() + .milliseconds(Int64(due))
                timers.schedule(in: due) {
                    if deadline + .milliseconds(1) < last { ordered = false }
                    last = max(last, deadline)
                    fired += 1
                    if fired == count { done.succeed(fired) }
                }
            }
            XCTAssertEqual(timers.pending, count)
        }.wait()
        XCTAssertEqual(try done.futureResult.wait(), count)
        XCTAssertTrue(ordered, "timers ran by due time")
    }
}
