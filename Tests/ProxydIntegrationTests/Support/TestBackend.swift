import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A web server the tests start behind proxyd. It answers each request with its own name
/// (so tests can see where a request went) unless a behaviour says otherwise, and counts
/// the connections and requests it saw.
final class TestBackend: @unchecked Sendable {
    enum Behaviour: Sendable {
        /// 200 with body `name`, keep-alive as the client asks.
        case named
        /// Answers after a delay.
        case slow(TimeAmount)
        /// Sends bytes that are not HTTP.
        case garbage
        /// Closes as soon as the request head is read.
        case closeWithoutResponse
        /// Reads the whole body and answers with the number of body bytes received.
        case countBody
        /// Answers `Upgrade: websocket` with 101, then echoes every byte.
        case upgradeEcho
        /// Raw TCP echo (for mode tcp).
        case tcpEcho
        /// Sends `100 Continue` when asked, then reads the body and answers its size.
        case continueThenCount
        /// Reads the whole body, then answers with the request head as received and the
        /// body's size: what the proxy forwarded.
        case echo
    }

    let name: String
    let port: Int
    let behaviour: Behaviour
    private let group: MultiThreadedEventLoopGroup
    private var channel: Channel?
    private let stats = NIOLockedValueBox(BackendStats())

    var connectionCount: Int { stats.withLockedValue { $0.connections } }
    /// Connections open now.
    var openConnections: Int { stats.withLockedValue { $0.open } }
    /// The most connections that were open at the same time.
    var peakOpenConnections: Int { stats.withLockedValue { $0.peakOpen } }
    /// The most requests that were being answered at the same time.
    var peakInFlight: Int { stats.withLockedValue { $0.peakInFlight } }
    var requestCount: Int { stats.withLockedValue { $0.requests } }
    /// Request heads as received, for header assertions.
    var heads: [String] { stats.withLockedValue { $0.heads } }

    /// `host`: another loopback address (127.0.0.2, …) for tests where DNS picks the server.
    init(name: String, behaviour: Behaviour = .named, port: Int? = nil, host: String = "127.0.0.1") throws {
        self.name = name
        self.behaviour = behaviour
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let stats = self.stats
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                stats.withLockedValue {
                    $0.connections += 1
                    $0.open += 1
                    $0.peakOpen = max($0.peakOpen, $0.open)
                }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        BackendHandler(name: name, behaviour: behaviour, stats: stats))
                }
            }
        let channel = try bootstrap.bind(host: host, port: port ?? 0).wait()
        self.channel = channel
        self.port = channel.localAddress!.port!
    }

    /// Idempotent: a second call (the deinit after an explicit stop) would wait forever
    /// for a close on a loop that is gone.
    func stop() {
        guard let channel else { return }
        self.channel = nil
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }

    deinit { stop() }
}

private final class BackendHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let name: String
    let behaviour: TestBackend.Behaviour
    let stats: NIOLockedValueBox<BackendStats>
    var buffer: [UInt8] = []
    var tunnel = false
    /// Body bytes still expected for the current request (counting behaviours).
    var bodyRemaining: Int? = nil
    var chunked = false
    var bodyCount = 0
    /// The head of the request being read (`echo`).
    var echoedHead: String?

    init(name: String, behaviour: TestBackend.Behaviour,
         stats: NIOLockedValueBox<BackendStats>) {
        self.name = name
        self.behaviour = behaviour
        self.stats = stats
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        let bytes = incoming.readBytes(length: incoming.readableBytes) ?? []
        if tunnel || { if case .tcpEcho = behaviour { return true } else { return false } }() {
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: bytes)), promise: nil)
            return
        }
        buffer += bytes
        process(context: context)
    }

    func process(context: ChannelHandlerContext) {
        while true {
            if bodyRemaining != nil || chunked {
                guard consumeBody() else { return }
                answer(context: context, body: echoedHead.map { "\($0)\r\n\r\n\(bodyCount) body bytes" } ?? "\(bodyCount)")
                echoedHead = nil
                continue
            }
            guard let end = HTTPTestResponse.find([13, 10, 13, 10], in: buffer, from: 0) else { return }
            let head = String(decoding: buffer[0..<end], as: UTF8.self)
            buffer.removeFirst(end + 4)
            stats.withLockedValue {
                $0.requests += 1
                $0.heads.append(head)
                $0.inFlight += 1
                $0.peakInFlight = max($0.peakInFlight, $0.inFlight)
            }
            let lower = head.lowercased()
            let contentLength = lower.components(separatedBy: "\r\n")
                .first { $0.hasPrefix("content-length:") }
                .flatMap { Int($0.dropFirst(15).trimmingCharacters(in: .whitespaces)) } ?? 0
            let isChunked = lower.contains("transfer-encoding: chunked")
            switch behaviour {
            case .named, .tcpEcho:
                buffer.removeFirst(min(contentLength, buffer.count))
                answer(context: context, body: name)
            case .slow(let delay):
                context.eventLoop.scheduleTask(in: delay) { self.answer(context: context, body: self.name) }
                return
            case .garbage:
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "this is not http\r\n\r\n")), promise: nil)
                context.close(promise: nil)
                return
            case .closeWithoutResponse:
                context.close(promise: nil)
                return
            case .countBody, .continueThenCount, .echo:
                if case .echo = behaviour { echoedHead = head }
                if case .continueThenCount = behaviour, lower.contains("expect: 100-continue") {
                    context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "HTTP/1.1 100 Continue\r\n\r\n")), promise: nil)
                }
                bodyCount = 0
                if isChunked { chunked = true } else { bodyRemaining = contentLength }
            case .upgradeEcho:
                if lower.contains("upgrade: websocket") {
                    tunnel = true
                    let reply = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
                    context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: reply)), promise: nil)
                    if !buffer.isEmpty {
                        context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: buffer)), promise: nil)
                        buffer.removeAll()
                    }
                    return
                }
                answer(context: context, body: name)
            }
        }
    }

    /// Consumes body bytes from `buffer`; true when the body is complete.
    func consumeBody() -> Bool {
        if let remaining = bodyRemaining {
            let take = min(remaining, buffer.count)
            bodyCount += take
            buffer.removeFirst(take)
            bodyRemaining = remaining - take
            if bodyRemaining == 0 { bodyRemaining = nil; return true }
            return false
        }
        // Chunked: size line, data, CRLF … until the zero chunk and its final CRLF.
        while true {
            guard let lineEnd = HTTPTestResponse.find([13, 10], in: buffer, from: 0) else { return false }
            let text = String(decoding: buffer[0..<lineEnd], as: UTF8.self)
            guard let size = Int(text.split(separator: ";").first.map(String.init) ?? "", radix: 16) else { return false }
            if size == 0 {
                guard let end = HTTPTestResponse.find([13, 10, 13, 10], in: buffer, from: lineEnd) else { return false }
                buffer.removeFirst(end + 4)
                chunked = false
                return true
            }
            guard buffer.count >= lineEnd + 2 + size + 2 else {
                // Consume what is here of a large chunk to keep memory bounded.
                let available = buffer.count - (lineEnd + 2)
                if available > 0, size > 65536 {
                    bodyCount += available
                    buffer.removeSubrange((lineEnd + 2)..<buffer.count)
                    let remainingSize = size - available
                    buffer.replaceSubrange(0..<lineEnd, with: Array(String(remainingSize, radix: 16).utf8))
                }
                return false
            }
            bodyCount += size
            buffer.removeFirst(lineEnd + 2 + size + 2)
        }
    }

    func answer(context: ChannelHandlerContext, body: String) {
        stats.withLockedValue { $0.inFlight -= 1 }
        let reply = "HTTP/1.1 200 OK\r\nContent-Length: \(body.utf8.count)\r\nX-Server: \(name)\r\n\r\n\(body)"
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: reply)), promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, case .inputClosed = event {
            if case .tcpEcho = behaviour {
                // Half-close: say goodbye after the peer stopped sending, then close.
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "bye\n")), promise: nil)
            }
            context.close(mode: .output, promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        stats.withLockedValue { $0.open -= 1 }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) { context.close(promise: nil) }
}

struct BackendStats {
    var connections = 0
    var open = 0
    var peakOpen = 0
    var inFlight = 0
    var peakInFlight = 0
    var requests = 0
    var heads: [String] = []
}
