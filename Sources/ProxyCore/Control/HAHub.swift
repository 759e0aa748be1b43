#if canImport(Glibc)
import Glibc
#endif
import Atomics
import NIOConcurrencyHelpers
import NIOCore

/// What `subscribe ha` clients (vrrpd) learn and when: whether each frontend can reach a
/// usable server, and whether the process is stopping (docs/ha-protocol.md).
///
/// Server state changes reach the hub through `ProxyRuntime.usabilityObserver`, on
/// whatever thread made them. They cost the caller one atomic exchange: the frontends are
/// recomputed on one event loop a few milliseconds later, so that a burst of changes (a
/// whole backend going down) makes one pass and at most one line per frontend, and a
/// flood of them never slows the data path or the health checks.
public final class HAHub: @unchecked Sendable {
    /// Lines and state that vrrpd reads: keep in step with docs/ha-protocol.md.
    static let protocolVersion = 1
    /// The wait offered to hold subscribers when `grace` is not configured.
    public static let defaultGraceMilliseconds = 3000
    /// Changes closer together than this make one pass.
    static let coalescing = TimeAmount.milliseconds(5)

    /// A frontend and the backends its traffic can go to; none means it answers by
    /// itself (stats page, `http-request return`) and is always up.
    struct Watched {
        let name: String
        let targets: [RuntimeBackend]

        var isUp: Bool {
            targets.isEmpty || targets.contains { backend in
                // A backend without any server line (a stats page) serves by itself.
                backend.servers.isEmpty || backend.servers.contains { $0.isUsable.load(ordering: .relaxed) }
            }
        }
    }

    /// How long a stop waits for hold subscribers (`grace`, else the default).
    public let graceMilliseconds: Int
    /// The network namespace this process serves, as vrrpd compares it to its own.
    let networkNamespace: UInt64
    private let watched: [Watched]
    private let loop: EventLoop
    private weak var runtime: ProxyRuntime?
    /// Subscribers that asked for `drain`: while any does, the listeners drop new SYNs.
    private var draining: Set<ObjectIdentifier> = []
    private let recomputeScheduled = ManagedAtomic(false)

    private let lock = NIOLock()
    // Under `lock`:
    private var published: [Bool]
    private var subscribers: [ObjectIdentifier: HASubscription] = [:]
    private var stopping = false

    init(runtime: ProxyRuntime, grace: Int?) {
        self.graceMilliseconds = grace ?? Self.defaultGraceMilliseconds
        self.networkNamespace = Self.networkNamespaceInode()
        self.watched = runtime.frontends.map { Watched(name: $0.name, targets: Self.targets(of: $0)) }
        self.published = watched.map(\.isUp)
        self.loop = runtime.group.next()
        self.runtime = runtime
        runtime.usabilityObserver = { [weak self] in self?.serverUsabilityChanged() }
    }

    /// Where a frontend's traffic may go: its default backend (a listen section's own),
    /// else every static `use_backend` target.
    static func targets(of frontend: RuntimeFrontend) -> [RuntimeBackend] {
        if let backend = frontend.router.defaultBackend { return [backend] }
        var seen = Set<ObjectIdentifier>()
        return frontend.router.rules.compactMap(\.backend).filter { seen.insert(ObjectIdentifier($0)).inserted }
    }

    /// st_ino of /proc/self/ns/net, read while /proc is still reachable (before chroot);
    /// 0 when it is not there.
    static func networkNamespaceInode() -> UInt64 {
        var info = stat()
        return stat("/proc/self/ns/net", &info) == 0 ? UInt64(info.st_ino) : 0
    }

    // MARK: subscribers

    /// Registers `subscriber` and returns its snapshot, up to `ready`. Events published
    /// after this are sent to it; none before is missed, since the snapshot is the
    /// published state taken under the same lock.
    func register(_ subscriber: HASubscription) -> String {
        lock.withLock {
            subscribers[ObjectIdentifier(subscriber)] = subscriber
            var text = "proxyd-ha \(Self.protocolVersion) pid=\(getpid()) netns=\(networkNamespace) "
                + "state=\(stopping ? "stopping" : "serving") grace=\(graceMilliseconds)\n"
            for (frontend, up) in zip(watched, published) {
                text += "frontend \(frontend.name) \(up ? "up" : "down")\n"
            }
            return text + "ready\n"
        }
    }

    func unregister(_ subscriber: HASubscription) {
        lock.withLock { _ = subscribers.removeValue(forKey: ObjectIdentifier(subscriber)) }
        // A vrrpd that went away cannot lift its drain: never leave the listeners deaf.
        setDraining(false, by: subscriber)
    }

    /// `drain` / `undrain`: while any subscriber drains, the listeners drop new SYNs
    /// silently (the client retransmits, by then to the node that took the VIP over) and
    /// the connections already made go on. A handover then has nothing in flight when the
    /// clients' traffic moves.
    func setDraining(_ on: Bool, by subscriber: HASubscription) {
        let change: Bool? = lock.withLock {
            let before = !draining.isEmpty
            if on { draining.insert(ObjectIdentifier(subscriber)) } else { draining.remove(ObjectIdentifier(subscriber)) }
            let after = !draining.isEmpty
            return before == after ? nil : after
        }
        if let change { runtime?.setListenersDropNewConnections(change, includingShared: true) }
    }

    /// `release`: the subscriber no longer holds the stop.
    func release(_ subscriber: HASubscription) {
        lock.withLock { subscriber.holds = false }
    }

    /// Hold subscribers connected that have not released.
    public var pendingHolds: Int {
        lock.withLock { subscribers.values.filter(\.holds).count }
    }

    public var subscriberCount: Int {
        lock.withLock { subscribers.count }
    }

    // MARK: events

    /// A stop begins: every subscriber hears it once; later ones see `state=stopping`.
    public func beginStopping() {
        let targets: [HASubscription] = lock.withLock {
            guard !stopping else { return [] }
            stopping = true
            return Array(subscribers.values)
        }
        for subscriber in targets { subscriber.send("state stopping grace=\(graceMilliseconds)\n") }
    }

    /// Called from any thread when a server became usable or unusable.
    func serverUsabilityChanged() {
        guard recomputeScheduled.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            return  // a pass is already due and will see this change too
        }
        loop.scheduleTask(in: Self.coalescing) { [self] in recompute() }
    }

    private func recompute() {
        // Cleared first: a change made during this pass schedules the next one.
        recomputeScheduled.store(false, ordering: .releasing)
        let now = watched.map(\.isUp)
        let (lines, targets): (String, [HASubscription]) = lock.withLock {
            var lines = ""
            for index in watched.indices where now[index] != published[index] {
                lines += "frontend \(watched[index].name) \(now[index] ? "up" : "down")\n"
            }
            published = now
            return (lines, lines.isEmpty ? [] : Array(subscribers.values))
        }
        // Written outside the lock: a failing write may close the channel, whose handler
        // then unregisters (and takes the lock).
        for subscriber in targets { subscriber.send(lines) }
    }

    /// `show ha`: the published state and who listens.
    func describe() -> String {
        lock.withLock {
            var text = "state \(stopping ? "stopping" : "serving") grace=\(graceMilliseconds)\n"
            for (frontend, up) in zip(watched, published) {
                text += "frontend \(frontend.name) \(up ? "up" : "down")\n"
            }
            for subscriber in subscribers.values.sorted(by: { $0.number < $1.number }) {
                text += "subscriber \(subscriber.number) \(subscriber.holds ? "hold" : "plain")"
                    + (draining.contains(ObjectIdentifier(subscriber)) ? " draining" : "") + "\n"
            }
            return text
        }
    }
}
