// HTTP/1.x request and response head parsers (RFC 9112), in place and in one pass.
//
// The engine hands the readable bytes of its buffer; the parser finds the spans of
// the start line and of every header field, and computes the framing and connection
// semantics on the way. Header spans go into an array the parser owns and reuses, so
// after warm-up a parse allocates nothing. Re-parsing from the start when more bytes
// arrive is the intended use (`.incomplete` → call again with the longer buffer).
//
// From a NIO handler (one parser per connection, kept in the handler):
//
//     let status = buffer.withUnsafeReadableBytes { requestParser.parse($0) }
//     switch status {
//     case .incomplete: return                       // wait for more bytes
//     case .error(let e): reply(e.requestStatusCode)  // 400 (505 for a bad version)
//     case .complete:
//         let head = requestParser.head               // spans are relative to readerIndex
//         // route/balance with the spans (inside another withUnsafeReadableBytes),
//         // forward buffer bytes [0, head.headLength) as they are (or rewritten), then
//         // body = HTTPBodyFramer(framing: head.framing) on the following bytes.
//     }
//
// Do not keep a copy of `headers` across calls: `parse` reuses its storage, and a
// second reference would make it allocate a new array.

/// Semantics gathered while the header fields go by.
@usableFromInline
struct HeaderSemantics {
    var contentLength: UInt64 = 0
    var hasContentLength = false
    var hasTransferEncoding = false
    var chunkedSeen = false
    /// The last coding seen so far is `chunked`.
    var chunkedLast = false
    /// `chunked` appeared twice, or a coding came after it.
    var chunkedMisplaced = false
    /// Another coding (an empty list element counts, as in HAProxy) came before `chunked`.
    var codingBeforeChunked = false
    /// A line of the head ended with a bare LF: what goes to the server must be CRLF.
    var bareLF = false
    var connectionClose = false
    var connectionKeepAlive = false
    var connectionUpgrade = false
    var expectContinue = false
    var hasUpgrade = false
    var host: HTTPSpan? = nil

    @inline(__always) init() {}
}

@usableFromInline
enum HeaderScanResult {
    case done(Int)
    case incomplete
    case error(HTTPParseError)
    /// An obs-fold: the line starting at this offset continues the header line above.
    case fold(Int)
}

/// Calls `body(start, end)` for each non-empty element of a comma-separated list in
/// [from, to), with optional whitespace trimmed.
@inline(__always)
func forEachListElement(_ p: UnsafePointer<UInt8>, _ from: Int, _ to: Int,
                        _ body: (Int, Int) -> Void) {
    var k = from
    while k < to {
        while k < to && (isOWS(p[k]) || p[k] == asciiComma) { k += 1 }
        let s = k
        while k < to && p[k] != asciiComma { k += 1 }
        var e = k
        while e > s && isOWS(p[e - 1]) { e -= 1 }
        if e > s { body(s, e) }
    }
}

extension HeaderSemantics {
    /// Interprets one header field. Names are matched by length first, then bytes.
    @inline(__always)
    mutating func apply(_ p: UnsafePointer<UInt8>, name ns: Int, _ nl: Int,
                        value vs: Int, _ ve: Int) -> HTTPParseError? {
        switch nl {
        case 4:
            if bytesEqualLowercase(p + ns, 4, "host") {
                if host != nil { return .duplicateHost }
                host = HTTPSpan(offset: vs, length: ve - vs)
            }
        case 6:
            if bytesEqualLowercase(p + ns, 6, "expect") {
                if bytesEqualLowercase(p + vs, ve - vs, "100-continue") { expectContinue = true }
            }
        case 7:
            if bytesEqualLowercase(p + ns, 7, "upgrade") { hasUpgrade = true }
        case 10:
            if bytesEqualLowercase(p + ns, 10, "connection") {
                forEachListElement(p, vs, ve) { s, e in
                    switch e - s {
                    case 5: if bytesEqualLowercase(p + s, 5, "close") { connectionClose = true }
                    case 7: if bytesEqualLowercase(p + s, 7, "upgrade") { connectionUpgrade = true }
                    case 10: if bytesEqualLowercase(p + s, 10, "keep-alive") { connectionKeepAlive = true }
                    default: break
                    }
                }
            }
        case 14:
            if bytesEqualLowercase(p + ns, 14, "content-length") {
                return parseContentLength(p, vs, ve)
            }
        case 17:
            if bytesEqualLowercase(p + ns, 17, "transfer-encoding") {
                hasTransferEncoding = true
                applyTransferCodings(p, vs, ve)
            }
        default:
            break
        }
        return nil
    }

    /// The codings of one Transfer-Encoding field, split as HAProxy 2.6 splits them: a
    /// trailing comma is ignored, an empty element elsewhere is a coding of its own, and
    /// only the exact word `chunked` is chunked (`chunked;q=1` is another coding).
    @inline(__always)
    mutating func applyTransferCodings(_ p: UnsafePointer<UInt8>, _ vs: Int, _ ve: Int) {
        var k = vs
        while k < ve {
            if isOWS(p[k]) { k += 1; continue }
            var e = k
            while e < ve && p[e] != asciiComma { e += 1 }
            let next = e
            while e > k && isOWS(p[e - 1]) { e -= 1 }
            if bytesEqualLowercase(p + k, e - k, "chunked") {
                if chunkedSeen { chunkedMisplaced = true }
                chunkedSeen = true
                chunkedLast = true
            } else {
                if chunkedLast { chunkedMisplaced = true }
                if !chunkedSeen { codingBeforeChunked = true }
                chunkedLast = false
            }
            k = next + 1 // past the comma: a comma at the very end starts no element
        }
    }

    /// `Content-Length: 1*DIGIT *( OWS "," OWS 1*DIGIT )`, every value equal to the
    /// others, in this field and in earlier ones.
    @inline(__always)
    mutating func parseContentLength(_ p: UnsafePointer<UInt8>, _ vs: Int, _ ve: Int) -> HTTPParseError? {
        var k = vs
        if k == ve { return .invalidContentLength }
        while true {
            while k < ve && isOWS(p[k]) { k += 1 }
            let ds = k
            var v: UInt64 = 0
            while k < ve {
                let d = p[k] &- 0x30
                if d > 9 { break }
                let (m, o1) = v.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(UInt64(d))
                if o1 || o2 { return .invalidContentLength }
                v = a
                k += 1
            }
            if k == ds { return .invalidContentLength }
            if hasContentLength && contentLength != v { return .conflictingContentLength }
            hasContentLength = true
            contentLength = v
            while k < ve && isOWS(p[k]) { k += 1 }
            if k == ve { return nil }
            if p[k] != asciiComma { return .invalidContentLength }
            k += 1
        }
    }
}

/// The header section of a head, as both parsers need it.
struct HeaderBlock {
    /// Offset of the first header line.
    var start: Int
    /// Just past the empty line that ends the head.
    var end: Int
    /// Where that empty line begins.
    var headersEnd: Int
    var semantics: HeaderSemantics
}

enum HeaderBlockResult {
    case done(HeaderBlock)
    case incomplete
    case error(HTTPParseError)
    case fold(Int)
}

/// From the line end of a start line (at `i`, CRLF or bare LF): the header fields up to
/// the empty line that ends the head.
@inline(__always)
func scanHeaderBlock(_ p: UnsafePointer<UInt8>, _ n: Int, startLineEnd i: Int, maxHeaders: Int,
                     headers: inout [HTTPHeaderField]) -> HeaderBlockResult {
    var start = i + 1
    if p[i] == asciiCR {
        guard i + 1 < n else { return .incomplete }
        guard p[i + 1] == asciiLF else { return .error(.bareCR) }
        start = i + 2
    }
    var sem = HeaderSemantics()
    sem.bareLF = p[i] == asciiLF
    switch scanHeaderFields(p, n, from: start, maxHeaders: maxHeaders, headers: &headers, sem: &sem) {
    case .done(let end):
        let headersEnd = end - 2 >= start && p[end - 2] == asciiCR ? end - 2 : end - 1
        return .done(HeaderBlock(start: start, end: end, headersEnd: headersEnd, semantics: sem))
    case .incomplete: return .incomplete
    case .error(let e): return .error(e)
    case .fold(let line): return .fold(line)
    }
}

/// Scans header lines from `start` up to and including the empty line that ends the
/// head. Appends one field per line to `headers` and feeds `sem`.
@inline(__always)
func scanHeaderFields(_ p: UnsafePointer<UInt8>, _ n: Int, from start: Int, maxHeaders: Int,
                      headers: inout [HTTPHeaderField], sem: inout HeaderSemantics) -> HeaderScanResult {
    var i = start
    while true {
        guard i < n else { return .incomplete }
        var c = p[i]
        if c == asciiCR {
            guard i + 1 < n else { return .incomplete }
            guard p[i + 1] == asciiLF else { return .error(.bareCR) }
            return .done(i + 2)
        }
        if c == asciiLF { sem.bareLF = true; return .done(i + 1) }
        // A line that starts with whitespace continues the header above it (obs-fold);
        // with no header above, it is an error (RFC 9112 §2.2).
        if isOWS(c) { return headers.isEmpty ? .error(.obsoleteLineFolding) : .fold(i) }

        // Field name: 1*tchar followed by ':'.
        let nameStart = i
        while isTokenChar(c) {
            i += 1
            guard i < n else { return .incomplete }
            c = p[i]
        }
        if c != asciiColon {
            if isOWS(c) && i > nameStart { return .error(.whitespaceBeforeColon) }
            if c == asciiCR && i + 1 >= n { return .incomplete }
            return .error(.invalidHeaderName)
        }
        let nameLength = i - nameStart
        if nameLength == 0 { return .error(.invalidHeaderName) }
        i += 1

        // Field value: OWS, then VCHAR / obs-text / SP / HTAB up to the line end; the
        // trailing whitespace is not part of the value.
        while i < n && isOWS(p[i]) { i += 1 }
        let valueStart = i
        var valueEnd = i
        while true {
            guard i < n else { return .incomplete }
            c = p[i]
            if (c &- 0x21) < 0x5E { // VCHAR 0x21...0x7E
                i += 1
                valueEnd = i
                continue
            }
            if c >= 0x80 { i += 1; valueEnd = i; continue } // obs-text
            if isOWS(c) { i += 1; continue }
            if c == asciiCR || c == asciiLF { break }
            return .error(.invalidHeaderValue) // NUL, other CTL, DEL
        }
        if c == asciiCR {
            guard i + 1 < n else { return .incomplete }
            guard p[i + 1] == asciiLF else { return .error(.bareCR) }
            i += 2
        } else {
            sem.bareLF = true
            i += 1
        }

        // HAProxy's tune.http.maxhdr counts the start line too.
        if headers.count + 1 >= maxHeaders { return .error(.tooManyHeaders) }
        headers.append(HTTPHeaderField(name: HTTPSpan(offset: nameStart, length: nameLength),
                                       value: HTTPSpan(offset: valueStart, length: valueEnd - valueStart)))
        if let e = sem.apply(p, name: nameStart, nameLength, value: valueStart, valueEnd) {
            return .error(e)
        }
    }
}

/// Skips empty lines before a start line (RFC 9112 §2.2: a server SHOULD ignore at
/// least one). Returns the index of the first byte of the start line, nil when the
/// bytes end first, or -1 on a bare CR.
@inline(__always)
func skipLeadingEmptyLines(_ p: UnsafePointer<UInt8>, _ n: Int) -> Int? {
    var i = 0
    while i < n {
        let c = p[i]
        if c == asciiLF { i += 1; continue }
        if c == asciiCR {
            guard i + 1 < n else { return nil }
            if p[i + 1] != asciiLF { return -1 }
            i += 2
            continue
        }
        return i
    }
    return nil
}

/// Validates `HTTP/DIGIT.DIGIT` at [s, e).
@inline(__always)
func parseVersion(_ p: UnsafePointer<UInt8>, _ s: Int, _ e: Int) -> Result<HTTPVersion, HTTPParseError> {
    guard e - s == 8, p[s] == 0x48, p[s + 1] == 0x54, p[s + 2] == 0x54, p[s + 3] == 0x50,
          p[s + 4] == 0x2F, p[s + 6] == 0x2E else { return .failure(.invalidVersion) }
    let major = p[s + 5] &- 0x30
    let minor = p[s + 7] &- 0x30
    guard major <= 9, minor <= 9 else { return .failure(.invalidVersion) }
    guard major == 1 else { return .failure(.unsupportedVersion) }
    return .success(minor == 0 ? .http10 : .http11)
}

/// A request's `HTTP/DIGIT.DIGIT` at [s, e), read as HAProxy 2.6 reads it: a major
/// version of 0 is HTTP/1.0, anything from 1.1 up (`HTTP/1.2`, `HTTP/2.0`) is HTTP/1.1.
/// `exact` is false when the bytes say something else than the version understood, so
/// the head must be normalised before it is forwarded.
@inline(__always)
func parseRequestVersion(_ p: UnsafePointer<UInt8>, _ s: Int, _ e: Int) -> (HTTPVersion, exact: Bool)? {
    guard e - s == 8, p[s] == 0x48, p[s + 1] == 0x54, p[s + 2] == 0x54, p[s + 3] == 0x50,
          p[s + 4] == 0x2F, p[s + 6] == 0x2E else { return nil }
    let major = p[s + 5] &- 0x30
    let minor = p[s + 7] &- 0x30
    guard major <= 9, minor <= 9 else { return nil }
    if major == 0 { return (.http10, false) }
    if major == 1 && minor == 0 { return (.http10, true) }
    return (.http11, major == 1 && minor == 1)
}

@inline(__always)
func parseMethod(_ p: UnsafePointer<UInt8>, _ s: Int, _ len: Int) -> HTTPMethod {
    let m = p + s
    @inline(__always) func eq(_ lit: StaticString) -> Bool {
        let l = lit.utf8Start
        var k = 0
        while k < len { if m[k] != l[k] { return false }; k += 1 }
        return true
    }
    switch len {
    case 3:
        if m[0] == 0x47 { return eq("GET") ? .get : .other }
        if m[0] == 0x50 { return eq("PUT") ? .put : .other }
    case 4:
        if m[0] == 0x50 { return eq("POST") ? .post : .other }
        if m[0] == 0x48 { return eq("HEAD") ? .head : .other }
    case 5:
        if m[0] == 0x50 { return eq("PATCH") ? .patch : .other }
        if m[0] == 0x54 { return eq("TRACE") ? .trace : .other }
    case 6:
        return eq("DELETE") ? .delete : .other
    case 7:
        if m[0] == 0x4F { return eq("OPTIONS") ? .options : .other }
        if m[0] == 0x43 { return eq("CONNECT") ? .connect : .other }
    default:
        break
    }
    return .other
}

// MARK: - Requests

/// What the request head says. All spans are relative to the buffer given to
/// `HTTPRequestParser.parse`.
public struct HTTPRequestHead: Sendable {
    /// Offset of the request line (after any empty lines that preceded it).
    public var start: Int = 0
    /// Bytes from the start of the buffer to the end of the empty line that ends the
    /// head, leading empty lines included: the body (or the next request) starts here.
    public var headLength: Int = 0
    public var method: HTTPMethod = .other
    public var methodSpan: HTTPSpan = .empty
    public var targetSpan: HTTPSpan = .empty
    public var versionSpan: HTTPSpan = .empty
    public var version: HTTPVersion = .http11
    /// Offset just after the request line's line end: the first header line.
    public var headersStart: Int = 0
    /// Offset of the empty line that ends the head: insert added header lines here.
    public var headersEnd: Int = 0
    public var framing: HTTPBodyFraming = .none
    /// Connection tokens, over every Connection header and comma list.
    public var connectionClose = false
    public var connectionKeepAlive = false
    public var connectionUpgrade = false
    /// The connection may carry another request after this one: HTTP/1.1 unless
    /// `close`; HTTP/1.0 only with `keep-alive` (and no `close`).
    public var keepAlive = true
    /// `Expect: 100-continue` on an HTTP/1.1 request (ignored for 1.0, RFC 9110 §10.1.1).
    public var expectContinue = false
    /// An `Upgrade` header field is present.
    public var hasUpgrade = false
    /// Value of the Host header field, nil when absent.
    public var host: HTTPSpan? = nil
    public var hasContentLength = false
    public var hasTransferEncoding = false
    /// A line ends with a bare LF, or the version is not `HTTP/1.0`/`HTTP/1.1` as
    /// understood: the session rewrites the head (`normaliseRequestHead`) before
    /// forwarding it, so the server reads exactly the request proxyd read.
    public var needsNormalising = false

    public init() {}
}

/// Request-head parser. Keep one per client connection (or per event loop: `parse`
/// resets it) so the header array's storage is reused.
public struct HTTPRequestParser: Sendable {
    /// HAProxy's bufsize (16384) minus maxrewrite (1024).
    public static let defaultMaxHeadLength = 16384 - 1024
    /// HAProxy's `tune.http.maxhdr`: header lines including the start line, so at
    /// most 100 header fields by default.
    public static let defaultMaxHeaders = 101
    /// Header slots the first parse reserves (the array grows past it when needed).
    /// Reserving `maxHeaders` up front cost ~1.6 KB per parser, two per client connection,
    /// before any byte arrived.
    static let initialHeaderCapacity = 16

    public var maxHeadLength: Int
    public var maxHeaders: Int
    /// The head of the last `.complete` parse.
    public private(set) var head = HTTPRequestHead()
    /// Header fields of the last parse, in order. Valid after `.complete`.
    public private(set) var headers: [HTTPHeaderField]
    /// After `.error(.obsoleteLineFolding)`: where the folded line starts, if the fold
    /// can be undone (`unfoldLine(at:in:)`) and the head parsed again; nil if not.
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

    /// Parses the request head at the start of `bytes`.
    public mutating func parse(_ bytes: UnsafeRawBufferPointer) -> HTTPParseStatus {
        headers.removeAll(keepingCapacity: true)
        foldedLineStart = nil
        if headers.capacity == 0 { headers.reserveCapacity(HTTPRequestParser.initialHeaderCapacity) }
        let n = bytes.count
        guard n > 0 else { return .incomplete }
        let p = bytes.bytePointer

        guard let lineStart = skipLeadingEmptyLines(p, n) else { return incomplete(n) }
        if lineStart < 0 { return .error(.bareCR) }
        var i = lineStart

        // method SP
        while i < n && isTokenChar(p[i]) { i += 1 }
        guard i < n else { return incomplete(n) }
        if p[i] != asciiSP {
            let c = p[i]
            return .error(c == asciiCR || c == asciiLF || c == asciiHT ? .invalidRequestLine : .invalidMethod)
        }
        if i == lineStart { return .error(.invalidRequestLine) }
        let methodSpan = HTTPSpan(offset: lineStart, length: i - lineStart)
        i += 1

        // request-target SP
        let targetStart = i
        while i < n && (p[i] &- 0x21) < 0x5E { i += 1 }
        guard i < n else { return incomplete(n) }
        let c = p[i]
        if c != asciiSP {
            if c == asciiCR || c == asciiLF { return .error(.invalidRequestLine) } // no version
            return .error(c == asciiHT ? .invalidRequestLine : .invalidTarget)
        }
        if i == targetStart { return .error(.invalidTarget) }
        let targetSpan = HTTPSpan(offset: targetStart, length: i - targetStart)
        i += 1

        // HTTP-version CRLF
        let versionStart = i
        while i < n && p[i] != asciiCR && p[i] != asciiLF {
            if i - versionStart >= 8 { return .error(.invalidVersion) }
            i += 1
        }
        guard i < n else { return incomplete(n) }
        guard let (version, versionExact) = parseRequestVersion(p, versionStart, i) else {
            return .error(.invalidVersion)
        }
        // The HTTP/2 connection preface (`PRI * HTTP/2.0`): proxyd speaks HTTP/1 only, and
        // read as HTTP/1.1 the preface would reach the server as a request.
        if p[versionStart + 5] == 0x32, methodSpan.count == 3,
           p[lineStart] == 0x50, p[lineStart + 1] == 0x52, p[lineStart + 2] == 0x49 {
            return .error(.invalidRequestLine)
        }
        let versionSpan = HTTPSpan(offset: versionStart, length: i - versionStart)
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

        // Framing (RFC 9112 §6.3). With both Transfer-Encoding and Content-Length, the
        // chunked coding wins and the Content-Length goes (HAProxy 2.6 does the same;
        // the session drops the header and closes after the answer).
        let framing: HTTPBodyFraming
        if sem.hasTransferEncoding {
            if version == .http10 { return .error(.transferEncodingInHTTP10) }
            if !sem.chunkedLast || sem.chunkedMisplaced { return .error(.invalidTransferEncoding) }
            if sem.codingBeforeChunked { return .error(.unsupportedTransferCoding) }
            framing = .chunked
        } else if sem.hasContentLength {
            framing = .contentLength(sem.contentLength)
        } else {
            framing = .none
        }

        let method = parseMethod(p, lineStart, methodSpan.count)
        if !isAcceptedTarget(p, targetSpan, isConnect: method == .connect) { return .error(.invalidTarget) }
        if let fullHost = sem.host,
           let fullAuthority = requestAuthority(p, targetSpan, isConnect: method == .connect) {
            let port = method == .connect ? 0 : schemeDefaultPort(p, targetSpan)
            let host = withoutDefaultPort(p, fullHost, port)
            let authority = withoutDefaultPort(p, fullAuthority, port)
            if !(authority.count == host.count && bytesEqualIgnoringCase(p + authority.start, p + host.start, host.count)) {
                return .error(.hostAuthorityMismatch)
            }
        }

        var h = HTTPRequestHead()
        h.start = lineStart
        h.headLength = end
        h.method = method
        h.methodSpan = methodSpan
        h.targetSpan = targetSpan
        h.versionSpan = versionSpan
        h.version = version
        h.headersStart = headersStart
        h.headersEnd = headersEnd
        h.framing = framing
        h.connectionClose = sem.connectionClose
        h.connectionKeepAlive = sem.connectionKeepAlive
        h.connectionUpgrade = sem.connectionUpgrade
        h.keepAlive = version == .http11 ? !sem.connectionClose
                                         : (sem.connectionKeepAlive && !sem.connectionClose)
        h.expectContinue = sem.expectContinue && version == .http11
        h.hasUpgrade = sem.hasUpgrade
        h.host = sem.host
        h.hasContentLength = sem.hasContentLength
        h.hasTransferEncoding = sem.hasTransferEncoding
        h.needsNormalising = sem.bareLF || !versionExact
        head = h
        return .complete
    }

    /// The first header field named `name` (a lowercase literal), or nil.
    @inline(__always)
    public func firstHeader(_ name: StaticString, in bytes: UnsafeRawBufferPointer) -> HTTPHeaderField? {
        findHeader(headers, name, bytes)
    }

    /// The first header field whose name equals `lowercased` ignoring case.
    @inline(__always)
    public func firstHeader(lowercased name: UnsafeBufferPointer<UInt8>,
                            in bytes: UnsafeRawBufferPointer) -> HTTPHeaderField? {
        findHeader(headers, name, bytes)
    }
}

@inline(__always)
func bytesEqualIgnoringCase(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ count: Int) -> Bool {
    var k = 0
    while k < count {
        if asciiLower(a[k]) != asciiLower(b[k]) { return false }
        k += 1
    }
    return true
}

@inline(__always)
func findHeader(_ headers: [HTTPHeaderField], _ name: StaticString,
                _ bytes: UnsafeRawBufferPointer) -> HTTPHeaderField? {
    let p = bytes.bytePointer
    var k = 0
    let n = headers.count
    while k < n {
        let h = headers[k]
        if bytesEqualLowercase(p + h.name.start, h.name.count, name) { return h }
        k += 1
    }
    return nil
}

@inline(__always)
func findHeader(_ headers: [HTTPHeaderField], _ name: UnsafeBufferPointer<UInt8>,
                _ bytes: UnsafeRawBufferPointer) -> HTTPHeaderField? {
    let p = bytes.bytePointer
    var k = 0
    let n = headers.count
    while k < n {
        let h = headers[k]
        if bytesEqualLowercase(p + h.name.start, h.name.count, name) { return h }
        k += 1
    }
    return nil
}

