import NIOCore
import NIOPosix

/// DNS over TCP (`nameserver NAME tcp@ADDR:PORT`, RFC 7766): one connection per
/// nameserver, opened when a query needs it and kept for the next ones. Queries are
/// pipelined and answers matched by their id, as over UDP; each message travels behind its
/// two-byte length (RFC 1035 4.2.2). A connection the nameserver closes (idle servers do)
/// is opened again by the next query. Loop-confined to the section's loop.
final class DNSStreamConnection {
    private let loop: EventLoop
    private let address: SocketAddress
    /// A whole answer, on the loop.
    private let onMessage: ([UInt8]) -> Void
    /// A query that could not be sent (connection refused or lost before it went).
    private let onSendError: () -> Void
    private var channel: Channel?
    private var connecting = false
    /// Queries waiting for the connection.
    private var queued: [[UInt8]] = []
    private var closed = false

    init(loop: EventLoop, address: SocketAddress, onMessage: @escaping ([UInt8]) -> Void,
         onSendError: @escaping () -> Void) {
        self.loop = loop
        self.address = address
        self.onMessage = onMessage
        self.onSendError = onSendError
    }

    func send(_ message: [UInt8]) {
        loop.preconditionInEventLoop()
        guard !closed else { return }
        if let channel, channel.isActive {
            write(message, on: channel)
            return
        }
        queued.append(message)
        connect()
    }

    func close() {
        closed = true
        channel?.close(promise: nil)
        channel = nil
        queued.removeAll()
    }

    private func connect() {
        guard !connecting else { return }
        connecting = true
        ClientBootstrap(group: loop)
            .connectTimeout(.seconds(5))
            .channelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers(ByteToMessageHandler(DNSStreamFramer()),
                                                                    DNSStreamHandler(connection: self))
                }
            }
            .connect(to: address)
            .whenComplete { [self] result in
                connecting = false
                switch result {
                case .success(let opened):
                    if closed {
                        opened.close(promise: nil)
                        return
                    }
                    channel = opened
                    let waiting = queued
                    queued.removeAll()
                    for message in waiting { write(message, on: opened) }
                case .failure:
                    for _ in queued { onSendError() }
                    queued.removeAll()
                }
            }
    }

    private func write(_ message: [UInt8], on channel: Channel) {
        var buffer = channel.allocator.buffer(capacity: message.count + 2)
        buffer.writeInteger(UInt16(truncatingIfNeeded: message.count))
        buffer.writeBytes(message)
        channel.writeAndFlush(buffer).whenFailure { [self] _ in onSendError() }
    }

    fileprivate func received(_ message: [UInt8]) { onMessage(message) }

    fileprivate func lost(_ lostChannel: Channel) {
        if channel === lostChannel { channel = nil }
    }
}

/// Cuts the byte stream into messages at their two-byte lengths.
private struct DNSStreamFramer: ByteToMessageDecoder {
    typealias InboundOut = [UInt8]

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt16.self),
              buffer.readableBytes >= 2 + Int(length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 2)
        let message = buffer.readBytes(length: Int(length)) ?? []
        context.fireChannelRead(wrapInboundOut(message))
        return .continue
    }
}

private final class DNSStreamHandler: ChannelInboundHandler {
    typealias InboundIn = [UInt8]
    private let connection: DNSStreamConnection

    init(connection: DNSStreamConnection) { self.connection = connection }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        connection.received(unwrapInboundIn(data))
    }

    func channelInactive(context: ChannelHandlerContext) {
        connection.lost(context.channel)
        context.fireChannelInactive()
    }

    /// A reset or a read error ends the connection; the next query opens another.
    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}
