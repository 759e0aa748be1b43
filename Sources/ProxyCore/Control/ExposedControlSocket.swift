#if canImport(Glibc)
import Glibc
#endif
import Atomics
import NIOCore
import NIOPosix

/// A `stats socket ... expose-fd listeners`: accepted on a thread of its own rather than
/// by NIO, because `_getsocks` must write descriptors (SCM_RIGHTS) on the connection's own
/// socket, which NIO does not reveal. Each accepted connection is then handed to NIO
/// (`withConnectedSocket`) and served as on any control socket, knowing its descriptor.
final class ExposedControlSocket: @unchecked Sendable {
    private let listening: Int32
    private let stopped = ManagedAtomic(false)

    /// Starts accepting on `listening` (a bound, listening Unix socket, now ours).
    init(listening: Int32, group: EventLoopGroup, makeSession: @escaping @Sendable (Int32) -> ControlSession) {
        self.listening = listening
        let stopped = self.stopped
        Self.spawn {
            while !stopped.load(ordering: .relaxed) {
                var entry = pollfd(fd: listening, events: Int16(POLLIN), revents: 0)
                // Short polls: the stop flag is seen within 200 ms.
                guard poll(&entry, 1, 200) > 0 else { continue }
                let connection = accept(listening, nil, nil)
                guard connection >= 0 else { continue }
                _ = fcntl(connection, F_SETFD, FD_CLOEXEC)
                _ = ClientBootstrap(group: group)
                    .channelOption(.allowRemoteHalfClosure, value: true)
                    .channelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(makeSession(connection))
                        }
                    }
                    .withConnectedSocket(connection)
            }
            Glibc.close(listening)
        }
    }

    /// Stops accepting; the socket closes on the accepting thread.
    func close() {
        stopped.store(true, ordering: .relaxed)
    }

    private final class Body {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }

    private static func spawn(_ body: @escaping () -> Void) {
        var thread = pthread_t()
        let context = Unmanaged.passRetained(Body(body)).toOpaque()
        let status = pthread_create(&thread, nil, { argument in
            Unmanaged<Body>.fromOpaque(argument!).takeRetainedValue().run()
            return nil
        }, context)
        if status == 0 {
            pthread_detach(thread)
        } else {
            Unmanaged<Body>.fromOpaque(context).release()
        }
    }
}
