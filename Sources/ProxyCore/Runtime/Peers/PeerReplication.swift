extension ProxyRuntime {
    /// Starts the `peers` sections that have their local peer and are not `disabled`:
    /// their tables' local changes are pushed from now on. Throws when the local peer's
    /// address cannot be bound.
    public func startPeers(_ config: ProxyConfiguration) throws {
        let loop = group.next()
        for section in config.peers where section.hasLocalPeer && !section.disabled {
            let running = PeerSection(section, tables: stickTables, loop: loop)
            do {
                try running.start()
            } catch {
                throw PeersStartError(message: "Starting peers '\(section.name)' on \(section.bindHost ?? ""):\(section.bindPort ?? 0): \(ProxyRuntime.reason(for: error))")
            }
            peerSections.append(running)
        }
    }

    /// Soft stop or shutdown: the peers' connections and listener close. On a soft stop
    /// (a reload) the process replacing us is taught our tables first.
    func stopPeers(teachingSuccessor: Bool = false) {
        for section in peerSections {
            section.stop()
            if teachingSuccessor { section.teachSuccessor() }
        }
        peerSections.removeAll()
    }
}

public struct PeersStartError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
