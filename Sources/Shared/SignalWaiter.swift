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

    /// Waits at most `milliseconds` for one of the signals; nil when none came.
    public func next(timeoutMilliseconds milliseconds: Int) -> Int32? {
        var copy = set
        var timeout = timespec(tv_sec: milliseconds / 1000, tv_nsec: (milliseconds % 1000) * 1_000_000)
        let received = sigtimedwait(&copy, nil, &timeout)
        return received > 0 ? received : nil
    }

    /// Blocks until one of the signals arrives and returns it.
    public func next() -> Int32 {
        var copy = set
        var received: Int32 = 0
        while sigwait(&copy, &received) != 0 {}
        return received
    }
}
