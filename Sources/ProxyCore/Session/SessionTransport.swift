import NIOCore

/// The connection a session talks through, client or server side, whichever data path
/// carries it: NIO's channel pipeline (ChannelTransport) or proxyd's own reactor. A
/// session sees only this, so the protocol logic does not depend on how bytes move.
///
/// Every call is made on the transport's event loop. Writes are queued until `flush`;
/// `read` asks for the next bytes (sessions read only when they can take more, which is
/// the backpressure between the two sides).
protocol SessionTransport: AnyObject {
    /// Who hears this connection's events; the transport holds it until it is closed.
    var events: TransportEvents? { get set }
    var eventLoop: EventLoop { get }
    /// Writes would not queue up beyond the high-water mark.
    var isWritable: Bool { get }
    /// Open, and not known to be closed by the peer.
    var isActive: Bool { get }
    var remoteAddress: SocketAddress? { get }
    var localAddress: SocketAddress? { get }
    /// The TLS layer of a connection whose TLS ends here (issue 5), nil for plain ones.
    var tls: TLSEngine? { get }

    func read()
    func write(_ buffer: ByteBuffer)
    func flush()
    func writeAndFlush(_ buffer: ByteBuffer)
    /// Half-close: no more bytes go out; the peer may still send.
    func closeOutput()
    func close()
    /// Closes once what was written has gone out, or when `limit` has passed: both ends of
    /// a stream are done, but its last bytes must still reach the peer.
    func closeAfterWrites(within limit: TimeAmount)
}

/// What a transport tells its session, on the transport's event loop.
protocol TransportEvents: AnyObject {
    /// A client connection is ready (after its TLS handshake, if any).
    func transportActive()
    func transportRead(_ buffer: ByteBuffer)
    /// The end of a burst of reads: time to parse or flush what came.
    func transportReadComplete()
    func transportWritabilityChanged()
    /// The peer half-closed: nothing more will come.
    func transportInputClosed()
    /// The connection is gone (closed, reset or failed); may come more than once.
    func transportClosed()
    /// The connection failed (a reset, an error), before it is gone.
    func transportFailed()
    /// `count` bytes of input went on to the other connection by kernel splicing
    /// (NativeConnection.splice(into:)), unseen: for the counters.
    func transportSpliced(_ count: Int)
}

extension TransportEvents {
    /// Most sessions treat a failure as the end.
    func transportFailed() { transportClosed() }
    /// Only `mode tcp` sessions splice.
    func transportSpliced(_ count: Int) {}
}

extension SessionTransport {
    /// Transports that cannot tell when their writes are out close at once.
    func closeAfterWrites(within limit: TimeAmount) { close() }
}
