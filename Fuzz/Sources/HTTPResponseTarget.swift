@testable import ProxyCore
import NIOCore

/// The response head parser as the session drives it: a prefix, then everything, with
/// obs-folds undone; the request method (first byte) changes the framing rules.
enum HTTPResponseTarget {
    static let methods: [HTTPMethod] = [.get, .head, .post, .connect, .options, .other]

    static func run(_ input: UnsafeRawBufferPointer) {
        guard input.count >= 2 else { return }
        let method = methods[Int(input[0]) % methods.count]
        let bytes = UnsafeRawBufferPointer(rebasing: input.dropFirst(2))
        let prefixLength = bytes.isEmpty ? 0 : Int(input[1]) * bytes.count / 256

        var parser = HTTPResponseParser()
        let early = parser.parse(UnsafeRawBufferPointer(rebasing: bytes.prefix(prefixLength)), requestMethod: method)
        let earlyLength = parser.head.headLength

        var buffer = ByteBuffer(bytes: bytes)
        var status = buffer.withUnsafeReadableBytes { parser.parse($0, requestMethod: method) }
        if early == .complete {
            require(status == .complete && parser.head.headLength == earlyLength,
                    "a head complete after \(prefixLength) bytes reads \(status) with more")
        }
        var unfolds = 0
        while case .error(.obsoleteLineFolding) = status, let line = parser.foldedLineStart,
              unfoldLine(at: line, in: &buffer) {
            unfolds += 1
            require(unfolds <= bytes.count, "unfolding does not progress")
            status = buffer.withUnsafeReadableBytes { parser.parse($0, requestMethod: method) }
        }
        guard status == .complete else { return }
        buffer.withUnsafeReadableBytes { bytes in
            let head = parser.head
            require(head.headLength > 0 && head.headLength <= bytes.count, "head length \(head.headLength) of \(bytes.count)")
            var spans = [head.versionSpan, head.statusSpan, head.reasonSpan]
            for field in parser.headers {
                spans += [field.name, field.value]
                require(field.lineEnd(in: bytes) <= head.headLength, "a header line ends past the head")
            }
            for span in spans {
                HTTPRequestTarget.checkSpan(span, within: head.headLength, in: bytes)
            }
            require(head.status >= 100 && head.status <= 999, "status \(head.status)")
            _ = parser.firstHeader("content-length", in: bytes)
        }
    }
}
