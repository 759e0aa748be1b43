import NIOCore

/// Health checks over TLS (`check-ssl`, `check` on a `server … ssl`, `check-sni`,
/// `httpchk` over TLS, `tcp-check connect ssl`), for the health-check engine:
///
///     // In the check connection's channelInitializer, before the check's own handler:
///     if let tls = server.makeCheckTLSHandler(sni: settings.check.sni, timeout: connectTimeout) {
///         try channel.pipeline.syncOperations.addHandler(tls)
///     }
///     // Once connected, wait for the handshake before sending anything:
///     bootstrap.connect(to: address).flatMap { TLSHandler.handshakeCompleted(on: $0) }
///
/// A failed handshake fails that future with a `TLSHandshakeError` (HAProxy reports it as
/// `Layer6 invalid response`, or `Layer6 timeout` for `.timeout`); the channel is then
/// already closed. After the handshake the check writes and reads plaintext as on a plain
/// connection (`channel.read()` as usual with autoRead off), and a close sends close_notify.
/// The handler reuses the server's TLS session between checks, as HAProxy does.
extension RuntimeServer {
    /// A TLS handler for one health-check connection to this server, or nil when its checks
    /// are plain. `sni`: the `check-sni` value (nil = the server line's `sni`); `timeout`:
    /// how long the handshake may take (the check's connect timeout).
    public func makeCheckTLSHandler(sni: String?, timeout: TimeAmount?) -> TLSHandler? {
        checkTLS?.makeHandler(handshakeTimeout: timeout, serverName: sni)
    }
}
