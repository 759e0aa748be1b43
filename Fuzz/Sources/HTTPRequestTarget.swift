@testable import ProxyCore
import NIOCore

/// The request head parser as the session drives it: parse what has arrived so far (a
/// prefix), then everything; undo obs-folds and parse again; normalise a head that needs
/// it and parse the result again.
enum HTTPRequestTarget {
    static func run(_ input: UnsafeRawBufferPointer) {
        guard !input.isEmpty else { return }
        // The first byte chooses where the earlier read ended; the rest is the stream.
        let bytes = UnsafeRawBufferPointer(rebasing: input.dropFirst())
        let prefixLength = bytes.isEmpty ? 0 : Int(input[0]) * bytes.count / 256

        var parser = HTTPRequestParser()
        let early = parser.parse(UnsafeRawBufferPointer(rebasing: bytes.prefix(prefixLength)))
        let earlyLength = parser.head.headLength
        if early == .complete { checkHead(parser, in: UnsafeRawBufferPointer(rebasing: bytes.prefix(prefixLength))) }

        var buffer = ByteBuffer(bytes: bytes)
        var status = buffer.withUnsafeReadableBytes { parser.parse($0) }
        // The head ended within the prefix: more bytes after it must not change it.
        if early == .complete {
            require(status == .complete && parser.head.headLength == earlyLength,
                    "a head complete after \(prefixLength) bytes reads \(status) with more")
        }
        var unfolds = 0
        while case .error(.obsoleteLineFolding) = status, let line = parser.foldedLineStart,
              unfoldLine(at: line, in: &buffer) {
            unfolds += 1
            require(unfolds <= bytes.count, "unfolding does not progress")
            status = buffer.withUnsafeReadableBytes { parser.parse($0) }
        }
        guard status == .complete else { return }
        buffer.withUnsafeReadableBytes { checkHead(parser, in: $0) }
        guard parser.head.needsNormalising else { return }

        let understood = parser.head
        normaliseRequestHead(understood, in: &buffer)
        let again = buffer.withUnsafeReadableBytes { parser.parse($0) }
        // What is forwarded is what was understood, and needs no further rewriting.
        require(again == .complete, "the normalised head does not parse: \(again)")
        require(!parser.head.needsNormalising, "the normalised head still needs normalising")
        require(parser.head.method == understood.method && parser.head.version == understood.version
                    && parser.head.framing == understood.framing,
                "normalising changed the request's meaning")
        buffer.withUnsafeReadableBytes { checkHead(parser, in: $0) }
    }

    /// Every span of a complete head lies inside the bytes, and reading them is safe.
    static func checkHead(_ parser: HTTPRequestParser, in bytes: UnsafeRawBufferPointer) {
        let head = parser.head
        require(head.headLength > 0 && head.headLength <= bytes.count, "head length \(head.headLength) of \(bytes.count)")
        for span in [head.methodSpan, head.targetSpan, head.versionSpan] + (head.host.map { [$0] } ?? []) {
            checkSpan(span, within: head.headLength, in: bytes)
        }
        for field in parser.headers {
            checkSpan(field.name, within: head.headLength, in: bytes)
            checkSpan(field.value, within: head.headLength, in: bytes)
            require(field.lineEnd(in: bytes) <= head.headLength, "a header line ends past the head")
        }
        _ = parser.firstHeader("host", in: bytes)
    }

    static func checkSpan(_ span: HTTPSpan, within limit: Int, in bytes: UnsafeRawBufferPointer) {
        require(span.start >= 0 && span.count >= 0 && span.end <= limit, "span \(span) outside 0..<\(limit)")
        var sum: UInt8 = 0
        for b in bytes[span.start..<span.end] { sum &+= b }
        _ = sum
    }
}
