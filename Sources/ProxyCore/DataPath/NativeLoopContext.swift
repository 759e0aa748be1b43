import NIOCore

/// Work a connection postpones to the end of the current event: a read the session asked
/// for while the socket was already readable, or telling it of a close.
protocol DeferredWork: AnyObject {
    func runDeferred()
}

/// What the connections of one reactor share: the scratch buffer every read lands in
/// before it is copied into a buffer of its exact size, the allocator, and the list of
/// postponed work. Lives on its reactor's thread.
final class NativeLoopContext {
    let reactor: Reactor
    /// One read takes at most this much (HAProxy reads up to its 16 KiB buffer; more
    /// per read costs nothing on small messages and saves calls on large ones).
    static let scratchSize = 65536
    let scratch: UnsafeMutableRawBufferPointer
    let allocator = ByteBufferAllocator()
    private var deferred: [DeferredWork] = []
    private var running: [DeferredWork] = []

    init(reactor: Reactor) {
        self.reactor = reactor
        scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.scratchSize, alignment: 16)
        // The hook is set on the reactor's own thread (it runs already).
        reactor.execute { [unowned self] in reactor.afterEvents = { [unowned self] in self.runDeferred() } }
    }

    deinit { scratch.deallocate() }

    /// Runs `work.runDeferred()` once the current event is handled.
    func later(_ work: DeferredWork) {
        deferred.append(work)
    }

    private func runDeferred() {
        // Work may postpone more work: run until none is left.
        while !deferred.isEmpty {
            swap(&deferred, &running)
            for work in running { work.runDeferred() }
            running.removeAll(keepingCapacity: true)
        }
    }
}
