import Atomics
import NIOCore

/// One loop's view of one server's idle pool, as `show servers conn` and the stats read
/// it from the control socket's thread.
final class IdlePoolGauge: Sendable {
    /// Connections idle in this loop's pool now.
    let idle = ManagedAtomic<Int>(0)
    /// Of those, the ones that were reused before (HAProxy's "safe" ones).
    let safe = ManagedAtomic<Int>(0)
    /// The most connections the server had in use since the last purge (HAProxy's
    /// `used_max`, which restarts every purge period).
    let usedMax = ManagedAtomic<Int>(0)
    /// HAProxy's `need_est`: the connections the server is expected to need, which decays
    /// by half every purge period once they are no longer used.
    let neededEstimate = ManagedAtomic<Int>(0)
    /// Idle connections closed by the purge since start.
    let purged = ManagedAtomic<Int>(0)
}

/// Releases idle server connections once traffic stops (issue 14).
///
/// HAProxy 2.6 closes, every `pool-purge-delay` (default 5 s), half of a server's idle
/// connections beyond what it estimates it needs; `timeout server` does not apply to an
/// idle connection (measured with haproxy 2.6.12: 50 idle connections with `timeout server
/// 2s` and `pool-purge-delay 30s` were all still open after 6 s; with `pool-purge-delay
/// 1s`, 94 idle went 94, 69, 45, 27, 15, 7, 3, 0 a second apart). Here a connection idle
/// less than the delay was used in that period, so it counts as needed: each period closes
/// half (rounded up) of those idle longer, oldest first, which gives the same halving once
/// a load ends and leaves a busy pool alone.
///
/// One NIO timer per loop, not one per connection: NIO cancels a task by searching its
/// timer heap (see Health/CheckTimers.swift), and parking a connection happens on every
/// response. The timer runs only while the loop's pool holds a connection, at the
/// shortest purge delay among the servers; a server is purged once its own delay passed.
extension LoopState {
    /// Counts a connection entering this loop's pool and makes sure the purge will see it.
    func poolGained(_ connection: ServerConnection) {
        let gauge = poolGauge(connection.server)
        gauge.idle.wrappingIncrement(ordering: .relaxed)
        if connection.hasBeenReused { gauge.safe.wrappingIncrement(ordering: .relaxed) }
        // The session that parks it has just used it: count it among those in use.
        let used = connection.server.currentConnections.load(ordering: .relaxed) + 1
        if used > gauge.usedMax.load(ordering: .relaxed) { gauge.usedMax.store(used, ordering: .relaxed) }
        armPurgeTimer()
    }

    /// Counts a connection leaving this loop's pool (taken, closed or purged).
    func poolLost(_ connection: ServerConnection) {
        let gauge = poolGauge(connection.server)
        gauge.idle.wrappingDecrement(ordering: .relaxed)
        if connection.hasBeenReused { gauge.safe.wrappingDecrement(ordering: .relaxed) }
    }

    private var shortestPurgeDelay: TimeAmount {
        let shortest = backends.lazy.flatMap { $0.serversByIndex }.map(\.poolPurgeDelayMs).filter { $0 > 0 }.min() ?? 5000
        return .milliseconds(Int64(shortest))
    }

    private func armPurgeTimer() {
        guard purgeTimer == nil else { return }
        purgeTimer = eventLoop.scheduleTask(in: shortestPurgeDelay) { [self] in
            purgeTimer = nil
            purgeIdle(now: .now())
            if idleConnections.contains(where: { $0.contains { !$0.isEmpty } }) { armPurgeTimer() }
        }
    }

    /// Closes, for each server whose purge delay has passed since its last purge, half
    /// (rounded up) of the connections idle longer than that delay, oldest first.
    func purgeIdle(now: NIODeadline) {
        // A timer may fire a little early for a server with a longer delay: a tenth of the
        // shortest delay of slack keeps it from waiting a whole extra period.
        let slack = TimeAmount.nanoseconds(shortestPurgeDelay.nanoseconds / 10)
        for backend in backends.indices {
            let servers = backends[backend].serversByIndex
            for server in idleConnections[backend].indices {
                let delayMs = servers[server].poolPurgeDelayMs
                let delay = TimeAmount.milliseconds(Int64(delayMs))
                guard now - lastPurge[backend][server] + slack >= delay else { continue }
                lastPurge[backend][server] = now
                let gauge = poolGauge(servers[server])
                let stillUsed = servers[server].currentConnections.load(ordering: .relaxed)
                let usedMax = gauge.usedMax.exchange(stillUsed, ordering: .relaxed)
                let estimate = gauge.neededEstimate.load(ordering: .relaxed)
                gauge.neededEstimate.store(max((estimate + usedMax) / 2, usedMax), ordering: .relaxed)

                let pool = idleConnections[backend][server]
                let old = pool.prefix { now - $0.idleSince >= delay }.count
                let closing = (old + 1) / 2
                guard closing > 0 else { continue }
                for connection in pool.prefix(closing) {
                    connection.isPooled = false
                    poolLost(connection)
                    connection.transport.close()
                }
                idleConnections[backend][server].removeFirst(closing)
                gauge.purged.wrappingIncrement(by: closing, ordering: .relaxed)
            }
        }
    }
}
