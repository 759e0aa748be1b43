#if canImport(Glibc)
import Glibc
#endif

/// Waits for signals synchronously on the main thread with `sigwait`, so handlers never
/// run in signal context. Block the signals before starting any other thread so that
/// every thread inherits the mask and only `next()` receives them.
public struct SignalWaiter {
    private var set = sigset_t()

    public init(_ signals: [Int32]) {
        sigemptyset(&set)
        for signal in signals { sigaddset(&set, signal) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// Blocks until one of the signals arrives and returns it.
    public func next() -> Int32 {
        var copy = set
        var received: Int32 = 0
        while sigwait(&copy, &received) != 0 {}
        return received
    }
}
