import NIOCore

/// One request and its response: what the phases (parse, route, balance, connect, forward,
/// respond, log) know of the exchange under way, apart from the client connection that
/// carries it (HTTPSession).
///
/// On HTTP/1.1 a connection carries one stream at a time, so the session keeps one and
/// readies it for each next request (keep-alive, pipelining) instead of making another:
/// the parsers keep their header arrays, and no allocation is added per request. It is
/// made at the first byte of the first request, so that a connection that has sent
/// nothing yet (the most common idle state, and what a connection flood holds) costs only
/// its session: the parsers, framers, kept heads and log record are most of the memory of
/// a connection. Multiplexed protocols are the next step: several streams per session,
/// each walking the phases on its own.
final class HTTPStream {
    var requestParser = HTTPRequestParser()
    var responseParser = HTTPResponseParser()
    var requestBody = HTTPBodyFramer(framing: .none)
    var responseBody = HTTPBodyFramer(framing: .none)
    /// The response runs until the server closes (no length given).
    var responseUntilClose = false
    /// Server bytes of a response head not yet complete.
    var responseHeadBuffer: ByteBuffer?

    var requestMethod: HTTPMethod = .get
    var requestHasBody = false
    var requestComplete = false
    var responseHeadDone = false
    /// Some byte of the current response reached the client: too late for an error page.
    var responseStarted = false
    var clientIsHTTP10 = false
    var serverReusable = true
    var retriedOnReusedConnection = false

    /// Header edits for the request being forwarded (rules, forwardfor, Connection).
    var requestRewrite = HeadRewrite()

    /// Traffic log record of the current request (Logging/TrafficLog): only when the
    /// frontend logs; `logPending` while a request is under way and not yet logged. A
    /// logging frontend makes the stream at the accept, which the record dates.
    var log: SessionLogRecord?
    var logPending = false
    /// The steps of the current request, for the qtime/ctime/rtime/ttime statistics.
    var times: ExchangeTimes

    /// The request and its head, kept for the response rules that read them.
    var requestForResponseRules: (bytes: ByteBuffer, head: HTTPRequestHead)?
    /// The server the balancer gave this request.
    var chosenServer: RuntimeServer?
    /// The balancer took a slot on `chosenServer` for this request, not yet handed to a
    /// connection (a retry on a fresh connection takes its own).
    var chosenSlotTaken = false
    var lastBackendIndex: Int?
    /// The server whose connection the previous request left idle, for `option
    /// prefer-last-server` (issue 15).
    var lastServer: RuntimeServer?
    /// Cookie persistence's decision for this request (issue 15), read by its response.
    var persistence = PersistenceDecision()
    /// `compression` (issue 15): the algorithm the request chose, then the response's
    /// body compressor when the response is compressed.
    var compression: CompressionAlgorithm?
    var compressedBody: CompressedBody?

    /// The head waiting to be written once a server connection is there.
    /// Its header spans are the request parser's, which stay put until the next request
    /// is parsed, after this exchange (no copy of the array, so the parser never
    /// reallocates it).
    var pendingHead: (bytes: ByteBuffer, head: HTTPRequestHead)?

    /// The inputs of this request for dynamic `sni` expressions (TLS, issue 5).
    var serverNames = ServerNameInputs()

    /// The head of a request sent on a reused connection, kept until the response
    /// starts so that a connection the server had just closed can be replaced once.
    var keptHeadForRetry: (bytes: ByteBuffer, head: HTTPRequestHead)?
    /// `retry-on` statuses (Session/HTTPSession+RetryOn.swift): the head to send again, and
    /// how many times it was.
    var headForStatusRetry: (bytes: ByteBuffer, head: HTTPRequestHead)?
    var statusRetries = 0

    /// `start`: when the connection became active (its first request's times count from
    /// the accept, as HAProxy's first stream does, not from when this object was made).
    init(start: NIODeadline) {
        times = ExchangeTimes(start: start)
    }
}
