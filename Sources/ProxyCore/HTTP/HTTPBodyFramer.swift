// One state machine for every body framing, so the engine's forwarding loop does not
// switch on the framing itself: feed each slice it is about to forward, and learn how
// many of its bytes still belong to the current message.

public struct HTTPBodyFramer: Sendable {
    @usableFromInline
    enum Mode: Sendable {
        case none
        case length(remaining: UInt64)
        case chunked(ChunkedBodyFramer)
        /// untilClose and tunnel: everything belongs to the message until the
        /// connection closes.
        case unbounded
    }

    @usableFromInline var mode: Mode

    /// - Parameter framing: from `HTTPRequestHead.framing` or `HTTPResponseHead.framing`.
    public init(framing: HTTPBodyFraming) {
        switch framing {
        case .none: mode = .none
        case .contentLength(let n): mode = n == 0 ? .none : .length(remaining: n)
        case .chunked: mode = .chunked(ChunkedBodyFramer())
        case .untilClose, .tunnel: mode = .unbounded
        }
    }

    /// True when the message has no body bytes left to forward.
    public var isComplete: Bool {
        switch mode {
        case .none: return true
        case .length(let r): return r == 0
        case .chunked(let c): return c.isComplete
        case .unbounded: return false
        }
    }

    /// Feeds the next bytes after the head. `.complete(consumed:)` gives how many
    /// bytes of this slice end the body (0 for a message without body); the rest is
    /// the next message. `.needsMore`: all of it is body. Only chunked bodies can
    /// fail.
    @inline(__always)
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) -> ChunkedFeedResult {
        switch mode {
        case .none:
            return .complete(consumed: 0)
        case .length(let remaining):
            let n = UInt64(bytes.count)
            if n < remaining {
                mode = .length(remaining: remaining - n)
                return .needsMore
            }
            mode = .none
            return .complete(consumed: Int(remaining))
        case .chunked(var c):
            mode = .none // keep the chunked state uniquely owned while it runs
            let r = c.feed(bytes)
            mode = .chunked(c)
            return r
        case .unbounded:
            return .needsMore
        }
    }
}
