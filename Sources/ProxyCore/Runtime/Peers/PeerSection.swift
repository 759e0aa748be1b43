import CLinux  // SO_REUSEPORT
import Glibc
import NIOCore
import NIOPosix

/// A `peers` section at run time: listens on the local peer's address, keeps one
/// connection with each remote peer (theirs or ours), pushes local changes of the tables
/// naming the section, and asks one peer for a full resync when it starts, so that a
/// restarted proxyd gets its tables back. Everything here runs on one event loop.
final class PeerSection: @unchecked Sendable {
    let configuration: PeersSection
    let loop: EventLoop
    let localName: String
    let pid = getpid()
    let remotePeerNames: Set<String>
    /// Who may say hello: the remote peers, and the local peer itself (the process we
    /// replace, handing its tables over on a reload).
    var acceptedSenders: Set<String> { remotePeerNames.union([localName]) }
    /// Our tables by our id for them (1…): updates name tables by these ids.
    private let tables: [StickTable]
    private let tablesByName: [String: StickTable]
    /// One established session per remote peer.
    private var sessions: [String: PeerSession] = [:]
    /// Sessions still in their handshake (ours while connecting).
    private var pending: [ObjectIdentifier: PeerSession] = [:]
    /// When to try each remote peer again (process milliseconds).
    private var nextAttempt: [String: Int] = [:]
    /// The update id of each table's last pushed change.
    private var updateIDs: [Int: UInt32] = [:]
    /// What each peer acknowledged, by our table id: the last update id it applied.
    private var acknowledged: [String: [Int: UInt32]] = [:]
    /// Until a peer answered a resync request with "finished", and whom we asked.
    private var needsResync: Bool
    private var resyncPeer: String?
    private var pushedLocalChanges = false
    private var server: Channel?
    private var timers: [RepeatedTask] = []
    /// For `show peers` (PeerStatus.swift): counters per remote peer, the loop's wake-ups,
    /// when the next heartbeat goes, and the copy the runtime API reads.
    private var counters: [String: PeerCounters] = [:]
    private var taskCalls = 0
    private var nextHeartbeat: Int?
    let startedAt = WallTime.now()
    let statusBoard: PeerStatusBoard

    /// Milliseconds between looks at the connections (and at changes, though a change
    /// wakes the loop itself).
    static let pushInterval: Int64 = 100
    static let heartbeatInterval: Int64 = 2000
    /// HAProxy waits 5 s between connection attempts; a peer silent this long is gone.
    static let reconnectDelay = 5000
    static let silenceLimit = 10000

    init(_ configuration: PeersSection, tables directory: StickTableDirectory, loop: EventLoop) {
        self.configuration = configuration
        self.loop = loop
        localName = configuration.localPeerName
        remotePeerNames = Set(configuration.remotePeers.map(\.name))
        let name = configuration.name
        tables = directory.tables.filter { $0.definition.peers == name }
        var byName: [String: StickTable] = [:]
        for table in tables { byName[PeerProtocol.wireName(table.definition)] = table }
        tablesByName = byName
        needsResync = !configuration.remotePeers.isEmpty
        statusBoard = PeerStatusBoard(PeersReport(name: configuration.name, startedAt: startedAt, disabled: false,
                                                  resyncing: false, taskCalls: 0, peers: [], tables: []))
        for table in tables {
            table.replicated = true
            // One wake-up per batch: the list fills again only once pushChanges took it.
            table.changesWaiting = { [weak self, loop] in loop.execute { self?.pushChanges() } }
        }
    }

    /// The table a peer's definition names (by its name on the wire; `NAME` is taken for
    /// `/NAME` too, as later HAProxy versions may send it).
    func table(named name: String) -> StickTable? { tablesByName[name] ?? tablesByName["/" + name] }

    // MARK: Life

    /// Binds the local peer's address; connections and timers start on the loop.
    func start() throws {
        if let port = configuration.bindPort {
            let host = configuration.bindHost.flatMap { $0.isEmpty || $0 == "*" ? nil : $0 } ?? "0.0.0.0"
            server = try ServerBootstrap(group: loop)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                // A reloaded proxyd binds while the process it replaces still listens
                // (that one closes its peers when it soft-stops).
                .serverChannelOption(.socketOption(NIOBSDSocket.Option(rawValue: SO_REUSEPORT)), value: 1)
                .childChannelInitializer { [self] channel in
                    channel.eventLoop.makeCompletedFuture {
                        let session = PeerSession(section: self, role: .accepted)
                        pending[ObjectIdentifier(session)] = session
                        try channel.pipeline.syncOperations.addHandler(session)
                    }
                }
                .bind(host: host, port: port).wait()
        }
        loop.execute { [self] in
            nextHeartbeat = ProcessClock.milliseconds + Int(Self.heartbeatInterval)
            connectAll()
            publishStatus()
            timers.append(loop.scheduleRepeatedTask(initialDelay: .milliseconds(Self.pushInterval),
                                                    delay: .milliseconds(Self.pushInterval)) { [self] _ in
                taskCalls += 1
                pushChanges()
                connectAll()
            })
            timers.append(loop.scheduleRepeatedTask(initialDelay: .milliseconds(Self.heartbeatInterval),
                                                    delay: .milliseconds(Self.heartbeatInterval)) { [self] _ in
                taskCalls += 1
                heartbeat()
            })
        }
    }

    func stop() {
        // The tables outlive us (a soft stop still serves): they list nothing more.
        for table in tables {
            table.withLock {
                table.replicated = false
                table.changesWaiting = nil
            }
        }
        loop.execute { [self] in
            for timer in timers { timer.cancel() }
            timers.removeAll()
            for session in Array(sessions.values) + Array(pending.values) { session.close() }
        }
        // Waited for: a successor is taught at this address next, and must not land here.
        try? server?.close().wait()
    }

    /// Every live entry of every table, then "finished": what a new process learns from
    /// the one it replaces (PeerSuccessor). Called off the loop, after `stop`.
    func successorLesson() -> [UInt8] {
        let now = ProcessClock.milliseconds
        var out: [UInt8] = []
        var updateID: UInt32 = 0
        for (index, table) in tables.enumerated() {
            out += PeerProtocol.definition(table.definition, id: index + 1)
            table.withLock {
                for entry in table.liveEntries(now: now) {
                    updateID &+= 1
                    out += PeerProtocol.timedUpdate(id: updateID, expiresIn: entry.expiresAt == 0 ? 0 : entry.expiresAt - now,
                                                    body: PeerProtocol.updateBody(entry, in: table, now: now))
                }
            }
        }
        return out + PeerProtocol.control(.resyncFinished)
    }

    /// The process we replace taught us everything: no need to ask a remote peer.
    func learnedFromPredecessor() {
        needsResync = false
    }

    // MARK: Connections

    private func connectAll() {
        let now = ProcessClock.milliseconds
        for peer in configuration.remotePeers where sessions[peer.name] == nil {
            guard now >= nextAttempt[peer.name, default: 0], let host = peer.host, let port = peer.port else { continue }
            guard !pending.values.contains(where: { $0.peerName == peer.name }) else { continue }
            nextAttempt[peer.name] = now + Self.reconnectDelay
            counters[peer.name, default: PeerCounters()].lastStatus = "CONN"
            counters[peer.name, default: PeerCounters()].newConnections += 1
            defer { publishStatus() }
            let session = PeerSession(section: self, role: .connecting(peer: peer.name))
            pending[ObjectIdentifier(session)] = session
            ClientBootstrap(group: loop)
                .connectTimeout(.seconds(2))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(session) }
                }
                .connect(host: host, port: port)
                .whenFailure { [self] _ in pending[ObjectIdentifier(session)] = nil }
        }
    }

    func sessionEstablished(_ session: PeerSession) {
        guard let name = session.peerName else { return }
        // The process we replace, teaching us its tables: it stays until it closes.
        if name == localName { return }
        pending[ObjectIdentifier(session)] = nil
        // One connection per peer: the newest wins, as in HAProxy. Both ends may have
        // connected at once and each killed the other's: a random delay before we try
        // again keeps the two from doing it forever.
        counters[name, default: PeerCounters()].lastStatus = "ESTA"
        counters[name, default: PeerCounters()].lastHandshake = ProcessClock.milliseconds
        defer { publishStatus() }
        if let old = sessions[name], old !== session {
            counters[name, default: PeerCounters()].collisions += 1
            sessions[name] = nil
            old.close()
            nextAttempt[name] = ProcessClock.milliseconds + 50 + Int.random(in: 0..<2000)
        }
        sessions[name] = session
        resendUnacknowledged(to: session, peer: name)
        askForResync()
    }

    /// A peer acknowledged our updates of table `id` up to `update`.
    func acknowledge(_ session: PeerSession, table id: Int, update: UInt32) {
        guard let name = session.peerName else { return }
        acknowledged[name, default: [:]][id] = max(acknowledged[name]?[id] ?? 0, update)
    }

    /// What the peer missed while it was away, or what went into a connection being
    /// killed (both ends connecting at once): our local changes it did not acknowledge,
    /// as HAProxy sends again from the last acknowledged update. Only local changes:
    /// sending back what came from elsewhere could undo a newer value.
    private func resendUnacknowledged(to session: PeerSession, peer: String) {
        let now = ProcessClock.milliseconds
        for (index, table) in tables.enumerated() {
            let id = index + 1
            let acked = acknowledged[peer]?[id] ?? 0
            var messages: [UInt8] = []
            table.withLock {
                for entry in table.liveEntries(now: now) where entry.lastPushID > acked {
                    messages += update(of: entry, in: table, id: id, now: now)
                }
            }
            session.push(table: id, definition: table.definition, messages: messages)
        }
    }

    /// Our hello was answered with another status than 200.
    func helloRefused(by peer: String, status: String) {
        let word = PeerCounters.statusWord(status)
        counters[peer, default: PeerCounters()].lastStatus = word
        if word == "PROT" { counters[peer, default: PeerCounters()].protocolErrors += 1 }
    }

    func heartbeatReceived(from session: PeerSession) {
        guard let name = session.peerName else { return }
        counters[name, default: PeerCounters()].receivedHeartbeats += 1
    }

    func sessionClosed(_ session: PeerSession) {
        defer { publishStatus() }
        pending[ObjectIdentifier(session)] = nil
        guard let name = session.peerName, sessions[name] === session else { return }
        sessions[name] = nil
        // Soon, at a random moment: two ends that lost their connections at once do not
        // meet again at the same instant (then attempts come every reconnectDelay).
        nextAttempt[name] = ProcessClock.milliseconds + 50 + Int.random(in: 0..<2000)
        if resyncPeer == name {
            resyncPeer = nil
            askForResync()
        }
    }

    private func heartbeat() {
        let now = ProcessClock.milliseconds
        // A connection that never finishes its hello (or a predecessor that stalls) goes too.
        for session in Array(pending.values) where now - session.lastHeard > Self.silenceLimit { session.close() }
        nextHeartbeat = now + Int(Self.heartbeatInterval)
        for (name, session) in sessions {
            if now - session.lastHeard > Self.silenceLimit {
                counters[name, default: PeerCounters()].missedHeartbeats += 1
                session.close()
            } else {
                counters[name, default: PeerCounters()].sentHeartbeats += 1
                session.send(PeerProtocol.control(.heartbeat))
            }
        }
        publishStatus()
    }

    /// Publishes what `show peers` reads (PeerStatus.swift); on the loop.
    private func publishStatus() {
        let now = ProcessClock.milliseconds
        let reportedTables = tables.enumerated().map { index, table in
            PeersReport.Table(localID: index + 1, name: table.name, update: updateIDs[index + 1] ?? 0)
        }
        let peers = configuration.peers.map { peer -> PeersReport.Peer in
            let address = (peer.host ?? "").contains(":") ? "[\(peer.host ?? "")]:\(peer.port ?? 0)" : "\(peer.host ?? ""):\(peer.port ?? 0)"
            let session = sessions[peer.name] ?? pending.values.first { $0.peerName == peer.name }
            var report = PeersReport.Peer(
                name: peer.name, isLocal: peer.name == localName, isActive: session != nil,
                sessionState: session?.handshakeState ?? 0, address: address,
                counters: counters[peer.name] ?? PeerCounters(),
                reconnectAt: peer.name == localName ? nil : nextAttempt[peer.name] ?? now,
                heartbeatAt: sessions[peer.name] != nil ? nextHeartbeat : nil)
            guard peer.name != localName else { return report }
            if let established = sessions[peer.name] {
                report.lastLocalTable = established.lastLocalTable
                report.remoteTable = established.currentRemoteTableName.flatMap { name in
                    tables.firstIndex { PeerProtocol.wireName($0.definition) == name || $0.name == name }.map { $0 + 1 }
                }
            }
            for (index, table) in tables.enumerated() {
                let id = index + 1
                report.acknowledged[id] = acknowledged[peer.name]?[id] ?? 0
                if let established = sessions[peer.name] {
                    report.pushed[id] = updateIDs[id] ?? 0
                    if let remote = established.remoteTable(named: PeerProtocol.wireName(table.definition)) {
                        report.remoteIDs[id] = remote.id
                        report.received[id] = remote.lastReceived
                    }
                }
            }
            return report
        }
        statusBoard.publish(PeersReport(name: configuration.name, startedAt: startedAt, disabled: configuration.disabled,
                                        resyncing: needsResync, taskCalls: taskCalls, peers: peers, tables: reportedTables))
    }

    // MARK: Resync

    /// On start, one connected peer is asked for everything it knows. Not once we have
    /// pushed changes of our own: what a peer teaches would overwrite them with its older
    /// view (two proxies started at once, whose first connections collided, would
    /// otherwise undo each other's first counts). A start connects before it accepts
    /// traffic, so a restart still asks in time.
    private func askForResync() {
        if needsResync, pushedLocalChanges { needsResync = false }
        guard needsResync, resyncPeer == nil, let (name, session) = sessions.first else { return }
        resyncPeer = name
        session.resyncRequested = true
        session.send(PeerProtocol.control(.resyncRequest))
    }

    func resyncEnded(by session: PeerSession, complete: Bool) {
        resyncPeer = nil
        // A partial resync: another peer may know more (HAProxy asks the next one).
        if complete { needsResync = false } else { askForResync() }
    }

    /// A peer asked for a full resync: every live entry of every table, then "finished".
    func teach(_ session: PeerSession) {
        let now = ProcessClock.milliseconds
        for (index, table) in tables.enumerated() {
            let id = index + 1
            var messages: [UInt8] = []
            table.withLock {
                for entry in table.liveEntries(now: now) {
                    messages += update(of: entry, in: table, id: id, now: now, local: false)
                }
            }
            session.push(table: id, definition: table.definition, messages: messages)
        }
        session.send(PeerProtocol.control(.resyncFinished))
    }

    // MARK: Pushing

    /// Sends what changed locally since the last push to every connected peer.
    private func pushChanges() {
        let now = ProcessClock.milliseconds
        var published = true
        for (index, table) in tables.enumerated() {
            let id = index + 1
            var messages: [UInt8] = []
            table.withLock {
                for entry in table.takePendingPushes() {
                    messages += update(of: entry, in: table, id: id, now: now)
                }
            }
            guard !messages.isEmpty else { continue }
            pushedLocalChanges = true
            for session in sessions.values { session.push(table: id, definition: table.definition, messages: messages) }
            published = false
        }
        if !published { publishStatus() }
    }

    /// A timed update of `entry` under its table's next update id (call under the lock).
    /// `local`: a local change (resent to a peer that did not acknowledge it), not a
    /// whole table taught on request.
    private func update(of entry: StickEntry, in table: StickTable, id: Int, now: Int, local: Bool = true) -> [UInt8] {
        let updateID = updateIDs[id, default: 0] &+ 1
        updateIDs[id] = updateID
        if local { entry.lastPushID = updateID }
        let expiresIn = entry.expiresAt == 0 ? 0 : entry.expiresAt - now
        return PeerProtocol.timedUpdate(id: updateID, expiresIn: expiresIn,
                                        body: PeerProtocol.updateBody(entry, in: table, now: now))
    }
}
