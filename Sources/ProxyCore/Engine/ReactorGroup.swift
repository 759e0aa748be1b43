import Atomics
import Dispatch
import NIOCore

/// N reactors, one thread each, handed out round-robin: the data path's `EventLoopGroup`.
final class ReactorGroup: EventLoopGroup, @unchecked Sendable {
    let reactors: [Reactor]
    private let nextIndex = ManagedAtomic<Int>(0)

    /// Starts `count` reactors named "\(namePrefix)0", "\(namePrefix)1", … (Linux shows 15
    /// characters of a thread name).
    init(count: Int, namePrefix: String = "proxyd-dp-") {
        precondition(count > 0, "a ReactorGroup needs at least one reactor")
        reactors = (0..<count).map { Reactor(name: "\(namePrefix)\($0)") }
        for reactor in reactors { reactor.start() }
    }

    func next() -> EventLoop {
        nextReactor()
    }

    /// `next()` without the existential: the data path registers descriptors on it.
    func nextReactor() -> Reactor {
        reactors[Int(nextIndex.loadThenWrappingIncrement(ordering: .relaxed).magnitude % UInt(reactors.count))]
    }

    func makeIterator() -> EventLoopIterator {
        EventLoopIterator(reactors)
    }

    /// Stops every reactor; `callback` runs on `queue` once all threads are done.
    func shutdownGracefully(queue: DispatchQueue, _ callback: @escaping @Sendable (Error?) -> Void) {
        let group = DispatchGroup()
        for reactor in reactors {
            group.enter()
            reactor.shutdownGracefully(queue: queue) { _ in group.leave() }
        }
        group.notify(queue: queue) { callback(nil) }
    }

    /// Stops every reactor and waits for their threads. Not from one of them.
    func stop() {
        for reactor in reactors { reactor.stop() }
    }
}
