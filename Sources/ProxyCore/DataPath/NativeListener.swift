#if canImport(Glibc)
import Glibc
#endif
import NIOConcurrencyHelpers
import NIOCore

/// A listening socket of data path v2, served by every reactor: each registers it
/// (level-triggered) and accepts a bounded batch per event, so one busy listener cannot
/// starve the connections already open.
final class NativeListener: Listener, @unchecked Sendable {
    let descriptor: CInt
    private let acceptors: [Acceptor]
    private let closing = NIOLockedValueBox(false)

    /// `accepted` runs on the connection's reactor, once it is registered: it gives the
    /// connection a session and tells it it is active. `failed` hears each errno that
    /// made `accept` give up for a while (out of descriptors or memory), to log it.
    init(descriptor: CInt, contexts: [NativeLoopContext], failed: @escaping (CInt) -> Void = { _ in },
         accepted: @escaping (NativeConnection) -> Void) {
        self.descriptor = descriptor
        let local = Self.fixedLocalAddress(of: descriptor)
        acceptors = contexts.map {
            Acceptor(descriptor: descriptor, local: local, context: $0, failed: failed, accepted: accepted)
        }
    }

    /// The local address every accepted connection has, when the socket is bound to one
    /// address (not a wildcard): then no connection needs a `getsockname` of its own.
    private static func fixedLocalAddress(of fd: CInt) -> SocketAddress? {
        guard let address = NativeSyscalls.localAddress(fd) else { return nil }
        switch address {
        case .v4(let v4) where v4.address.sin_addr.s_addr == 0: return nil
        case .v6(let v6) where withUnsafeBytes(of: v6.address.sin6_addr, { $0.allSatisfy { $0 == 0 } }): return nil
        case .v6(let v6) where withUnsafeBytes(of: v6.address.sin6_addr, { Array($0[0..<12]) == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF] }):
            return nil  // an IPv4-mapped listener: accepted sockets may differ
        default: return address
        }
    }

    /// Starts accepting (or, `paused`, only registers: `setAccepting(true)` starts).
    func start(paused: Bool = false) throws {
        for acceptor in acceptors {
            try acceptor.context.reactor.submit { try acceptor.register(paused: paused) }.wait()
        }
    }

    func setAccepting(_ accepting: Bool) {
        for acceptor in acceptors {
            acceptor.context.reactor.execute { acceptor.setAccepting(accepting) }
        }
    }

    /// Every reactor forgets the socket; the last one closes it.
    func close() {
        let already = closing.withLockedValue { closing -> Bool in
            defer { closing = true }
            return closing
        }
        guard !already else { return }
        let remaining = ManagedCounter(acceptors.count)
        let fd = descriptor
        for acceptor in acceptors {
            acceptor.context.reactor.execute {
                acceptor.unregister()
                if remaining.decrement() == 0 { Glibc.close(fd) }
            }
        }
    }
}

/// A count shared by the reactors closing one listener.
private final class ManagedCounter: @unchecked Sendable {
    private let value: NIOLockedValueBox<Int>
    init(_ value: Int) { self.value = NIOLockedValueBox(value) }
    func decrement() -> Int { value.withLockedValue { $0 -= 1; return $0 } }
}

/// One reactor's side of a listener: on epoll, a level-triggered registration and
/// `accept4` in batches; on io_uring, accept requests whose completions bring the new
/// descriptors and their peers' addresses.
private final class Acceptor: DescriptorHandler, AcceptCompletionHandler, @unchecked Sendable {
    let descriptor: CInt
    let context: NativeLoopContext
    private let local: SocketAddress?
    private let accepted: (NativeConnection) -> Void
    private let failed: (CInt) -> Void
    private var registered = false
    /// Whether the listener is in the reactor's interest now…
    private var accepting = false
    /// …whether the runtime wants it to accept (maxconn, `disable frontend`)…
    private var wanted = true
    /// …and whether a failed accept holds it off for a moment, whatever is wanted.
    private var pausedAfterFailure = false

    /// Accepts per event at most this many (HAProxy's `tune.maxaccept` is 64 too).
    static let batch = 64

    init(descriptor: CInt, local: SocketAddress?, context: NativeLoopContext, failed: @escaping (CInt) -> Void,
         accepted: @escaping (NativeConnection) -> Void) {
        self.descriptor = descriptor
        self.local = local
        self.context = context
        self.failed = failed
        self.accepted = accepted
    }

    func register(paused: Bool) throws {
        if context.reactor.acceptsInKernel {
            try context.reactor.registerAcceptor(descriptor, handler: self)
        } else {
            try context.reactor.registerListener(descriptor, handler: self)
        }
        registered = true
        accepting = true
        if paused { setAccepting(false) }
    }

    /// What the runtime asks; applied now, or at the end of a pause after a failure.
    func setAccepting(_ on: Bool) {
        wanted = on
        if !pausedAfterFailure { apply(on) }
    }

    private func apply(_ on: Bool) {
        guard registered, on != accepting else { return }
        accepting = on
        if on { try? context.reactor.resumeListener(descriptor) } else { try? context.reactor.pauseListener(descriptor) }
    }

    func unregister() {
        guard registered else { return }
        registered = false
        context.reactor.unregisterListener(descriptor)
    }

    func descriptorReady(_ events: UInt32) {
        guard registered, accepting else { return }
        for _ in 0..<Self.batch {
            guard let result = NativeSyscalls.accept(descriptor) else { return }
            guard result.fd >= 0 else {
                acceptFailed(result.error)
                return
            }
            let connection = NativeConnection(accepted: result.fd, remote: result.remote, local: local, context: context)
            do {
                try context.reactor.register(result.fd, handler: connection)
            } catch {
                Glibc.close(result.fd)
                continue
            }
            accepted(connection)
        }
    }

    func connectionAccepted(_ fd: CInt, remote: SocketAddress?) {
        let connection = NativeConnection(accepted: fd, remote: remote, local: local, context: context)
        do {
            try context.reactor.register(fd, handler: connection)
        } catch {
            Glibc.close(fd)
            return
        }
        accepted(connection)
    }

    func acceptStopped(_ error: CInt) {
        acceptFailed(error)
    }

    /// Out of descriptors (EMFILE, ENFILE) or memory: the connection waits in the kernel's
    /// queue; accepting pauses a moment rather than spinning on a ready listener (the
    /// listener is level-triggered: it stays ready while the queue holds a connection).
    /// Each failure is reported, so a full table logs once per retry, as HAProxy does.
    private func acceptFailed(_ error: CInt) {
        guard accepting else { return }
        failed(error)
        pausedAfterFailure = true
        apply(false)
        _ = context.reactor.scheduleTask(in: ResourceShortageLog.retryDelay) { [self] in
            pausedAfterFailure = false
            apply(wanted)
        }
    }
}
