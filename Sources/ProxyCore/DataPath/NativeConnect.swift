#if canImport(Glibc)
import Glibc
#endif
import NIOCore

/// The connect of data path v2, for every caller that opens a connection to a server: the
/// session's `ServerConnector` and the health checks' `CheckRunner`.
extension NativeConnection {
    /// A non-blocking connect to `address` on `context`'s reactor, bounded by `timeout`
    /// (`timeout connect`; nil = the kernel's own). `completion` runs once, on the reactor
    /// and never inside this call: with the open connection, or with why it failed (an
    /// `IOError` with the errno, or `ChannelError.connectTimeout`). A failed connection is
    /// already closed.
    ///
    /// Returns the connection under way, for the caller to `close()` if it gives up first
    /// (then nobody is told), or nil when no socket could be had (the failure comes the same
    /// way). Never calling back from inside means the caller may store what this returns
    /// after the call, without the completion having found it unset.
    ///
    /// `delayedAck`: the handshake's last ACK waits for the first bytes we send (health
    /// checks, see `NativeSyscalls.startConnect`).
    static func connect(to address: SocketAddress, context: NativeLoopContext, timeout: TimeAmount?,
                        delayedAck: Bool = false, source: (address: SocketAddress, transparent: Bool)? = nil,
                        completion: @escaping (Result<NativeConnection, Error>) -> Void) -> NativeConnection? {
        let reactor = context.reactor
        let started = NativeSyscalls.startConnect(to: address, delayedAck: delayedAck, source: source)
        guard started.fd >= 0 else {
            let error = IOError(errnoCode: started.error, reason: "connect")
            reactor.execute { completion(.failure(error)) }
            return nil
        }
        // The connection keeps this closure until the connect ends (`onConnected`), and
        // drops it then: the reference back to itself lasts no longer than the attempt.
        var connection: NativeConnection!
        connection = NativeConnection(connecting: started.fd, remote: address, context: context) { error in
            let connected = connection!
            connection = nil
            if error == 0 {
                completion(.success(connected))
            } else {
                connected.abandonConnect()
                completion(.failure(error == ETIMEDOUT && timeout != nil
                    ? ChannelError.connectTimeout(timeout!)
                    : IOError(errnoCode: error, reason: "connect")))
            }
        }
        let attempt = connection!
        do {
            try reactor.register(started.fd, handler: attempt)
        } catch {
            attempt.abandonConnect()
            connection = nil
            reactor.execute { completion(.failure(error)) }
            return nil
        }
        if !started.inProgress {
            // Connected at once (a Unix socket): the edge still comes, but nothing waits for
            // it. Told at the end of this turn, as promised above.
            reactor.execute { attempt.completeConnectNow() }
            return attempt
        }
        if let timeout {
            attempt.connectTimer = reactor.runAfter(timeout) { [weak attempt] in
                attempt?.connectTimer = nil
                attempt?.failConnect(ETIMEDOUT)
            }
        }
        return attempt
    }
}
