import NIOCore

#if os(Linux)
/// glibc's `malloc_trim` (malloc.h, which the Glibc module does not include).
@_silgen_name("malloc_trim")
private func glibcMallocTrim(_ pad: Int) -> Int32
#endif

/// Gives memory back to the system once a load has ended (issue 14).
///
/// After 2,000 slow clients came and left, every descriptor was closed but the resident
/// size stayed at 43.6 MiB against 21.6 MiB before (haproxy 2.6: 15.0 → 26.2 MiB): the
/// memory was free inside glibc's heaps (one arena per event-loop thread), not in use;
/// `malloc_trim(0)` brought it to 23.4 MiB. glibc only returns the top of a heap by
/// itself, so this asks it to return the rest once the process is quiet: no client
/// connection and no idle server connection left, and new sessions since the last trim.
/// Checked every few seconds on one loop: the check reads a few counters, and the trim
/// (milliseconds for a heap of tens of MiB) runs once per quiet period only.
final class IdleMemoryTrim: @unchecked Sendable {
    static let interval: TimeAmount = .seconds(5)
    /// Sessions counted at the last trim; loop-confined to the timer's loop.
    private var sessionsAtLastTrim = 0
    /// Trims done since start (tests).
    private(set) var trims = 0

    func check(_ runtime: ProxyRuntime) {
        let sessions = runtime.counters.values.reduce(0) { $0 + $1.totalSessions.current }
        guard sessions != sessionsAtLastTrim, runtime.liveSessions == 0 else { return }
        let pooled = runtime.loopStates.ordered.contains { state in
            state.backends.contains { backend in
                backend.serversByIndex.contains { state.poolGauge($0).idle.load(ordering: .relaxed) > 0 }
            }
        }
        guard !pooled else { return }
        sessionsAtLastTrim = sessions
        trims += 1
        #if os(Linux)
        _ = glibcMallocTrim(0)
        #endif
    }
}

extension ProxyRuntime {
    /// Starts the quiet-time trim (once, at start).
    func startIdleMemoryTrim() {
        let trim = IdleMemoryTrim()
        group.next().scheduleRepeatedTask(initialDelay: IdleMemoryTrim.interval, delay: IdleMemoryTrim.interval) {
            [weak self] task in
            guard let self else { task.cancel(); return }
            trim.check(self)
        }
    }
}
