// Value types shared by the HTTP/1.x head parsers and the chunked-body framer.
//
// Everything here describes positions inside the bytes the engine received; nothing
// copies them. A span is relative to the first byte handed to the parser (the reader
// index of the NIO buffer at the time of the call).

/// A run of bytes inside the parsed buffer: `offset` from the start of the buffer
/// given to the parser, and `length`. Two 32-bit integers, so a header field (name +
/// value) is 16 bytes.
public struct HTTPSpan: Hashable, Sendable {
    public var offset: Int32
    public var length: Int32

    @inline(__always)
    public init(offset: Int, length: Int) {
        self.offset = Int32(truncatingIfNeeded: offset)
        self.length = Int32(truncatingIfNeeded: length)
    }

    public static let empty = HTTPSpan(offset: 0, length: 0)

    @inline(__always) public var start: Int { Int(offset) }
    @inline(__always) public var end: Int { Int(offset) + Int(length) }
    @inline(__always) public var count: Int { Int(length) }
    @inline(__always) public var isEmpty: Bool { length == 0 }
}

/// One header line: the name as received (case preserved) and the value with the
/// surrounding optional whitespace removed.
public struct HTTPHeaderField: Hashable, Sendable {
    public var name: HTTPSpan
    public var value: HTTPSpan

    @inline(__always)
    public init(name: HTTPSpan, value: HTTPSpan) {
        self.name = name
        self.value = value
    }
}

extension HTTPHeaderField {
    /// Offset of this field's line (its name).
    @inline(__always) public var lineStart: Int { name.start }

    /// Offset just after this field's line end (CRLF or LF): removing
    /// `lineStart..<lineEnd(in:)` deletes the field.
    @inline(__always)
    public func lineEnd(in bytes: UnsafeRawBufferPointer) -> Int {
        let p = bytes.bytePointer
        var k = value.end
        while k < bytes.count && p[k] != 0x0A { k += 1 }
        return k + 1
    }
}

/// Request methods the engine treats specially; anything else valid is `.other`
/// (the method bytes are in `HTTPRequestHead.methodSpan`). Methods are case-sensitive
/// (RFC 9110 §9.1): `get` is `.other`.
public enum HTTPMethod: UInt8, Sendable {
    case get, head, post, put, delete, options, connect, trace, patch, other
}

/// HTTP/1.0 or HTTP/1.1. `HTTP/1.2`…`HTTP/1.9` are read as 1.1 (RFC 9110 §2.5: the
/// highest minor version we implement); a major version other than 1 is
/// `HTTPParseError.unsupportedVersion`.
public enum HTTPVersion: UInt8, Sendable {
    case http10, http11
}

/// How the body that follows a head is delimited (RFC 9112 §6.3).
public enum HTTPBodyFraming: Hashable, Sendable {
    /// No body: requests without Content-Length/Transfer-Encoding; responses to HEAD,
    /// 1xx (other than 101), 204, 304.
    case none
    /// Exactly this many bytes follow the head.
    case contentLength(UInt64)
    /// `Transfer-Encoding: …, chunked`: feed the bytes after the head to a
    /// `ChunkedBodyFramer`.
    case chunked
    /// Responses only: the body runs until the server closes the connection (no
    /// length, or a Transfer-Encoding that does not end in chunked, or any
    /// Transfer-Encoding in an HTTP/1.0 response). The connection cannot be reused.
    case untilClose
    /// Responses only: `101 Switching Protocols`, or a 2xx answer to CONNECT. After
    /// the head both directions are an opaque tunnel (`timeout tunnel`).
    case tunnel
}

/// Why a head was refused. The engine answers 400 to a request error (505 for
/// `unsupportedVersion`, see `requestStatusCode`) and 502 to a response error.
public enum HTTPParseError: Error, Hashable, Sendable {
    /// The head is longer than the parser's `maxHeadLength` (HAProxy: bufsize minus
    /// maxrewrite, 15360 bytes by default).
    case headTooLarge
    /// More lines than `maxHeaders` (HAProxy's `tune.http.maxhdr`, 101, counts the
    /// start line: 100 header fields pass, 101 do not).
    case tooManyHeaders
    /// The method contains a byte that is not a token character.
    case invalidMethod
    /// Request line not `method SP target SP version`: empty method, two spaces, no
    /// version (HTTP/0.9 style), a line that ends early.
    case invalidRequestLine
    /// Empty target, or a target byte outside visible ASCII (0x21–0x7E).
    case invalidTarget
    /// The version is not `HTTP/DIGIT.DIGIT`.
    case invalidVersion
    /// Syntactically valid version whose major number is not 1 (`HTTP/2.0`,
    /// `HTTP/0.9`). RFC 9110 §15.6.6 answers 505.
    case unsupportedVersion
    /// Response status line not `HTTP-version SP 3DIGIT [SP reason]`.
    case invalidStatusLine
    /// Empty header name, a non-token byte in it, or a line without a colon.
    case invalidHeaderName
    /// Space or tab between a header name and its colon (RFC 9112 §5.1: MUST 400).
    case whitespaceBeforeColon
    /// NUL or another control byte (other than HTAB) in a value or the reason phrase.
    case invalidHeaderValue
    /// A CR not followed by LF.
    case bareCR
    /// A header line starting with space or tab (obs-fold). After a header line the
    /// parser reports where (`foldedLineStart`) and the session turns the fold into
    /// spaces and parses again, as HAProxy does; before any header it is a 400.
    case obsoleteLineFolding
    /// Content-Length not a list of decimal numbers, or too large for 64 bits.
    case invalidContentLength
    /// Several Content-Length values that differ (identical repeats are accepted, as
    /// HAProxy and RFC 9110 §8.6 do).
    case conflictingContentLength
    /// Requests: Transfer-Encoding whose final coding is not `chunked`, or `chunked`
    /// appearing more than once or before another coding (RFC 9112 §6.3: MUST 400).
    case invalidTransferEncoding
    /// Requests: a coding other than `chunked` before it (`gzip, chunked`,
    /// `identity, chunked`, `,chunked`): HAProxy 2.6 answers 422 rather than forward a
    /// body it would have to decode to frame.
    case unsupportedTransferCoding
    /// Transfer-Encoding in an HTTP/1.0 request (RFC 9112 §6.1: faulty framing).
    case transferEncodingInHTTP10
    /// More than one Host header field (RFC 9112 §3.2: MUST 400; HAProxy merges
    /// identical repeats, proxyd forwards original bytes and refuses them all).
    case duplicateHost
    /// The target has an authority (absolute-form, or CONNECT's authority-form)
    /// that differs from the Host field (RFC 9112 §3.2; HAProxy answers 400 since 2.1).
    case hostAuthorityMismatch

    /// The status the engine should answer to a client whose request failed with
    /// this error (responses that fail are always 502).
    public var requestStatusCode: Int {
        switch self {
        case .unsupportedVersion: return 505
        case .unsupportedTransferCoding: return 422
        default: return 400
        }
    }
}

/// Result of one call to a head parser.
public enum HTTPParseStatus: Hashable, Sendable {
    /// A whole head was parsed; the parser's `head` and `headers` describe it.
    case complete
    /// The bytes end before the head does: call again with more bytes (from the same
    /// start).
    case incomplete
    case error(HTTPParseError)
}
