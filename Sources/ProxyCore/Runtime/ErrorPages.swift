import NIOCore

/// The responses proxyd sends on its own behalf (400, 408, 502, 503, 504, …).
///
/// The built-in texts and header spellings are HAProxy 2.6's, so clients and tests that
/// know HAProxy see the same bytes. Errors raised while the request is still being read
/// (400, 408) come from HAProxy's connection layer and keep its capitalised header names
/// and `Connection: close`; the others come from its stream layer, which writes header
/// names in lower case and leaves the connection open. `errorfile CODE FILE` replaces a
/// response with the file's bytes: sent as they are by the connection layer, with the
/// header names in lower case by the stream layer (HAProxy reads the file into its
/// internal message, and its HTTP/1 output writes every name in lower case).
public struct ErrorPages: Sendable {
    private var overrides: [Int: ByteBuffer]
    private var streamOverrides: [Int: ByteBuffer]

    public init(errorFiles: [Int: [UInt8]] = [:]) {
        var overrides: [Int: ByteBuffer] = [:], streamOverrides: [Int: ByteBuffer] = [:]
        for (code, bytes) in errorFiles {
            overrides[code] = ByteBuffer(bytes: bytes)
            streamOverrides[code] = ByteBuffer(bytes: Self.streamForm(bytes))
        }
        self.overrides = overrides
        self.streamOverrides = streamOverrides
    }

    /// A page as HAProxy's stream layer sends it: a rule's reply (`deny`, `tarpit`,
    /// `return … default-errorfiles`, whatever the status) or an error the stream raises
    /// (502, 503, 504): names in lower case, no `Connection: close` of its own.
    public func streamResponse(_ status: Int) -> ByteBuffer {
        streamOverrides[status] ?? Self.streamCache[status] ?? Self.streamCache[500]!
    }

    /// `bytes` as HAProxy's stream layer sends a file it read: the names of the head's
    /// header lines in lower case and no `Connection` line (its HTTP/1 output decides that
    /// header itself); the status line and the body as they are.
    static func streamForm(_ bytes: [UInt8]) -> [UInt8] {
        guard let statusEnd = bytes.firstIndex(of: 10) else { return bytes }
        var out = Array(bytes[...statusEnd])
        var i = statusEnd + 1
        while i < bytes.count, bytes[i] != 13, bytes[i] != 10 {  // until the blank line
            let end = bytes[i...].firstIndex(of: 10) ?? bytes.count - 1
            var line = Array(bytes[i...end])
            var j = 0
            while j < line.count, line[j] != UInt8(ascii: ":") {
                if line[j] >= 65 && line[j] <= 90 { line[j] += 32 }
                j += 1
            }
            if !line.starts(with: Array("connection:".utf8)) { out += line }
            i = end + 1
        }
        if i < bytes.count { out += bytes[i...] }
        return out
    }

    /// HAProxy's choice, code by code: the backend's page when it has one for the code,
    /// else the frontend's, else the built-in one.
    public static func effective(backend: ErrorPages?, frontend: ErrorPages) -> ErrorPages {
        guard let backend, !backend.overrides.isEmpty else { return frontend }
        if frontend.overrides.isEmpty { return backend }
        var merged = frontend
        merged.overrides.merge(backend.overrides) { _, fromBackend in fromBackend }
        merged.streamOverrides.merge(backend.streamOverrides) { _, fromBackend in fromBackend }
        return merged
    }

    /// The bytes to send for `status`.
    public func response(_ status: Int) -> ByteBuffer {
        if let custom = overrides[status] { return custom }
        return ErrorPages.builtin(status)
    }

    /// Whether the connection must close after this error (HAProxy closes after errors
    /// raised while parsing the request, and after any custom errorfile whose headers
    /// say so; we cannot know what a custom file says, so we close after those too).
    public func closesConnection(_ status: Int) -> Bool {
        if overrides[status] != nil { return true }
        return ErrorPages.connectionLayerStatuses.contains(status)
    }

    static let connectionLayerStatuses: Set<Int> = [400, 408, 500, 501]

    /// Raised by HAProxy's HTTP/1 parser (a request it refuses to frame) without its
    /// `Connection: close`, but with the connection layer's capitalised names.
    static let parserStatusesKeepingConnection: Set<Int> = [422]

    private static let cache: [Int: ByteBuffer] = {
        var table: [Int: ByteBuffer] = [:]
        for (code, reason, text) in texts {
            table[code] = ByteBuffer(string: render(code: code, reason: reason, text: text))
        }
        return table
    }()

    static func builtin(_ status: Int) -> ByteBuffer {
        cache[status] ?? cache[500]!
    }

    /// HAProxy's own pages as its stream layer writes them, for every status.
    private static let streamCache: [Int: ByteBuffer] = {
        var table: [Int: ByteBuffer] = [:]
        for (code, reason, text) in texts {
            table[code] = ByteBuffer(string: render(code: code, reason: reason, text: text, layer: .stream))
        }
        return table
    }()

    /// Status, reason phrase and body sentence of HAProxy's built-in error messages.
    private static let texts: [(Int, String, String)] = [
        (200, "OK", "Service ready."),
        (400, "Bad request", "Your browser sent an invalid request."),
        (401, "Unauthorized", "You need a valid user and password to access this content."),
        (403, "Forbidden", "Request forbidden by administrative rules."),
        (404, "Not Found", "The resource could not be found."),
        (405, "Method Not Allowed", "A request was made of a resource using a request method not supported by that resource"),
        (407, "Unauthorized", "You need a valid user and password to access this content."),
        (408, "Request Time-out", "Your browser didn't send a complete request in time."),
        (410, "Gone", "The resource is no longer available and will not be available again."),
        (413, "Payload Too Large", "The request entity exceeds the maximum allowed."),
        (422, "Unprocessable Content", "The server cannot process the contained instructions."),
        (425, "Too Early", "Your browser sent early data."),
        (429, "Too Many Requests", "You have sent too many requests in a given amount of time."),
        (500, "Internal Server Error", "An internal server error occurred."),
        (501, "Not Implemented", "The server does not support the functionality required to fulfill the request."),
        (502, "Bad Gateway", "The server returned an invalid or incomplete response."),
        (503, "Service Unavailable", "No server is available to handle this request."),
        (504, "Gateway Time-out", "The server didn't respond in time."),
    ]

    private enum Layer { case byStatus, stream }

    private static func render(code: Int, reason: String, text: String, layer: Layer = .byStatus) -> String {
        let body = "<html><body><h1>\(code) \(reason)</h1>\n\(text)\n</body></html>\n"
        if layer == .stream {
            return "HTTP/1.1 \(code) \(reason)\r\ncontent-length: \(body.utf8.count)\r\n"
                + "cache-control: no-cache\r\ncontent-type: text/html\r\n\r\n" + body
        }
        if connectionLayerStatuses.contains(code) {
            return "HTTP/1.1 \(code) \(reason)\r\nContent-length: \(body.utf8.count)\r\n"
                + "Cache-Control: no-cache\r\nConnection: close\r\nContent-Type: text/html\r\n\r\n" + body
        }
        if parserStatusesKeepingConnection.contains(code) {
            return "HTTP/1.1 \(code) \(reason)\r\nContent-length: \(body.utf8.count)\r\n"
                + "Cache-Control: no-cache\r\nContent-Type: text/html\r\n\r\n" + body
        }
        return "HTTP/1.1 \(code) \(reason)\r\ncontent-length: \(body.utf8.count)\r\n"
            + "cache-control: no-cache\r\ncontent-type: text/html\r\n\r\n" + body
    }
}
