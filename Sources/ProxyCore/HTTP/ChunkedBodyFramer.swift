// Framing of a chunked body (RFC 9112 §7.1), for a proxy that forwards the bytes
// unchanged: the framer only says how many bytes of each slice belong to the message
// and where it ends. Its state is a few integers, whatever the body size.
//
//   chunked-body = *chunk last-chunk trailer-section CRLF
//   chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//   chunk-ext    = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
//
// Line ends inside the chunked framing must be CRLF: a bare LF (or CR) is an error,
// since lenient line ends in chunk framing are a known desynchronisation vector
// between a proxy and the server behind it.

public enum ChunkedBodyError: Error, Hashable, Sendable {
    /// The chunk-size line does not start with a hex digit, or has a byte that is not
    /// hex, whitespace before `;`, `;` or CRLF.
    case invalidChunkSize
    /// The chunk size does not fit in 60 bits (a chunk over an exabyte).
    case chunkSizeOverflow
    /// A control byte in a chunk extension, or the size line is longer than
    /// `maxLineLength`.
    case invalidChunkExtension
    /// The CRLF after the chunk data, or after the size line, is missing.
    case missingCRLF
    /// A malformed trailer line, or trailers longer than `maxTrailerLength`.
    case invalidTrailer
}

public enum ChunkedFeedResult: Hashable, Sendable {
    /// Every byte of the slice belongs to the body, which is not finished yet.
    case needsMore
    /// The body ends after this many bytes of the slice (last chunk, trailers and
    /// the final CRLF included); the rest belongs to what follows.
    case complete(consumed: Int)
    case error(ChunkedBodyError)
}

public struct ChunkedBodyFramer: Sendable {
    @usableFromInline
    enum State: UInt8, Sendable {
        case sizeFirstDigit, sizeDigits, sizeWhitespace, extensions, sizeLF
        case data, dataCR, dataLF
        case trailerLineStart, trailerLine, trailerLF, finalLF
        case done, failed
    }

    @usableFromInline var state: State = .sizeFirstDigit
    /// During a size line: the size read so far. During data: bytes left in the chunk.
    @usableFromInline var value: UInt64 = 0
    @usableFromInline var lineLength: Int = 0
    @usableFromInline var trailerLength: Int = 0
    @usableFromInline var failure: ChunkedBodyError = .invalidChunkSize

    /// Longest chunk-size line (size and extensions) accepted.
    public var maxLineLength: Int
    /// Longest trailer section accepted (all lines together).
    public var maxTrailerLength: Int

    /// Body bytes (chunk data only) seen so far.
    public private(set) var dataBytes: UInt64 = 0

    public init(maxLineLength: Int = 4096, maxTrailerLength: Int = 16384) {
        self.maxLineLength = maxLineLength
        self.maxTrailerLength = maxTrailerLength
    }

    /// Ready for a new body.
    public mutating func reset() {
        state = .sizeFirstDigit
        value = 0
        lineLength = 0
        trailerLength = 0
        dataBytes = 0
        failure = .invalidChunkSize
    }

    public var isComplete: Bool { state == .done }

    /// Feeds the next bytes of the message body (those after the head, then each
    /// following read, in order).
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) -> ChunkedFeedResult {
        let n = bytes.count
        if state == .done { return .complete(consumed: 0) }
        if state == .failed { return .error(failure) }
        if n == 0 { return .needsMore }
        let p = bytes.bytePointer
        var i = 0
        while i < n {
            switch state {
            case .data:
                let avail = UInt64(n - i)
                if avail < value {
                    value -= avail
                    dataBytes &+= avail
                    return .needsMore
                }
                i += Int(value)
                dataBytes &+= value
                value = 0
                state = .dataCR
            case .dataCR:
                guard p[i] == asciiCR else { return fail(.missingCRLF) }
                i += 1
                state = .dataLF
            case .dataLF:
                guard p[i] == asciiLF else { return fail(.missingCRLF) }
                i += 1
                state = .sizeFirstDigit
                value = 0
                lineLength = 0
            case .sizeFirstDigit, .sizeDigits:
                let c = p[i]
                let d = hexValue(c)
                if d < 16 {
                    if value > (UInt64(1) << 56) - 1 { return fail(.chunkSizeOverflow) }
                    value = value << 4 | UInt64(d)
                    state = .sizeDigits
                } else if state == .sizeFirstDigit {
                    return fail(.invalidChunkSize)
                } else if c == asciiCR {
                    state = .sizeLF
                } else if c == 0x3B { // ';'
                    state = .extensions
                } else if isOWS(c) {
                    state = .sizeWhitespace
                } else {
                    return fail(.invalidChunkSize)
                }
                i += 1
                lineLength += 1
                if lineLength > maxLineLength { return fail(.invalidChunkExtension) }
            case .sizeWhitespace:
                // Whitespace is only allowed before an extension (BWS ";"): `5 \r\n`
                // is not a chunk size (RFC 9112 §7.1), and forwarding it as it came
                // would let a server behind read the size differently.
                let c = p[i]
                if c == asciiCR { return fail(.invalidChunkSize) }
                else if c == 0x3B { state = .extensions }
                else if !isOWS(c) { return fail(.invalidChunkSize) }
                i += 1
                lineLength += 1
                if lineLength > maxLineLength { return fail(.invalidChunkExtension) }
            case .extensions:
                // Skip the extensions (we forward them untouched) but refuse control
                // bytes, bare LF included.
                while i < n {
                    let c = p[i]
                    if c == asciiCR { state = .sizeLF; i += 1; lineLength += 1; break }
                    if (c < 0x20 && c != asciiHT) || c == 0x7F { return fail(.invalidChunkExtension) }
                    i += 1
                    lineLength += 1
                }
                if lineLength > maxLineLength { return fail(.invalidChunkExtension) }
            case .sizeLF:
                guard p[i] == asciiLF else { return fail(.missingCRLF) }
                i += 1
                if value == 0 {
                    state = .trailerLineStart
                    trailerLength = 0
                } else {
                    state = .data
                }
            case .trailerLineStart:
                let c = p[i]
                if c == asciiCR {
                    state = .finalLF
                } else if isTokenChar(c) {
                    state = .trailerLine
                } else {
                    return fail(.invalidTrailer)
                }
                i += 1
                trailerLength += 1
            case .trailerLine:
                while i < n {
                    let c = p[i]
                    i += 1
                    trailerLength += 1
                    if c == asciiCR { state = .trailerLF; break }
                    if (c < 0x20 && c != asciiHT) || c == 0x7F { return fail(.invalidTrailer) }
                }
                if trailerLength > maxTrailerLength { return fail(.invalidTrailer) }
            case .trailerLF:
                guard p[i] == asciiLF else { return fail(.invalidTrailer) }
                i += 1
                trailerLength += 1
                state = .trailerLineStart
            case .finalLF:
                guard p[i] == asciiLF else { return fail(.missingCRLF) }
                i += 1
                state = .done
                return .complete(consumed: i)
            case .done:
                return .complete(consumed: i)
            case .failed:
                return .error(failure)
            }
        }
        return .needsMore
    }

    @inline(__always)
    private mutating func fail(_ e: ChunkedBodyError) -> ChunkedFeedResult {
        state = .failed
        failure = e
        return .error(e)
    }
}

/// 0...15 for a hex digit, 255 otherwise.
@inline(__always) @usableFromInline
func hexValue(_ c: UInt8) -> UInt8 {
    let d = c &- 0x30
    if d <= 9 { return d }
    let l = (c | 0x20) &- 0x61
    if l <= 5 { return l &+ 10 }
    return 255
}
