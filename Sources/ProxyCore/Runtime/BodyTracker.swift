import NIOCore

/// Follows a message body as its bytes are forwarded unchanged, to know where it ends.
/// Its state is a few integers whatever the body's size.
struct BodyTracker {
    enum Kind {
        case none
        case remaining(UInt64)
        case chunked
        case untilClose
    }

    private(set) var kind: Kind = .none
    private var framer = ChunkedBodyFramer()

    enum Progress {
        /// All of the bytes belong to the body, which goes on.
        case needsMore
        /// The body ends after `consumed` bytes; the rest is the next message.
        case complete(consumed: Int)
        case invalid
    }

    mutating func start(_ framing: HTTPBodyFraming) {
        switch framing {
        case .none, .tunnel: kind = .none
        case .contentLength(let length): kind = length == 0 ? .none : .remaining(length)
        case .chunked:
            kind = .chunked
            framer.reset()
        case .untilClose: kind = .untilClose
        }
    }

    var isFinished: Bool {
        if case .none = kind { return true }
        return false
    }

    /// Accounts for the readable bytes of `buffer`.
    mutating func consume(_ buffer: ByteBuffer) -> Progress {
        switch kind {
        case .none:
            return .complete(consumed: 0)
        case .untilClose:
            return .needsMore
        case .remaining(let left):
            let available = UInt64(buffer.readableBytes)
            if available < left {
                kind = .remaining(left - available)
                return .needsMore
            }
            kind = .none
            return .complete(consumed: Int(left))
        case .chunked:
            let result = buffer.withUnsafeReadableBytes { framer.feed($0) }
            switch result {
            case .needsMore: return .needsMore
            case .complete(let consumed):
                kind = .none
                return .complete(consumed: consumed)
            case .error: return .invalid
            }
        }
    }
}
