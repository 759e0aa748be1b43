import NIOCore

/// proxyd's own answers (deny, return, redirect, tarpit, error pages) tell the client what
/// becomes of its connection as HAProxy 2.6's HTTP/1 layer does: an HTTP/1.1 answer after
/// which the connection closes says `connection: close`; an answer to an HTTP/1.0 client
/// whose connection stays open says `connection: keep-alive`. A page that already carries
/// a Connection header (an errorfile, the connection layer's 400 and 408) is sent as it is.
extension HTTPSession {
    func announcingConnection(_ reply: ByteBuffer, closing: Bool) -> ByteBuffer {
        let value: String
        if closing {
            value = "close"
        } else if stream.clientIsHTTP10 {
            value = "keep-alive"
        } else {
            return reply
        }
        return reply.withUnsafeReadableBytes { bytes -> ByteBuffer in
            guard let end = Self.headEnd(bytes) else { return reply }
            // An HTTP/1.0 answer closes without saying so.
            if closing, bytes.starts(with: "HTTP/1.0 ".utf8) { return reply }
            if Self.hasConnectionHeader(bytes[..<end]) { return reply }
            var out = ByteBuffer()
            out.reserveCapacity(reply.readableBytes + 24)
            // Before the blank line that ends the head, after the page's own headers.
            out.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[..<(end + 2)]))
            out.writeString("connection: \(value)\r\n")
            out.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[(end + 2)...]))
            return out
        }
    }

    /// Whether `reply` says neither `content-length` nor `transfer-encoding`, so that its
    /// body ends when the connection does (HAProxy closes after such an errorfile).
    static func bodyEndsByClose(_ reply: ByteBuffer) -> Bool {
        reply.withUnsafeReadableBytes { bytes in
            guard let end = headEnd(bytes) else { return false }
            if bytes.starts(with: "HTTP/1.1 204 ".utf8) || bytes.starts(with: "HTTP/1.1 304 ".utf8) { return false }
            return !hasHeader(bytes[..<end], named: "content-length:") && !hasHeader(bytes[..<end], named: "transfer-encoding:")
        }
    }

    /// The offset of the `\r\n\r\n` that ends the head.
    private static func headEnd(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for i in 0...(bytes.count - 4) where bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13 && bytes[i + 3] == 10 {
            return i
        }
        return nil
    }

    /// Whether a header line of the head (status line excluded) is named Connection.
    private static func hasConnectionHeader(_ head: Slice<UnsafeRawBufferPointer>) -> Bool {
        hasHeader(head, named: "connection:")
    }

    /// Whether a header line of the head (status line excluded) has this lower-case name
    /// (with its colon).
    private static func hasHeader(_ head: Slice<UnsafeRawBufferPointer>, named: String) -> Bool {
        let name = Array(named.utf8)
        var lineStart = head.startIndex
        var i = head.startIndex
        while i < head.endIndex {
            if head[i] == 10 {
                lineStart = i + 1
                if head.endIndex - lineStart >= name.count {
                    var matches = true
                    for k in 0..<name.count where asciiLower(head[lineStart + k]) != name[k] {
                        matches = false
                        break
                    }
                    if matches { return true }
                }
            }
            i += 1
        }
        return false
    }
}
