/// Response heads from servers: the status line and the headers, with the same header
/// semantics as requests (HeaderSemantics, HeaderBlock in HTTPHeadParser.swift).

/// What the response head says. Spans are relative to the buffer given to
/// `HTTPResponseParser.parse`.
public struct HTTPResponseHead: Sendable {
    public var start: Int = 0
    /// Bytes up to the end of the head (the body starts here).
    public var headLength: Int = 0
    public var version: HTTPVersion = .http11
    public var versionSpan: HTTPSpan = .empty
    public var status: Int = 0
    public var statusSpan: HTTPSpan = .empty
    /// Reason phrase (may be empty).
    public var reasonSpan: HTTPSpan = .empty
    public var headersStart: Int = 0
    /// Offset of the empty line that ends the head: insert added header lines here.
    public var headersEnd: Int = 0
    public var framing: HTTPBodyFraming = .none
    public var connectionClose = false
    public var connectionKeepAlive = false
    public var connectionUpgrade = false
    /// The server connection may be reused after this response's body.
    public var keepAlive = true
    public var hasUpgrade = false
    public var hasContentLength = false
    public var hasTransferEncoding = false

    /// A 1xx other than 101: another response head follows for the same request.
    @inline(__always) public var isInterim: Bool { status >= 100 && status < 200 && status != 101 }

    public init() {}
}

public struct HTTPResponseParser: Sendable {
    public var maxHeadLength: Int
    public var maxHeaders: Int
    public private(set) var head = HTTPResponseHead()
    public private(set) var headers: [HTTPHeaderField]
    /// As HTTPRequestParser's: where a folded line starts after `.obsoleteLineFolding`.
    public private(set) var foldedLineStart: Int?

    public init(maxHeadLength: Int = HTTPRequestParser.defaultMaxHeadLength,
                maxHeaders: Int = HTTPRequestParser.defaultMaxHeaders) {
        self.maxHeadLength = maxHeadLength
        self.maxHeaders = maxHeaders
        self.headers = []  // storage on the first parse: an idle connection holds none
    }

    @inline(__always)
    private func incomplete(_ n: Int) -> HTTPParseStatus {
        n >= maxHeadLength ? .error(.headTooLarge) : .incomplete
    }

    /// Parses the response head at the start of `bytes`. `requestMethod` is the
    /// method of the request this answers: responses to HEAD have no body, 2xx to
    /// CONNECT become a tunnel.
    public mutating func parse(_ bytes: UnsafeRawBufferPointer, requestMethod: HTTPMethod) -> HTTPParseStatus {
        headers.removeAll(keepingCapacity: true)
        foldedLineStart = nil
        if headers.capacity == 0 { headers.reserveCapacity(HTTPRequestParser.initialHeaderCapacity) }
        let n = bytes.count
        guard n > 0 else { return .incomplete }
        let p = bytes.bytePointer

        guard let lineStart = skipLeadingEmptyLines(p, n) else { return incomplete(n) }
        if lineStart < 0 { return .error(.bareCR) }
        var i = lineStart

        // HTTP-version SP
        while i < n && p[i] != asciiSP {
            if i - lineStart >= 8 { return .error(.invalidStatusLine) }
            i += 1
        }
        guard i < n else { return incomplete(n) }
        let version: HTTPVersion
        switch parseVersion(p, lineStart, i) {
        case .success(let v): version = v
        case .failure(let e): return .error(e == .unsupportedVersion ? e : .invalidStatusLine)
        }
        let versionSpan = HTTPSpan(offset: lineStart, length: i - lineStart)
        i += 1

        // status-code: exactly 3 digits
        guard i + 3 <= n else { return incomplete(n) }
        let d0 = p[i] &- 0x30, d1 = p[i + 1] &- 0x30, d2 = p[i + 2] &- 0x30
        guard d0 <= 9, d1 <= 9, d2 <= 9, d0 >= 1 else { return .error(.invalidStatusLine) }
        let status = Int(d0) * 100 + Int(d1) * 10 + Int(d2)
        let statusSpan = HTTPSpan(offset: i, length: 3)
        i += 3

        // [SP reason-phrase] CRLF
        guard i < n else { return incomplete(n) }
        var reasonStart = i
        if p[i] == asciiSP {
            i += 1
            reasonStart = i
        } else if p[i] != asciiCR && p[i] != asciiLF {
            return .error(.invalidStatusLine)
        }
        while true {
            guard i < n else { return incomplete(n) }
            let c = p[i]
            if c == asciiCR || c == asciiLF { break }
            if (c < 0x20 && c != asciiHT) || c == 0x7F { return .error(.invalidHeaderValue) }
            i += 1
        }
        let reasonSpan = HTTPSpan(offset: reasonStart, length: i - reasonStart)
        let fields: HeaderBlock
        switch scanHeaderBlock(p, n, startLineEnd: i, maxHeaders: maxHeaders, headers: &headers) {
        case .done(let block): fields = block
        case .incomplete: return incomplete(n)
        case .error(let e): return .error(e)
        case .fold(let line):
            foldedLineStart = line
            return .error(.obsoleteLineFolding)
        }
        let (headersStart, end, headersEnd, sem) = (fields.start, fields.end, fields.headersEnd, fields.semantics)
        if end > maxHeadLength { return .error(.headTooLarge) }
        // Both Transfer-Encoding and Content-Length (RFC 9112 §6.2: a sender MUST NOT):
        // chunked wins, as in requests; the session drops the Content-Length.

        let framing: HTTPBodyFraming
        if status == 101 || (requestMethod == .connect && status >= 200 && status < 300) {
            framing = .tunnel
        } else if requestMethod == .head || status < 200 || status == 204 || status == 304 {
            framing = .none
        } else if sem.hasTransferEncoding {
            // HTTP/1.0 with Transfer-Encoding: faulty framing, read until close
            // (RFC 9112 §6.1). A final coding other than chunked: until close (§6.3).
            framing = (version == .http11 && sem.chunkedLast && !sem.chunkedMisplaced) ? .chunked : .untilClose
        } else if sem.hasContentLength {
            framing = .contentLength(sem.contentLength)
        } else {
            framing = .untilClose
        }

        var h = HTTPResponseHead()
        h.start = lineStart
        h.headLength = end
        h.version = version
        h.versionSpan = versionSpan
        h.status = status
        h.statusSpan = statusSpan
        h.reasonSpan = reasonSpan
        h.headersStart = headersStart
        h.headersEnd = headersEnd
        h.framing = framing
        h.connectionClose = sem.connectionClose
        h.connectionKeepAlive = sem.connectionKeepAlive
        h.connectionUpgrade = sem.connectionUpgrade
        let persistent = version == .http11 ? !sem.connectionClose
                                            : (sem.connectionKeepAlive && !sem.connectionClose)
        h.keepAlive = persistent && framing != .untilClose && framing != .tunnel
        h.hasUpgrade = sem.hasUpgrade
        h.hasContentLength = sem.hasContentLength
        h.hasTransferEncoding = sem.hasTransferEncoding
        head = h
        return .complete
    }

    @inline(__always)
    public func firstHeader(_ name: StaticString, in bytes: UnsafeRawBufferPointer) -> HTTPHeaderField? {
        findHeader(headers, name, bytes)
    }

    @inline(__always)
    public func firstHeader(lowercased name: UnsafeBufferPointer<UInt8>,
                            in bytes: UnsafeRawBufferPointer) -> HTTPHeaderField? {
        findHeader(headers, name, bytes)
    }
}
