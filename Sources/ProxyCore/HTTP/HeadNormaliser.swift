import NIOCore

/// Rewrites a parsed request head (`head.needsNormalising`) into the bytes it was
/// understood as: the request line with `HTTP/1.0` or `HTTP/1.1`, every line ended
/// by CRLF. HAProxy 2.6 re-encodes every head it forwards; proxyd forwards the client's
/// bytes, so a head a server could read otherwise (a bare LF that a CRLF-only server
/// does not take for a line end, `HTTP/2.0` read as 1.1) is rebuilt here first.
/// Leading empty lines go; the bytes after the head (body, next request) stay as they are.
/// Parse the result again: the spans of `head` do not describe it.
func normaliseRequestHead(_ head: HTTPRequestHead, in buffer: inout ByteBuffer) {
    let base = buffer.readerIndex
    var out = ByteBuffer()
    out.reserveCapacity(buffer.readableBytes + 64)
    let lineEnd = head.versionSpan.start
    out.writeImmutableBuffer(buffer.getSlice(at: base + head.start, length: lineEnd - head.start)!)
    out.writeStaticString(head.version == .http10 ? "HTTP/1.0\r\n" : "HTTP/1.1\r\n")
    buffer.withUnsafeReadableBytes { bytes in
        let p = bytes.bytePointer
        var runStart = head.headersStart
        var k = head.headersStart
        while k < head.headLength {
            if p[k] == asciiLF && (k == head.headersStart || p[k - 1] != asciiCR) {
                out.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[runStart..<k]))
                out.writeStaticString("\r\n")
                runStart = k + 1
            }
            k += 1
        }
        out.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[runStart..<head.headLength]))
        out.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[head.headLength...]))
    }
    buffer = out
}

/// The request's Content-Length says its (one, checked by the parser) value more than
/// once: in several fields, or as a list in one. Such a head is forwarded with a single
/// `Content-Length: N` instead.
func isContentLengthRepeated(_ headers: [HTTPHeaderField], in bytes: UnsafeRawBufferPointer) -> Bool {
    let p = bytes.bytePointer
    var fields = 0
    for h in headers where bytesEqualLowercase(p + h.name.start, h.name.count, "content-length") {
        fields += 1
        if fields > 1 { return true }
        var k = h.value.start
        while k < h.value.end { if p[k] == asciiComma { return true }; k += 1 }
    }
    return false
}

/// An `Upgrade` field offers `h2c` (HTTP/2 in cleartext, RFC 7540 §3.2): such a request
/// goes to the server without its Upgrade fields.
func isUpgradeToH2C(_ headers: [HTTPHeaderField], in bytes: UnsafeRawBufferPointer) -> Bool {
    let p = bytes.bytePointer
    for h in headers where bytesEqualLowercase(p + h.name.start, h.name.count, "upgrade") {
        var offers = false
        forEachListElement(p, h.value.start, h.value.end) { s, e in
            if bytesEqualLowercase(p + s, e - s, "h2c") { offers = true }
        }
        if offers { return true }
    }
    return false
}
