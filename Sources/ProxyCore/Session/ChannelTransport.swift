import NIOCore

/// A session transport over a NIO channel: the last handler of the channel's pipeline
/// (after TLS, when there is TLS), passing the channel's events to the session and the
/// session's writes down the pipeline.
final class ChannelTransport: ChannelInboundHandler, SessionTransport {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    var events: TransportEvents?
    private var context: ChannelHandlerContext?
    let eventLoop: EventLoop

    init(eventLoop: EventLoop, events: TransportEvents? = nil) {
        self.eventLoop = eventLoop
        self.events = events
    }

    /// The channel, for socket options (`silent-drop`: Runtime/RuleEffects.swift).
    var channel: Channel? { context?.channel }
    var isWritable: Bool { context?.channel.isWritable ?? false }
    var isActive: Bool { context?.channel.isActive ?? false }
    var remoteAddress: SocketAddress? { context?.channel.remoteAddress }
    var localAddress: SocketAddress? { context?.channel.localAddress }
    var tls: TLSEngine? { context.flatMap { TLSHandler.find(in: $0.channel)?.engine } }

    func read() { context?.read() }
    func write(_ buffer: ByteBuffer) { context?.write(wrapOutboundOut(buffer), promise: nil) }
    func flush() { context?.flush() }
    func writeAndFlush(_ buffer: ByteBuffer) { context?.writeAndFlush(wrapOutboundOut(buffer), promise: nil) }
    func closeOutput() { context?.close(mode: .output, promise: nil) }
    func close() { context?.close(promise: nil) }

    // MARK: - Channel events, passed on

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    /// The channel is gone: drop the context and the session, or the context (which holds
    /// this handler), this handler and the session (which holds this transport) would keep
    /// each other, and the whole channel, alive.
    func handlerRemoved(context: ChannelHandlerContext) {
        let events = self.events
        self.events = nil
        self.context = nil
        events?.transportClosed()
    }

    func channelActive(context: ChannelHandlerContext) { events?.transportActive() }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) { events?.transportRead(unwrapInboundIn(data)) }
    func channelReadComplete(context: ChannelHandlerContext) { events?.transportReadComplete() }
    func channelWritabilityChanged(context: ChannelHandlerContext) { events?.transportWritabilityChanged() }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, case .inputClosed = event { events?.transportInputClosed() }
    }

    func channelInactive(context: ChannelHandlerContext) { events?.transportClosed() }
    func errorCaught(context: ChannelHandlerContext, error: Error) { events?.transportFailed() }
}
