/// Stick table entries as the peers protocol carries them: an update's key and values,
/// written from a local entry and applied to a local table.
extension PeerProtocol {
    /// The key and values of `entry`, as they follow an update's id and expiry. Call
    /// under the table's lock.
    static func updateBody(_ entry: StickEntry, in table: StickTable, now: Int) -> [UInt8] {
        var out: [UInt8] = []
        let definition = table.definition
        switch definition.keyType {
        case .string:
            appendInteger(entry.key.count, to: &out)
            out += entry.key
        case .integer, .ip, .ipv6:
            out += entry.key
        case .binary(let length):
            out += StickKeys.padded(entry.key, length)
        }
        for type in sentTypes(of: definition) {
            switch kind(of: type) {
            case .count:
                appendInteger(table.read(type, of: entry, now: now) ?? 0, to: &out)
            case .rate:
                let rate = table.rawRate(type, of: entry) ?? PeriodRate()
                appendInteger(now - rate.currentTick, to: &out)
                appendInteger(rate.current, to: &out)
                appendInteger(rate.previous, to: &out)
            case .dictionary:
                guard let name = entry.serverKey else {
                    appendInteger(0, to: &out)
                    continue
                }
                // Always the entry with its value (id 1): the receiver then needs no
                // memory of what this connection sent before.
                var dictionary: [UInt8] = []
                appendInteger(1, to: &dictionary)
                appendInteger(name.utf8.count, to: &dictionary)
                dictionary += Array(name.utf8)
                appendInteger(dictionary.count, to: &out)
                out += dictionary
            }
        }
        return out
    }

    /// A timed update: the update's id and the entry's remaining life come first.
    static func timedUpdate(id: UInt32, expiresIn: Int, body: [UInt8]) -> [UInt8] {
        var payload: [UInt8] = []
        payload.reserveCapacity(body.count + 8)
        appendUInt32(id, to: &payload)
        appendUInt32(UInt32(clamping: max(0, expiresIn)), to: &payload)
        payload += body
        return stickTableMessage(.timedUpdate, payload)
    }

    /// A value received in an update.
    enum ReceivedValue: Equatable {
        case count(Int)
        case rate(ago: Int, current: Int, previous: Int)
        /// `server_key`: the connection's dictionary entry `id`, with its value when sent.
        case dictionary(id: Int, value: String?)
        case none
    }

    struct ReceivedUpdate: Equatable {
        /// Absent in incremental updates: the previous id plus one.
        var id: UInt32?
        /// Absent in untimed updates: the table's own expiry applies.
        var expiresIn: Int?
        var key: [UInt8]
        /// By HAProxy's data type number, in the order the definition announced them.
        var values: [(Int, ReceivedValue)]

        static func == (a: ReceivedUpdate, b: ReceivedUpdate) -> Bool {
            a.id == b.id && a.expiresIn == b.expiresIn && a.key == b.key
                && a.values.map(\.0) == b.values.map(\.0) && a.values.map(\.1) == b.values.map(\.1)
        }
    }

    /// Reads an update of `type` for a table the sender defined as `remote`.
    static func parseUpdate(_ type: StickTableMessage, _ payload: [UInt8], remote: RemoteTable) -> ReceivedUpdate? {
        var r = Reader(payload)
        var update = ReceivedUpdate(id: nil, expiresIn: nil, key: [], values: [])
        if type == .update || type == .timedUpdate {
            guard let id = r.uint32() else { return nil }
            update.id = id
        }
        if type == .timedUpdate || type == .incrementalTimedUpdate {
            guard let expire = r.uint32() else { return nil }
            update.expiresIn = Int(expire)
        }
        switch remote.keyType {
        case 6:  // string
            guard let length = r.int(), let key = r.take(length) else { return nil }
            update.key = key
        case 2:  // integer
            guard let key = r.take(4) else { return nil }
            update.key = key
        default:
            guard let key = r.take(remote.keyLength) else { return nil }
            update.key = key
        }
        for type in remote.types {
            switch remoteKind(type) {
            case .count:
                guard let v = r.int() else { return nil }
                update.values.append((type, .count(v)))
            case .rate:
                guard let ago = r.int(), let current = r.int(), let previous = r.int() else { return nil }
                update.values.append((type, .rate(ago: ago, current: current, previous: previous)))
            case .dictionary:
                guard let length = r.int() else { return nil }
                if length == 0 {
                    update.values.append((type, .none))
                    continue
                }
                let end = r.offset + length
                guard end <= r.end else { return nil }
                var inner = Reader(payload, from: r.offset, to: end)
                guard let id = inner.int(), id > 0 else { return nil }
                var value: String? = nil
                if !inner.atEnd {
                    guard let valueLength = inner.int(), let bytes = inner.take(valueLength) else { return nil }
                    value = String(decoding: bytes, as: UTF8.self)
                }
                r.offset = end
                update.values.append((type, .dictionary(id: id, value: value)))
            }
        }
        return update
    }

    /// The key as the local table stores it, nil when it cannot be (another length).
    static func localKey(_ wire: [UInt8], for type: StickKeyType) -> [UInt8]? {
        switch type {
        case .ip: return wire.count == 4 ? wire : nil
        case .ipv6: return wire.count == 16 ? wire : nil
        case .integer: return wire.count == 4 ? wire : nil
        case .string(let length):
            // A C string: what follows a zero is padding.
            let text = wire.prefix { $0 != 0 }
            return Array(text.prefix(length))
        case .binary(let length): return StickKeys.padded(wire, length)
        }
    }

    /// Whether a remote definition fits the local table: same key type and length, as
    /// HAProxy requires (updates of a table that does not fit are ignored).
    static func fits(_ remote: RemoteTable, _ table: StickTableDefinition) -> Bool {
        guard remote.keyType == wireKeyType(table.keyType) else { return false }
        if case .string = table.keyType { return true }  // HAProxy counts `len` differently
        return remote.keyLength == wireKeyLength(table.keyType)
    }

    /// Applies an update to the local table, without listing it for our own peers.
    /// `dictionary` keeps the connection's `server_key` entries by id.
    static func apply(_ update: ReceivedUpdate, to table: StickTable, now: Int, dictionary: inout [Int: String]) {
        guard let key = localKey(update.key, for: table.definition.keyType) else { return }
        table.withLock {
            table.applyingRemote = true
            defer { table.applyingRemote = false }
            guard let entry = table.entry(key, now: now) else { return }
            for (number, value) in update.values {
                guard let type = StickDataType(rawValue: number), table.definition.stores[type] != nil else {
                    if case .dictionary(let id, let name?) = value { dictionary[id] = name }
                    continue
                }
                switch value {
                case .count(let v):
                    table.set(type, v, of: entry, now: now)
                case .rate(let ago, let current, let previous):
                    table.setRawRate(type, PeriodRate(currentTick: now - ago, current: current, previous: previous), of: entry)
                case .dictionary(let id, let name):
                    if let name { dictionary[id] = name }
                    entry.serverKey = dictionary[id]
                case .none:
                    break
                }
            }
            if let expiresIn = update.expiresIn, table.definition.expireMs != nil {
                entry.expiresAt = now + expiresIn
            }
        }
    }
}
