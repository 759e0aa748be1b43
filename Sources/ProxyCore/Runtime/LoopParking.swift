#if canImport(Glibc)
import Glibc
#endif
import Atomics
import NIOCore

extension ProxyRuntime {
    /// Stops for good, just before the process exits: no more checks, no listener, and
    /// every event loop parked where it stands, so that nothing runs while `exit` tears
    /// the process down (OpenSSL's atexit clean-up, for one, must not race a TLS session).
    ///
    /// NIO's `syncShutdownGracefully` is not used here: it hands its completions to
    /// libdispatch, whose thread-pool monitor reads `/proc/<tid>/stat` every second and
    /// traps (SIGILL) when it cannot open it, which is always the case inside a `chroot`
    /// without /proc. That killed about one old process in six on a `-sf` reload.
    /// Open sockets need no goodbye: the kernel closes them when the process exits, as
    /// HAProxy's hard stop does.
    public func haltForExit() {
        healthMonitor?.stop()
        stopListening()
        let loops = Array(group.makeIterator()) + (reactors.map { Array($0.makeIterator()) } ?? [])
        let parked = ManagedAtomic(0)
        for loop in loops {
            // Runs after what is already queued on the loop (channel closes above).
            loop.execute {
                parked.wrappingIncrement(ordering: .relaxed)
                while true { pause() }  // signals are blocked on loop threads: never returns
            }
        }
        // A loop stuck in a long task must not hold the exit up for long.
        for _ in 0..<1000 where parked.load(ordering: .relaxed) < loops.count {
            usleep(1000)
        }
    }
}
