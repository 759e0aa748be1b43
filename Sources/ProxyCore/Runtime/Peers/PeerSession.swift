import NIOCore

/// One connection with a remote peer, either side having connected: the handshake, then
/// the messages both ways. Lives on the peers' event loop; its section (PeerSection)
/// decides what is pushed and who is asked for a resync.
final class PeerSession: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum Role {
        /// We connected to `peer`: our hello went out, its status is awaited.
        case connecting(peer: String)
        /// It connected to us: its hello is awaited.
        case accepted
    }

    enum State { case handshake, established, closed }

    private unowned let section: PeerSection
    private let role: Role
    private(set) var state = State.handshake
    /// The remote peer's name, once known.
    private(set) var peerName: String?
    private var channel: Channel?
    private var inbound: [UInt8] = []

    /// Tables the remote defined, by its ids, and the one its next updates are for.
    private var remoteTables: [Int: PeerProtocol.RemoteTable] = [:]
    private var currentRemoteTable: Int?
    /// The last update id received per remote table (incremental updates add one).
    private var lastReceived: [Int: UInt32] = [:]
    /// Acknowledgements owed: remote table id → last update id.
    private var owedAcks: [Int: UInt32] = [:]
    /// `server_key` values this connection received, by dictionary id.
    private var dictionary: [Int: String] = [:]
    /// Our tables (by our id) whose definition this connection has carried.
    private var definedTables: Set<Int> = []
    /// When the last byte came (process milliseconds): a silent peer is dropped.
    private(set) var lastHeard = ProcessClock.milliseconds
    /// Whether we asked this peer for a full resync and await its end.
    var resyncRequested = false
    /// Our id of the table we last sent messages of (`show peers`'s `last_local_table`).
    private(set) var lastLocalTable: Int?
    /// The name of the remote table its updates are for now (`show peers`'s `remote_table`).
    var currentRemoteTableName: String? { currentRemoteTable.flatMap { remoteTables[$0]?.name } }

    init(section: PeerSection, role: Role) {
        self.section = section
        self.role = role
        if case .connecting(let peer) = role { peerName = peer }
    }

    /// HAProxy's state number for this connection in `show peers` (its `st0`): 1 while
    /// an accepted one awaits the hello, 6 while ours awaits the status, 7 established.
    var handshakeState: Int {
        switch (state, role) {
        case (.handshake, .accepted): return 1
        case (.handshake, .connecting): return 6
        case (.established, _): return 7
        case (.closed, _): return 11
        }
    }

    /// The peer's id for the table it defined under `name`, and its last update received.
    func remoteTable(named name: String) -> (id: Int, lastReceived: UInt32)? {
        guard let remote = remoteTables.values.first(where: { $0.name == name || $0.name == "/" + name || "/" + $0.name == name }) else {
            return nil
        }
        return (remote.id, lastReceived[remote.id] ?? 0)
    }

    // MARK: Channel events

    func channelActive(context: ChannelHandlerContext) {
        channel = context.channel
        lastHeard = ProcessClock.milliseconds
        if case .connecting(let peer) = role {
            send(PeerProtocol.hello(to: peer, from: section.localName, pid: section.pid))
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        if let bytes = buffer.readBytes(length: buffer.readableBytes) { inbound += bytes }
        lastHeard = ProcessClock.milliseconds
        process()
    }

    func channelInactive(context: ChannelHandlerContext) {
        guard state != .closed else { return }
        state = .closed
        section.sessionClosed(self)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    func close() {
        guard state != .closed else { return }
        state = .closed
        section.sessionClosed(self)
        channel?.close(promise: nil)
    }

    func send(_ bytes: [UInt8]) {
        guard let channel, state != .closed else { return }
        channel.writeAndFlush(channel.allocator.buffer(bytes: bytes), promise: nil)
    }

    // MARK: Reading

    private func process() {
        var offset = 0
        defer { if offset > 0 { inbound.removeFirst(offset) } }
        while state == .handshake {
            switch role {
            case .accepted:
                // Three lines.
                var lines: [String] = []
                var start = offset
                var index = offset
                while index < inbound.count, lines.count < 3 {
                    if inbound[index] == 0x0A {
                        lines.append(String(decoding: inbound[start..<index], as: UTF8.self))
                        start = index + 1
                    }
                    index += 1
                }
                guard lines.count == 3 else {
                    if inbound.count - offset > 1024 { answer(.protocolError) }
                    return
                }
                offset = start
                let (status, sender) = PeerProtocol.judgeHello(lines, localName: section.localName,
                                                               knownPeers: section.acceptedSenders)
                guard status == .succeeded, let sender else {
                    answer(status)
                    return
                }
                peerName = sender
                send(Array("\(status.rawValue)\n".utf8))
                state = .established
                section.sessionEstablished(self)
            case .connecting:
                guard let newline = inbound[offset...].firstIndex(of: 0x0A) else {
                    if inbound.count - offset > 64 { close() }
                    return
                }
                let status = String(decoding: inbound[offset..<newline], as: UTF8.self)
                offset = newline + 1
                guard status == "200" else {
                    if let peerName { section.helloRefused(by: peerName, status: status) }
                    close()
                    return
                }
                state = .established
                section.sessionEstablished(self)
            }
        }
        while state == .established {
            guard let (used, complete) = readMessage(from: offset) else {
                close()
                return
            }
            guard complete else { break }
            offset += used
        }
        sendOwedAcks()
    }

    private func answer(_ status: PeerProtocol.Status) {
        send(Array("\(status.rawValue)\n".utf8))
        close()
    }

    /// Reads one message at `start`: how many bytes it took and whether it was whole;
    /// nil at a protocol error.
    private func readMessage(from start: Int) -> (Int, Bool)? {
        guard inbound.count - start >= 2 else { return (0, false) }
        let messageClass = inbound[start], type = inbound[start + 1]
        var payload: [UInt8] = []
        var used = 2
        if type >= 128 {
            var reader = PeerProtocol.Reader(inbound, from: start + 2)
            guard let length = reader.int() else {
                // A length cut in the middle: wait, unless it cannot be one.
                return inbound.count - start > 12 ? nil : (0, false)
            }
            guard length <= 1 << 20 else { return nil }
            guard inbound.count - reader.offset >= length else { return (0, false) }
            payload = Array(inbound[reader.offset..<reader.offset + length])
            used = reader.offset + length - start
        }
        switch messageClass {
        case PeerProtocol.MessageClass.control.rawValue:
            handleControl(type)
        case PeerProtocol.MessageClass.error.rawValue:
            return nil
        case PeerProtocol.MessageClass.stickTable.rawValue:
            guard let kind = PeerProtocol.StickTableMessage(rawValue: type) else { return nil }
            guard handleStickTable(kind, payload) else { return nil }
        default:
            // Reserved classes: skipped, as HAProxy skips them.
            break
        }
        return (used, true)
    }

    private func handleControl(_ type: UInt8) {
        switch PeerProtocol.Control(rawValue: type) {
        case .resyncRequest?:
            section.teach(self)
        case .resyncFinished?, .resyncPartial?:
            send(PeerProtocol.control(.resyncConfirm))
            if peerName == section.localName, type == PeerProtocol.Control.resyncFinished.rawValue {
                section.learnedFromPredecessor()
            }
            if resyncRequested {
                resyncRequested = false
                section.resyncEnded(by: self, complete: type == PeerProtocol.Control.resyncFinished.rawValue)
            }
        case .heartbeat?:
            section.heartbeatReceived(from: self)
        case .resyncConfirm?, nil:
            break
        }
    }

    private func handleStickTable(_ kind: PeerProtocol.StickTableMessage, _ payload: [UInt8]) -> Bool {
        switch kind {
        case .define:
            guard let remote = PeerProtocol.parseDefinition(payload) else { return false }
            remoteTables[remote.id] = remote
            currentRemoteTable = remote.id
        case .tableSwitch:
            var reader = PeerProtocol.Reader(payload)
            guard let id = reader.int() else { return false }
            currentRemoteTable = remoteTables[id] != nil ? id : nil
        case .ack:
            // Our table id and the last of our updates the peer applied.
            var reader = PeerProtocol.Reader(payload)
            guard let id = reader.int(), let update = reader.uint32() else { return false }
            section.acknowledge(self, table: id, update: update)
        case .update, .incrementalUpdate, .timedUpdate, .incrementalTimedUpdate:
            guard let id = currentRemoteTable, let remote = remoteTables[id] else { return true }
            guard var update = PeerProtocol.parseUpdate(kind, payload, remote: remote) else { return false }
            let updateID = update.id ?? (lastReceived[id] ?? 0) &+ 1
            update.id = updateID
            lastReceived[id] = updateID
            owedAcks[id] = updateID
            if let table = section.table(named: remote.name), PeerProtocol.fits(remote, table.definition) {
                PeerProtocol.apply(update, to: table, now: ProcessClock.milliseconds, dictionary: &dictionary)
            }
        }
        return true
    }

    private func sendOwedAcks() {
        guard state == .established, !owedAcks.isEmpty else { return }
        for (id, update) in owedAcks {
            var payload: [UInt8] = []
            PeerProtocol.appendInteger(id, to: &payload)
            PeerProtocol.appendUInt32(update, to: &payload)
            send(PeerProtocol.stickTableMessage(.ack, payload))
        }
        owedAcks.removeAll()
    }

    // MARK: Writing

    /// Sends updates of our table `id`, its definition first if this connection has not
    /// carried it yet (a definition also switches to the table).
    func push(table id: Int, definition: StickTableDefinition, messages: [UInt8]) {
        guard state == .established else { return }
        lastLocalTable = id
        if definedTables.insert(id).inserted {
            send(PeerProtocol.definition(definition, id: id) + messages)
        } else {
            var switchPayload: [UInt8] = []
            PeerProtocol.appendInteger(id, to: &switchPayload)
            send(PeerProtocol.stickTableMessage(.tableSwitch, switchPayload) + messages)
        }
    }
}
