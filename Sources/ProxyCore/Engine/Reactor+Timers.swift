import Atomics
import NIOConcurrencyHelpers
import NIOCore

/// The reactor's timers as NIO's `EventLoop` offers them (`scheduleTask`, scheduled
/// callbacks, from any thread) and as the data path's own objects use them (`runAfter`,
/// loop thread only). All of them live in one heap, `ReactorTimers`, run by the loop
/// (Reactor.swift, `runDueTimers`).
extension Reactor {
    func scheduleTask<T>(deadline: NIODeadline, _ task: @escaping @Sendable () throws -> T) -> Scheduled<T> {
        let promise: EventLoopPromise<T> = makePromise()
        let body: ReactorTimers.Body = { due in
            guard due else {
                promise.fail(EventLoopError.shutdown)
                return
            }
            do {
                promise.succeed(try task())
            } catch {
                promise.fail(error)
            }
        }
        let when = deadline.uptimeNanoseconds
        if inEventLoop {
            let handle = timers.schedule(deadline: when, body)
            return Scheduled(promise: promise) { [self] in
                if inEventLoop {
                    timers.cancel(handle)
                } else {
                    execute { self.timers.cancel(handle) }
                }
            }
        }
        // From another thread the heap is out of reach: a ticket carries the handle to
        // whichever of the insertion and the cancellation runs second on the loop.
        let ticket = RemoteTimerTicket()
        execute {
            guard !ticket.cancelled else { return }
            ticket.handle = self.timers.schedule(deadline: when, body)
        }
        return Scheduled(promise: promise) { [self] in
            execute {
                if let handle = ticket.handle {
                    self.timers.cancel(handle)
                } else {
                    ticket.cancelled = true
                }
            }
        }
    }

    func scheduleTask<T>(in delay: TimeAmount, _ task: @escaping @Sendable () throws -> T) -> Scheduled<T> {
        scheduleTask(deadline: .now() + delay, task)
    }

    // MARK: Timers of the data path's own objects

    /// Loop-thread only: `body` runs after `delay`, unless cancelled first. One closure in
    /// the timer heap, no promise: a connect's deadline costs this on every server
    /// connection. Nothing runs at shutdown (the object waiting has gone with its loop).
    func runAfter(_ delay: TimeAmount, _ body: @escaping () -> Void) -> ReactorTimers.Handle {
        precondition(inEventLoop, "Reactor.runAfter off its loop")
        let deadline = (NIODeadline.now() + delay).uptimeNanoseconds
        return timers.schedule(deadline: deadline) { due in if due { body() } }
    }

    /// Loop-thread only. A handle whose timer already ran or was cancelled is ignored.
    func cancelTimer(_ handle: ReactorTimers.Handle) {
        timers.cancel(handle)
    }

    // MARK: Scheduled callbacks

    /// A scheduled callback without a promise: one closure in the timer heap. IdleTimer
    /// re-arms one per exchange on every connection, where NIO's default (a task, its
    /// promise, and a failure callback to report cancels) costs several allocations each,
    /// and keeps them for as long as a connection idles.
    /// On the loop the callback's id is its timer handle (top bit set); from another
    /// thread it is a number whose handle the loop keeps in `remoteCallbacks`.
    func scheduleCallback(
        at deadline: NIODeadline,
        handler: some (NIOScheduledCallbackHandler & Sendable)
    ) throws -> NIOScheduledCallback {
        let when = deadline.uptimeNanoseconds
        if inEventLoop {
            let handle = timers.schedule(deadline: when) { [unowned self] due in
                if due { handler.handleScheduledCallback(eventLoop: self) } else { handler.didCancelScheduledCallback(eventLoop: self) }
            }
            return NIOScheduledCallback(self, id: Self.localCallback | handle.packed)
        }
        let id = nextRemoteCallback.wrappingIncrementThenLoad(ordering: .relaxed) & ~Self.localCallback
        remoteLock.withLock { _ = pendingRemoteCallbacks.insert(id) }
        execute { [self] in
            let cancelledEarly = remoteLock.withLock { () -> Bool in
                pendingRemoteCallbacks.remove(id)
                return cancelledRemoteCallbacks.remove(id) != nil
            }
            if cancelledEarly {
                handler.didCancelScheduledCallback(eventLoop: self)
                return
            }
            remoteCallbacks[id] = timers.schedule(deadline: when) { [unowned self] due in
                remoteCallbacks[id] = nil
                if due { handler.handleScheduledCallback(eventLoop: self) } else { handler.didCancelScheduledCallback(eventLoop: self) }
            }
        }
        return NIOScheduledCallback(self, id: id)
    }

    func cancelScheduledCallback(_ scheduledCallback: NIOScheduledCallback) {
        guard let id = scheduledCallback.customCallbackID else { return }
        if id & Self.localCallback == 0 {
            // Its scheduling still on its way to the loop: the loop drops it on arrival.
            let early = remoteLock.withLock { () -> Bool in
                guard pendingRemoteCallbacks.contains(id) else { return false }
                cancelledRemoteCallbacks.insert(id)
                return true
            }
            if early { return }
        }
        let cancel = { [self] in
            if id & Self.localCallback != 0 {
                timers.take(ReactorTimers.Handle(packed: id & ~Self.localCallback))?(false)
            } else if let handle = remoteCallbacks.removeValue(forKey: id) {
                timers.take(handle)?(false)
            }
        }
        if inEventLoop { cancel() } else { execute(cancel) }
    }
}

/// Carries a timer scheduled from another thread between its insertion and its
/// cancellation, both run on the loop.
private final class RemoteTimerTicket: @unchecked Sendable {
    var handle: ReactorTimers.Handle?
    var cancelled = false
}
