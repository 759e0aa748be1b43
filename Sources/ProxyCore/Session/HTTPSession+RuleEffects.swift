import NIOCore

/// What `set-src`, `set-log-level`, `tarpit`, `reject` and `silent-drop` rules do to the
/// session (Runtime/RuleEffects.swift), with HAProxy 2.6's log flags for each.
extension HTTPSession {
    func applyRuleEffects(_ effects: RuleEffects) {
        if let level = effects.logLevel { stream.log?.level = level }
        if let status = effects.status { stream.log?.status = status }
        if let facts = effects.connection {
            // The rest of the connection is from the new source, as HAProxy's `set-src`.
            connectionFacts = facts
            let text = String(decoding: facts.clientAddressText, as: UTF8.self)
            if let address = try? SocketAddress(ipAddress: text, port: facts.clientPort) {
                stream.log?.client = address
            }
            // `set-dst`: the log's `%fi`/`%fp` show the new destination, as HAProxy's do.
            if facts.destinationChanged, stream.log != nil { stream.log?.local = facts.destination }
        }
    }

    func end(_ ending: RequestEnding, backend chosen: RuntimeBackend?, inResponse: Bool = false) {
        if let chosen { stream.log?.backend = chosen }
        switch ending {
        case .reject, .silentDrop:
            // HAProxy: PR, status -1, nothing sent (PH once the response began).
            stream.log?.terminate("P", inResponse ? "H" : "R")
            if !inResponse { counters.deniedRequests.increment() }
            stream.serverReusable = false
            if case .silentDrop = ending { client.prepareSilentClose() }
            close()
        case .tarpit(let reply, let delay):
            // Held, then HAProxy's answer: PT, the hold counted as queue time. HAProxy 2.6
            // keeps a kept-alive client's connection afterwards, as after a deny.
            idle.arm(nil)
            client.eventLoop.scheduleTask(in: delay) { [weak self] in
                guard let self, self.phase != .closed else { return }
                self.countReply(reply, backend: chosen)
                self.stream.log?.terminate("P", "T")
                self.sendReply(reply, close: false)
            }
        }
    }
}
