import NIOCore

/// One client connection in `mode http`: the whole life of each request on it, from the
/// bytes of its head to the last byte of its response, in one handler.
///
/// Heads are parsed in place and forwarded as slices of the bytes that came in; bodies
/// are forwarded unchanged while a tracker finds where they end. Server connections come
/// from the loop's idle pool when HAProxy's `http-reuse safe` allows it (not for the
/// first request of a client connection) and go back to it after a clean exchange.
/// Requests that arrive pipelined wait in the input buffer until the response before
/// them is complete, so answers go out in order.
///
/// The session walks named phases, one file each: accept (HTTPSession+Accept), parse,
/// route, balance, connect, forward, then the log and the ends. It talks to its client
/// and servers only through `SessionTransport`, so the same logic runs on either data
/// path.
final class HTTPSession: TransportEvents {

    enum Phase {
        /// Waiting for (the rest of) a request head.
        case readingHead
        /// A server connection is being opened for the request.
        case connecting
        /// The request is going to the server and/or the response is coming back.
        case exchanging
        /// After `101 Switching Protocols`: bytes flow both ways unchanged.
        case tunnel
        case closed
    }

    let frontend: RuntimeFrontend
    let loopStates: LoopStates
    let counters: SessionCounters
    let registry: SessionRegistry

    /// The client connection.
    let client: SessionTransport
    var loop: LoopState!
    var phase: Phase = .readingHead
    var idle: IdleTimer!
    var activated = false

    /// Client bytes received and not yet forwarded (a partial head, pipelined requests).
    var inbound: ByteBuffer?
    /// The request under way and its response (HTTPStream): made at the first byte of the
    /// first request, so that a connection that has sent nothing holds only this session.
    lazy var stream = HTTPStream(start: activatedAt)
    /// When the connection became active (accepted, and past TLS): the first stream's start.
    var activatedAt = NIODeadline.now()

    // What outlives one request: the connection's server side and its keep-alive.
    var backend: RuntimeBackend?
    var connection: ServerConnection?
    var connector: ServerConnector?
    var clientKeepAlive = true
    var isFirstRequest = true
    /// A soft stop gave this connection a last moment for its next request (closeIfIdle).
    var lingeringForStop = false

    // Backpressure.
    var clientReadPending = false
    var serverReadPending = false
    var clientInputClosed = false

    /// Addresses of this connection, computed once, for ACLs and `X-Forwarded-For`.
    var connectionFacts: ConnectionFacts!
    /// Stick counters (issue 15): the connection's and the current request's.
    var stickTrackers: StickTrackers?

    init(client: SessionTransport, frontend: RuntimeFrontend, loopStates: LoopStates,
         counters: SessionCounters, registry: SessionRegistry) {
        self.client = client
        self.frontend = frontend
        self.loopStates = loopStates
        self.counters = counters
        self.registry = registry
    }

    // MARK: - Client events (the accept phase is HTTPSession+Accept)

    func transportRead(_ buffer: ByteBuffer) {
        counters.bytesIn.add(buffer.readableBytes)
        stickTrackers?.bytesIn(buffer.readableBytes)
        if stream.log != nil { noteClientBytes(buffer.readableBytes) }
        switch phase {
        case .readingHead:
            append(buffer)
        case .connecting:
            append(buffer)
        case .exchanging:
            if stream.requestComplete {
                append(buffer)  // pipelined: waits for the response to finish
            } else {
                forwardRequestBody(buffer)
            }
        case .tunnel:
            idle.touch()
            countRequestBytes(buffer.readableBytes)  // stats (issue 4)
            connection?.transport.write(buffer)
        case .closed:
            break
        }
    }

    func transportReadComplete() {
        switch phase {
        case .readingHead:
            parseRequests()
        case .exchanging, .tunnel:
            guard let server = connection?.transport else { return }
            server.flush()
            if phase == .tunnel || !stream.requestComplete {
                if server.isWritable { readClient() } else { clientReadPending = true }
                return
            }
        case .connecting, .closed:
            break
        }
        keepReadingWhileAnswering()
    }

    /// Most of what a client can send while its request (without a body, or whose body is
    /// all in) is being answered is its next, pipelined request or its close. Reading on
    /// keeps the socket's read interest as it is: turning it off and on again around
    /// every exchange costs two `epoll_ctl` calls per request. What arrives waits in
    /// `inbound`, up to `pipelineBufferLimit`; beyond that the client waits its turn.
    func keepReadingWhileAnswering() {
        guard phase == .connecting || phase == .exchanging,
              stream.requestComplete || !stream.requestHasBody,
              (inbound?.readableBytes ?? 0) < Self.pipelineBufferLimit else { return }
        readClient()
    }

    /// HAProxy's default `tune.bufsize`: pipelined bytes a client may have in advance.
    static let pipelineBufferLimit = 16384

    func transportWritabilityChanged() {
        if client.isWritable, serverReadPending, let connection {
            serverReadPending = false
            connection.transport.read()
        }
    }

    func transportInputClosed() {
        clientInputClosed = true
        switch phase {
        case .readingHead:
            // A partial head cut short is a bad request, as HAProxy answers; nothing at
            // all (or only pipelined complete requests answered) just closes.
            if let inbound, inbound.readableBytes > 0 {
                parseRequests()
                if phase == .readingHead {
                    if stream.log != nil { stream.logPending = true; stream.log?.terminate("C", "R") }
                    sendError(400, close: true)
                }
            } else if isFirstRequest {
                closedBeforeAnyRequest()
            } else {
                close()  // between two requests: the end of a keep-alive connection
            }
        case .tunnel:
            connection?.transport.closeOutput()
        case .connecting, .exchanging:
            // The client finished sending; its answer still goes back (half-close).
            break
        case .closed:
            close()
        }
    }

    /// The connection is gone (or failed): the session ends.
    func transportClosed() { close() }

    func readClient() {
        guard !clientInputClosed, phase != .closed else { return }
        client.read()
    }

    func append(_ buffer: ByteBuffer) {
        if inbound == nil || inbound!.readableBytes == 0 {
            inbound = buffer
        } else {
            var incoming = buffer
            inbound!.writeBuffer(&incoming)
        }
    }

    // Phase state kept across the phase files.

    /// The current request head's deadline is running (from its first byte); the wait
    /// before it (after the accept, or keep-alive between requests) is not it.
    var headTimeoutStarted = false
    /// `option http-buffer-request` answered this request's `Expect: 100-continue`.
    var answeredContinue = false

    let createdAt = ProcessClock.milliseconds

    var bookkept = false
}
