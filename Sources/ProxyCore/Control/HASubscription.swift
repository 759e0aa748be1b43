import Atomics
import NIOCore

/// One control-socket connection after `subscribe ha [hold]`: it no longer runs runtime
/// API commands, only the few lines of the HA protocol (docs/ha-protocol.md), and it is
/// neither timed out (`stats timeout`) nor counted among the sessions HAProxy clients see.
final class HASubscription: @unchecked Sendable {
    /// `subscribe ha [hold]`: whether a line asks for a subscription, and for a hold.
    enum Request {
        case subscribe(hold: Bool)
        case malformed

        /// nil for anything else, `subscribe foo` included: that one gets HAProxy's
        /// unknown-command answer, as from HAProxy.
        init?(_ line: String) {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard words.count >= 2, words[0] == "subscribe", words[1] == "ha" else { return nil }
            switch words.dropFirst().map(String.init) {
            case ["ha"]: self = .subscribe(hold: false)
            case ["ha", "hold"]: self = .subscribe(hold: true)
            default: self = .malformed
            }
        }
    }

    let channel: Channel
    /// Numbers subscribers for `show ha`.
    let number: Int
    private static let counter = ManagedAtomic(0)
    /// A hold subscriber that has not released: a stop waits for it. Guarded by the hub.
    var holds: Bool

    init(channel: Channel, holds: Bool) {
        self.channel = channel
        self.holds = holds
        self.number = Self.counter.wrappingIncrementThenLoad(ordering: .relaxed)
    }

    /// The answer to one line from the subscriber; "" for none.
    func answer(_ line: String, hub: HAHub) -> String {
        let request = line.trimmingSpaces
        switch request {
        case "":
            return ""
        case "ping":
            return "pong\n"
        case "drain":
            hub.setDraining(true, by: self)
            return "draining\n"
        case "undrain":
            hub.setDraining(false, by: self)
            return "undrained\n"
        case "release":
            // Idempotent, and harmless from a plain subscriber: nothing waits for it.
            hub.release(self)
            return "released\n"
        default:
            if Request(request) != nil { return "error: already subscribed\n" }
            let shown = request.count > 64 ? String(request.prefix(64)) + "…" : request
            return "error: unknown request '\(shown)'\n"
        }
    }

    /// Pushes event lines, from any thread. A subscriber that stopped reading (its
    /// socket buffer and NIO's both full) is dropped rather than buffered for without end;
    /// it sees EOF, as if proxyd had died, and resubscribes.
    func send(_ text: String) {
        guard channel.isActive else { return }
        guard channel.isWritable else {
            channel.close(promise: nil)
            return
        }
        var buffer = channel.allocator.buffer(capacity: text.utf8.count)
        buffer.writeString(text)
        channel.writeAndFlush(buffer, promise: nil)
    }
}
