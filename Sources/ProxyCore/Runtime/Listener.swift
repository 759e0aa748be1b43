import NIOCore

/// A listening socket, whichever data path accepts on it (NIO's server channel or
/// proxyd's own reactor). Callable from any thread.
protocol Listener: AnyObject, Sendable {
    /// The listening socket, for socket options (ListenerDrain) and hand-overs (`_getsocks`).
    var descriptor: CInt { get }
    /// Pauses or resumes accepting (maxconn, `disable frontend`); the kernel keeps
    /// queueing meanwhile.
    func setAccepting(_ accepting: Bool)
    /// Stops listening; connections already accepted go on.
    func close()
}

/// A listener accepting through NIO's server channel.
final class ChannelListener: Listener, @unchecked Sendable {
    let channel: Channel
    let descriptor: CInt

    init(channel: Channel, descriptor: CInt) {
        self.channel = channel
        self.descriptor = descriptor
    }

    func setAccepting(_ accepting: Bool) {
        let channel = self.channel
        channel.eventLoop.execute {
            // Through the pause after a failed accept when there is one (Logging/
            // ResourceShortageLog), so that its end keeps to what is asked here.
            if let pause = try? channel.pipeline.syncOperations.handler(type: AcceptFailurePause.self) {
                pause.setAccepting(accepting, on: channel)
                return
            }
            channel.setOption(.autoRead, value: accepting).whenSuccess {
                if accepting { channel.read() }
            }
        }
    }

    func close() { channel.close(promise: nil) }
}
