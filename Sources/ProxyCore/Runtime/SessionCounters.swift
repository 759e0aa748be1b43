import Atomics
import NIOCore

/// Traffic counters of one proxy (HAProxy's `bin`, `bout`, `stot`, `scur`…). Relaxed
/// atomics: they are statistics, read by the stats page and the runtime API.
public final class SessionCounters: @unchecked Sendable {
    public let bytesIn = CounterCell()
    public let bytesOut = CounterCell()
    public let totalSessions = CounterCell()
    public let currentSessions = CounterCell()
    public let requests = CounterCell()
    /// Requests refused as malformed (HAProxy's `ereq`).
    public let requestErrors = CounterCell()

    // Added for the stats page and the runtime API (issue 4). The same class counts a
    // frontend, a backend (RuntimeBackend.counters) and a server (RuntimeServer.counters);
    // each level fills the fields HAProxy shows for it.
    /// Highest `currentSessions` seen (`smax`).
    public let maxSessions = CounterCell()
    /// Requests denied by rules (`dreq`).
    public let deniedRequests = CounterCell()
    /// `dresp`: responses an `http-response deny` replaced.
    public let deniedResponses = CounterCell()
    /// Responses by class: 1xx, 2xx, 3xx, 4xx, 5xx, other (`hrsp_*`).
    public let responses: [CounterCell] = (0..<6).map { _ in CounterCell() }
    /// Failed connection attempts to servers (`econ`).
    public let connectionErrors = CounterCell()
    /// Invalid or aborted server responses (`eresp`).
    public let responseErrors = CounterCell()
    /// TLS handshakes that failed on a frontend's `ssl` binds (`ssl_failed_handshake`).
    public let failedHandshakes = CounterCell()
    /// Responses the server cut off (closed or reset) after it began them (`srv_abrt`).
    public let serverAborts = CounterCell()
    /// Connection retries (`wretr`) and redispatches (`wredis`).
    public let retries = CounterCell()
    public let redispatches = CounterCell()
    /// New server connections opened (`connect`) and idle ones reused (`reuse`).
    public let connects = CounterCell()
    public let reuses = CounterCell()
    /// Times the balance algorithm chose a server (`lbtot`): a retry on the same server
    /// is not a new choice, a redispatch is.
    public let balancedPicks = CounterCell()
    /// Requests answered by proxyd itself, such as the stats page (`intercepted`).
    public let intercepted = CounterCell()
    /// Highest queue length seen (`qmax`).
    public let maxQueue = CounterCell()
    /// Uptime in milliseconds (ProcessClock) of the last session, 0 = never (`lastsess`).
    public let lastSession = CounterCell()
    /// Sessions and requests per second (`rate`/`rate_max`, `req_rate`/`req_rate_max`).
    public let sessionRate = RateCounter()
    public let requestRate = RateCounter()
    /// `compression` (issue 15): body bytes into and out of the compressor, and the
    /// responses compressed (`comp_in`, `comp_out`, `comp_rsp`; frontends and backends).
    /// `comp_byp` counts what HAProxy's CPU and bandwidth limits let through uncompressed:
    /// proxyd has no such limit, so it stays 0.
    public let compressionIn = CounterCell()
    public let compressionOut = CounterCell()
    public let compressionBypass = CounterCell()
    public let compressedResponses = CounterCell()
    /// `qtime`/`ctime`/`rtime`/`ttime` and their maxima (backends and servers).
    public let times = TimeStatistics()

    public init() {}

    /// A session (connection or request) began: `scur` and `smax`.
    @inline(__always) public func sessionOpened(at now: Int = ProcessClock.milliseconds) {
        currentSessions.increment()
        maxSessions.raise(to: currentSessions.current)
        sessionRate.tick(at: now)
    }

    /// Counts a response status in its `hrsp_*` class.
    @inline(__always) public func countResponse(status: Int) {
        let slot = status >= 100 && status < 600 ? status / 100 - 1 : 5
        responses[slot].increment()
    }

    /// `clear counters`: the max values; `clear counters all`: every counter but the
    /// current ones.
    public func clear(all: Bool) {
        maxSessions.store(currentSessions.current)
        maxQueue.store(0)
        sessionRate.maximum.store(0)
        requestRate.maximum.store(0)
        times.clear(all: all)
        guard all else { return }
        for cell in [bytesIn, bytesOut, totalSessions, requests, requestErrors, deniedRequests, deniedResponses,
                     connectionErrors, responseErrors, retries, redispatches, connects, reuses,
                     balancedPicks, intercepted, lastSession, compressionIn, compressionOut, compressionBypass,
                     compressedResponses] + responses {
            cell.store(0)
        }
    }
}

/// One statistics counter.
public final class CounterCell: @unchecked Sendable {
    private let value = ManagedAtomic<Int>(0)
    @inline(__always) public func add(_ amount: Int) { value.wrappingIncrement(by: amount, ordering: .relaxed) }
    @inline(__always) public func increment() { value.wrappingIncrement(ordering: .relaxed) }
    @inline(__always) public func decrement() { value.wrappingDecrement(ordering: .relaxed) }
    public var current: Int { value.load(ordering: .relaxed) }
    // Added for the stats (issue 4): maxima and `clear counters`.
    @inline(__always) public func store(_ newValue: Int) { value.store(newValue, ordering: .relaxed) }
    /// Raises the value to `candidate` if it is higher (a maximum).
    @inline(__always) public func raise(to candidate: Int) {
        var seen = value.load(ordering: .relaxed)
        while candidate > seen {
            let (exchanged, original) = value.compareExchange(expected: seen, desired: candidate, ordering: .relaxed)
            if exchanged { return }
            seen = original
        }
    }
}

/// Milliseconds since the process started, from the monotonic clock: cheap enough for
/// the data path (`lastsess`, last status change). Added for the stats (issue 4).
public enum ProcessClock {
    public static let start = NIODeadline.now()
    @inline(__always) public static var milliseconds: Int {
        // `start` first: on first use it is set now, and must not be later than `now`.
        let origin = start.uptimeNanoseconds
        let now = NIODeadline.now().uptimeNanoseconds
        return Int((now &- origin) / 1_000_000) + 1
    }
}

/// Events per second as HAProxy's freq_ctr counts them: this second's count plus the
/// previous second's, weighted by how much of this second is left. Relaxed atomics; a
/// race at a second's boundary can lose an event, which statistics tolerate. Added for
/// the stats (issue 4).
public final class RateCounter: @unchecked Sendable {
    private let second = ManagedAtomic<Int>(0)
    private let current = ManagedAtomic<Int>(0)
    private let previous = ManagedAtomic<Int>(0)
    /// The highest rate seen (`rate_max`).
    public let maximum = CounterCell()

    /// One event at `now` (ProcessClock milliseconds, read once by the caller).
    @inline(__always) public func tick(at now: Int = ProcessClock.milliseconds) {
        let thisSecond = now / 1000
        let seen = second.load(ordering: .relaxed)
        if seen != thisSecond, second.compareExchange(expected: seen, desired: thisSecond, ordering: .relaxed).exchanged {
            // A new second: the last one's count becomes "previous" (0 if it was longer ago).
            let last = current.exchange(0, ordering: .relaxed)
            previous.store(thisSecond == seen + 1 ? last : 0, ordering: .relaxed)
        }
        current.wrappingIncrement(ordering: .relaxed)
        maximum.raise(to: rate(at: now))
    }

    /// The rate now.
    public var perSecond: Int { rate(at: ProcessClock.milliseconds) }

    private func rate(at now: Int) -> Int {
        let thisSecond = now / 1000
        let seen = second.load(ordering: .relaxed)
        var count = current.load(ordering: .relaxed)
        var last = previous.load(ordering: .relaxed)
        if seen != thisSecond {
            // No event yet this second: what was "current" is now the previous second's.
            last = seen + 1 == thisSecond ? count : 0
            count = 0
        }
        let remaining = 1000 - now % 1000
        return count + (last * remaining + 999) / 1000
    }
}
