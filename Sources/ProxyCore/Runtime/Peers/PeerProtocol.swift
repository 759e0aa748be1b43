/// HAProxy's peers protocol, version 2.1 (HAProxy's doc/peers-v2.0.txt and what 2.6
/// sends): the text handshake, then binary messages of a class byte and a type byte,
/// followed, for types 128 and up, by a length and a payload. Pure encoding and decoding;
/// the connections live in PeerSession.
enum PeerProtocol {
    static let name = "HAProxyS"
    static let version = "2.1"

    /// The answer to a hello: `200\n` lets the session go on, anything else closes it.
    enum Status: Int {
        case succeeded = 200
        case tryAgain = 300
        case protocolError = 501
        case badVersion = 502
        /// The hello's "remote peer" is not our local peer's name.
        case localNameMismatch = 503
        /// The hello's sender is not a peer of the section.
        case unknownPeer = 504
    }

    enum MessageClass: UInt8 {
        case control = 0
        case error = 1
        case stickTable = 10
    }

    enum Control: UInt8 {
        case resyncRequest = 0, resyncFinished, resyncPartial, resyncConfirm, heartbeat
    }

    enum StickTableMessage: UInt8 {
        case update = 0x80, incrementalUpdate, define, tableSwitch, ack, timedUpdate, incrementalTimedUpdate
    }

    /// The key type numbers on the wire (HAProxy's PEER_KT_*), not the docs' older list.
    static func wireKeyType(_ type: StickKeyType) -> Int {
        switch type {
        case .integer: return 2
        case .ip: return 4
        case .ipv6: return 5
        case .string: return 6
        case .binary: return 7
        }
    }

    /// The key length HAProxy announces: a string written `len N` holds N+1 bytes (its
    /// terminating zero); the default string length is 32.
    static func wireKeyLength(_ type: StickKeyType) -> Int {
        switch type {
        case .integer, .ip: return 4
        case .ipv6: return 16
        case .string(let length): return length == 32 ? 32 : length + 1
        case .binary(let length): return length
        }
    }

    /// How a datum travels: counts as one integer, rates as three (how long ago their
    /// period began, its count, the previous period's count), `server_key` as a
    /// dictionary entry.
    enum DatumKind { case count, rate, dictionary }

    static func kind(of type: StickDataType) -> DatumKind {
        if type == .serverKey { return .dictionary }
        return type.isRate ? .rate : .count
    }

    // MARK: Integers

    /// HAProxy's variable-length integer: below 240 one byte; else the low 4 bits with
    /// 0xF0, then 7 bits a byte, high bit set on all but the last.
    static func appendInteger(_ value: UInt64, to out: inout [UInt8]) {
        var i = value
        if i < 240 {
            out.append(UInt8(i))
            return
        }
        out.append(UInt8(truncatingIfNeeded: i) | 0xF0)
        i = (i - 240) >> 4
        while i >= 128 {
            out.append(UInt8(truncatingIfNeeded: i) | 0x80)
            i = (i - 128) >> 7
        }
        out.append(UInt8(i))
    }

    static func appendInteger(_ value: Int, to out: inout [UInt8]) {
        appendInteger(UInt64(max(0, value)), to: &out)
    }

    static func appendUInt32(_ value: UInt32, to out: inout [UInt8]) {
        out += [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }

    /// Reads what `appendInteger` wrote; nil at a truncated or overlong integer.
    struct Reader {
        let bytes: [UInt8]
        var offset: Int
        let end: Int

        init(_ bytes: [UInt8], from: Int = 0, to end: Int? = nil) {
            self.bytes = bytes
            offset = from
            self.end = end ?? bytes.count
        }

        var atEnd: Bool { offset >= end }

        mutating func integer() -> UInt64? {
            guard offset < end else { return nil }
            var value = UInt64(bytes[offset])
            offset += 1
            guard value >= 240 else { return value }
            var shift: UInt64 = 4
            while true {
                guard offset < end, shift < 64 else { return nil }
                let byte = bytes[offset]
                offset += 1
                value &+= UInt64(byte) << shift
                shift += 7
                if byte < 128 { return value }
            }
        }

        mutating func int() -> Int? { integer().flatMap { $0 <= UInt64(Int.max) ? Int($0) : nil } }

        mutating func uint32() -> UInt32? {
            guard end - offset >= 4 else { return nil }
            let v = UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8
                | UInt32(bytes[offset + 3])
            offset += 4
            return v
        }

        mutating func take(_ count: Int) -> [UInt8]? {
            guard count >= 0, end - offset >= count else { return nil }
            defer { offset += count }
            return Array(bytes[offset..<offset + count])
        }
    }

    // MARK: Handshake

    /// What the connecting side sends: protocol and version, the name of the peer it
    /// connects to, its own name, pid and relative pid.
    static func hello(to remote: String, from local: String, pid: Int32) -> [UInt8] {
        Array("\(name) \(version)\n\(remote)\n\(local) \(pid) 1\n".utf8)
    }

    /// A hello's three lines, read by the listening side: the status to answer and, when
    /// it is 200, the sender's name.
    static func judgeHello(_ lines: [String], localName: String, knownPeers: Set<String>) -> (Status, String?) {
        guard lines.count == 3 else { return (.protocolError, nil) }
        let first = lines[0].split(separator: " ", omittingEmptySubsequences: false)
        guard first.count == 2, first[0] == name else { return (.protocolError, nil) }
        let version = first[1].split(separator: ".")
        guard version.count == 2, version[0] == "2" else { return (.badVersion, nil) }
        guard lines[1] == localName else { return (.localNameMismatch, nil) }
        guard let sender = lines[2].split(separator: " ").first.map(String.init), knownPeers.contains(sender) else {
            return (.unknownPeer, nil)
        }
        return (.succeeded, sender)
    }

    // MARK: Messages

    static func control(_ type: Control) -> [UInt8] { [MessageClass.control.rawValue, type.rawValue] }

    /// A stick table class message: class, type, payload length, payload.
    static func stickTableMessage(_ type: StickTableMessage, _ payload: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [MessageClass.stickTable.rawValue, type.rawValue]
        out.reserveCapacity(payload.count + 7)
        appendInteger(payload.count, to: &out)
        out += payload
        return out
    }

    /// The data types a table sends, in the order their values follow in an update.
    static func sentTypes(of definition: StickTableDefinition) -> [StickDataType] {
        definition.stores.keys.sorted()
    }

    /// The name a table goes by on the wire: a table declared in a `peers` section
    /// (`SECTION/NAME` locally) is `/NAME` there, as HAProxy 2.6 sends it (seen on the
    /// wire: the section's name is dropped, its slash kept).
    static func wireName(_ table: StickTableDefinition) -> String {
        guard let section = table.peers, table.name.hasPrefix(section + "/") else { return table.name }
        return String(table.name.dropFirst(section.count))
    }

    /// A table definition: our id for it, its name, key type and length, the bitfield of
    /// its data types, its expiry, and each rate's type and period.
    static func definition(_ table: StickTableDefinition, id: Int) -> [UInt8] {
        var out: [UInt8] = []
        appendInteger(id, to: &out)
        let name = Array(wireName(table).utf8)
        appendInteger(name.count, to: &out)
        out += name
        appendInteger(wireKeyType(table.keyType), to: &out)
        appendInteger(wireKeyLength(table.keyType), to: &out)
        var bits: UInt64 = 0
        for type in sentTypes(of: table) { bits |= 1 << UInt64(type.rawValue) }
        appendInteger(bits, to: &out)
        appendInteger(table.expireMs ?? 0, to: &out)
        for type in sentTypes(of: table) where type.isRate {
            appendInteger(type.rawValue, to: &out)
            appendInteger(table.stores[type] ?? 0, to: &out)
        }
        return stickTableMessage(.define, out)
    }

    /// A table definition received: the sender's id and name for the table, and how to
    /// read its updates.
    struct RemoteTable {
        var id: Int
        var name: String
        var keyType: Int
        var keyLength: Int
        /// The data types in its updates, in order, as HAProxy's numbers (some may be
        /// types proxyd does not know: their values are read and dropped).
        var types: [Int]
    }

    static func parseDefinition(_ payload: [UInt8]) -> RemoteTable? {
        var r = Reader(payload)
        guard let id = r.int(), let nameLength = r.int(), let name = r.take(nameLength),
              let keyType = r.int(), let keyLength = r.int(), let bits = r.integer() else { return nil }
        var types: [Int] = []
        for bit in 0..<64 where bits & (1 << UInt64(bit)) != 0 { types.append(bit) }
        return RemoteTable(id: id, name: String(decoding: name, as: UTF8.self), keyType: keyType,
                           keyLength: keyLength, types: types)
    }

    /// HAProxy 2.6's data types beyond proxyd's (http_fail_cnt/rate, gpt, gpc, gpc_rate):
    /// how to skip their values. Arrays (22…24) are sent only by configurations that use
    /// them; one value each is assumed, as in their first element.
    static func remoteKind(_ type: Int) -> DatumKind {
        if let known = StickDataType(rawValue: type) { return kind(of: known) }
        switch type {
        case 21, 24: return .rate
        default: return .count
        }
    }
}
