/// An entry a session or request tracks (`track-scN`), in its table.
struct StickTracked {
    let table: StickTable
    let entry: StickEntry
}

/// The stick counters sc0..sc2 of one client connection: those its connection rules
/// track (for the whole connection) and those the current request's rules track (until
/// its end, as HAProxy's per-stream counters). Belongs to the connection's event loop.
final class StickTrackers {
    private(set) var session: [StickTracked?] = [nil, nil, nil]
    private(set) var stream: [StickTracked?] = [nil, nil, nil]

    /// Counter N as fetches see it: the request's, else the connection's.
    func tracked(_ counter: Int) -> StickTracked? { stream[counter] ?? session[counter] }

    /// Calls `body` with each counter tracking now (no array made: it runs per read).
    private func forEachTracked(_ body: (StickTracked) -> Void) {
        for i in 0..<3 {
            if let tracked = stream[i] { body(tracked) }
            if let tracked = session[i] { body(tracked) }
        }
    }

    /// `track-scN`: starts tracking `key` unless counter N already tracks something.
    /// A request's tracking counts the request itself, as HAProxy's http-request does.
    func track(_ counter: Int, table: StickTable, key: [UInt8], forRequest: Bool) {
        guard tracked(counter) == nil else { return }
        let now = ProcessClock.milliseconds
        let entry: StickEntry? = table.withLock {
            guard let entry = table.entry(key, now: now) else { return nil }
            entry.useCount += 1
            table.add(.connCurrent, 1, to: entry, now: now)
            table.add(.connCount, 1, to: entry, now: now)
            table.add(.connRate, 1, to: entry, now: now)
            if forRequest {
                table.add(.httpRequestCount, 1, to: entry, now: now)
                table.add(.httpRequestRate, 1, to: entry, now: now)
            }
            table.touch(entry, now: now)
            return entry
        }
        guard let entry else { return }
        if forRequest { stream[counter] = StickTracked(table: table, entry: entry) }
        else { session[counter] = StickTracked(table: table, entry: entry) }
    }

    /// The connection rules accepted the connection: it is a session now (HAProxy
    /// counts no session for a rejected connection).
    func sessionAccepted() {
        for case let tracked? in session {
            update(tracked) { t, e, now in
                t.add(.sessionCount, 1, to: e, now: now)
                t.add(.sessionRate, 1, to: e, now: now)
            }
        }
    }

    /// A new request on the connection: the connection's counters count it.
    func requestStarted() {
        for case let tracked? in session {
            update(tracked) { t, e, now in
                t.add(.httpRequestCount, 1, to: e, now: now)
                t.add(.httpRequestRate, 1, to: e, now: now)
            }
        }
    }

    /// A response (from a server or proxyd itself): 4xx count as errors, as in HAProxy.
    func responded(status: Int) {
        guard (400..<500).contains(status) else { return }
        forEachTracked { tracked in
            guard tracked.table.storesAny(.httpErrorCount, .httpErrorRate) else { return }
            update(tracked) { t, e, now in
                t.add(.httpErrorCount, 1, to: e, now: now)
                t.add(.httpErrorRate, 1, to: e, now: now)
            }
        }
    }

    /// Client bytes not yet counted. As HAProxy counts a stream's bytes after its rules
    /// ran, a request's head counts for the counters its own rules start tracking.
    private var pendingBytesIn = 0

    func bytesIn(_ count: Int) {
        pendingBytesIn += count
    }

    /// Counts the client bytes received so far for every counter tracking now.
    func flushBytesIn() {
        guard pendingBytesIn > 0 else { return }
        let count = pendingBytesIn
        pendingBytesIn = 0
        forEachTracked { tracked in
            guard tracked.table.storesAny(.bytesInCount, .bytesInRate) else { return }
            update(tracked) { t, e, now in
                t.add(.bytesInCount, count, to: e, now: now)
                t.add(.bytesInRate, count, to: e, now: now)
            }
        }
    }

    func bytesOut(_ count: Int) {
        flushBytesIn()
        forEachTracked { tracked in
            guard tracked.table.storesAny(.bytesOutCount, .bytesOutRate) else { return }
            update(tracked) { t, e, now in
                t.add(.bytesOutCount, count, to: e, now: now)
                t.add(.bytesOutRate, count, to: e, now: now)
            }
        }
    }

    /// `sc-inc-gpc0(N)`, `sc_inc_gpc0`: returns the new value (nil: not tracked or not stored).
    @discardableResult
    func incrementGPC(_ counter: Int, gpc: Int) -> Int? {
        guard let tracked = tracked(counter) else { return nil }
        return Self.incrementGPC(gpc, of: tracked.entry, in: tracked.table)
    }

    /// `sc-set-gpt0(N) VALUE`.
    func setGPT0(_ counter: Int, _ value: Int) {
        guard let tracked = tracked(counter), tracked.table.definition.stores[.gpt0] != nil else { return }
        update(tracked) { t, e, now in t.set(.gpt0, value, of: e, now: now) }
    }

    static func incrementGPC(_ gpc: Int, of entry: StickEntry, in table: StickTable) -> Int? {
        let now = ProcessClock.milliseconds
        return table.withLock {
            let type: StickDataType = gpc == 0 ? .gpc0 : .gpc1
            table.add(gpc == 0 ? .gpc0Rate : .gpc1Rate, 1, to: entry, now: now)
            table.add(type, 1, to: entry, now: now)
            table.touch(entry, now: now)
            return table.read(type, of: entry, now: now)
        }
    }

    /// The request ended: its own counters are released.
    func requestEnded() {
        flushBytesIn()
        for i in 0..<3 {
            if let tracked = stream[i] { release(tracked) }
            stream[i] = nil
        }
    }

    /// The connection ended: every counter is released.
    func connectionEnded() {
        requestEnded()
        for i in 0..<3 {
            if let tracked = session[i] { release(tracked) }
            session[i] = nil
        }
    }

    private func release(_ tracked: StickTracked) {
        update(tracked) { t, e, now in
            t.add(.connCurrent, -1, to: e, now: now)
            e.useCount -= 1
        }
    }

    private func update(_ tracked: StickTracked, _ body: (StickTable, StickEntry, Int) -> Void) {
        let now = ProcessClock.milliseconds
        tracked.table.withLock {
            body(tracked.table, tracked.entry, now)
            tracked.table.touch(tracked.entry, now: now)
        }
    }
}
