/// DNS messages as RFC 1035 lays them out on the wire (with RFC 2782 SRV, RFC 3596 AAAA
/// and RFC 6891's EDNS0 payload size): the queries proxyd sends and the answers it reads.
/// Pure: bytes in, values or a precise error out. A name's compression pointers are
/// followed with a budget, so a loop or a pointer past the end is an error, never a hang.
enum DNSRecordType: UInt16, Sendable {
    case a = 1
    case cname = 5
    case aaaa = 28
    case srv = 33
    case opt = 41

    var name: String {
        switch self {
        case .a: return "A"
        case .cname: return "CNAME"
        case .aaaa: return "AAAA"
        case .srv: return "SRV"
        case .opt: return "OPT"
        }
    }
}

/// RCODE values that change what a resolution does.
enum DNSResponseCode: UInt8, Sendable {
    case noError = 0, formatError = 1, serverFailure = 2, nameError = 3, notImplemented = 4, refused = 5
}

struct DNSQuestion: Sendable, Equatable {
    var name: String
    var type: UInt16
    var dnsClass: UInt16 = 1
}

struct DNSRecord: Sendable, Equatable {
    enum Data: Sendable, Equatable {
        case address(IPAddress)
        case cname(String)
        case srv(priority: UInt16, weight: UInt16, port: UInt16, target: String)
        case other([UInt8])
    }

    var name: String
    var type: UInt16
    var dnsClass: UInt16
    var ttl: UInt32
    var data: Data
}

struct DNSMessage: Sendable, Equatable {
    var id: UInt16
    var isResponse: Bool
    var truncated: Bool
    var recursionDesired: Bool
    var responseCode: UInt8
    var questions: [DNSQuestion]
    var answers: [DNSRecord]
    var authorities: [DNSRecord]
    var additionals: [DNSRecord]
}

enum DNSDecodeError: Error, Equatable, CustomStringConvertible {
    /// The message ends inside the header, a name or a record.
    case truncated
    /// A compression pointer leads back into a name already being read.
    case compressionLoop
    /// A label type other than 0b00 (plain) or 0b11 (pointer), or a name over 255 bytes.
    case badName
    /// An A/AAAA/SRV record whose data length does not fit its type.
    case badRecordLength(type: UInt16)

    var description: String {
        switch self {
        case .truncated: return "truncated message"
        case .compressionLoop: return "compression pointer loop"
        case .badName: return "malformed name"
        case let .badRecordLength(type): return "record of type \(type) with a wrong data length"
        }
    }
}

enum DNSCodec {
    /// A query for `name` of `type`, recursion desired (as HAProxy asks), with an EDNS0
    /// OPT record announcing `payloadSize` when it is above the classic 512 bytes.
    static func query(id: UInt16, name: String, type: DNSRecordType, payloadSize: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(32 + name.utf8.count)
        let withEDNS = payloadSize > 512
        append16(&out, id)
        append16(&out, 0x0100)  // RD
        append16(&out, 1)
        append16(&out, 0)
        append16(&out, 0)
        append16(&out, withEDNS ? 1 : 0)
        appendName(&out, name)
        append16(&out, type.rawValue)
        append16(&out, 1)  // IN
        if withEDNS {
            out.append(0)  // root name
            append16(&out, DNSRecordType.opt.rawValue)
            append16(&out, UInt16(clamping: payloadSize))
            append16(&out, 0)
            append16(&out, 0)  // extended RCODE, version, flags: all zero
            append16(&out, 0)  // no options
        }
        return out
    }

    /// A name in labels (no compression on the way out); a trailing dot is the root.
    static func appendName(_ out: inout [UInt8], _ name: String) {
        for label in name.split(separator: ".", omittingEmptySubsequences: true) {
            let bytes = Array(label.utf8.prefix(63))
            out.append(UInt8(bytes.count))
            out.append(contentsOf: bytes)
        }
        out.append(0)
    }

    static func append16(_ out: inout [UInt8], _ v: UInt16) {
        out.append(UInt8(v >> 8))
        out.append(UInt8(v & 0xFF))
    }

    static func decode(_ bytes: [UInt8]) throws(DNSDecodeError) -> DNSMessage {
        var reader = Reader(bytes: bytes)
        let id = try reader.u16()
        let flags = try reader.u16()
        let qd = try reader.u16(), an = try reader.u16(), ns = try reader.u16(), ar = try reader.u16()
        var message = DNSMessage(id: id, isResponse: flags & 0x8000 != 0, truncated: flags & 0x0200 != 0,
                                 recursionDesired: flags & 0x0100 != 0, responseCode: UInt8(flags & 0x000F),
                                 questions: [], answers: [], authorities: [], additionals: [])
        for _ in 0..<qd {
            let name = try reader.name()
            message.questions.append(DNSQuestion(name: name, type: try reader.u16(), dnsClass: try reader.u16()))
        }
        for _ in 0..<an { message.answers.append(try reader.record()) }
        for _ in 0..<ns { message.authorities.append(try reader.record()) }
        for _ in 0..<ar { message.additionals.append(try reader.record()) }
        return message
    }

    /// Reads big-endian fields and names from one message.
    struct Reader {
        let bytes: [UInt8]
        var offset = 0

        mutating func u8() throws(DNSDecodeError) -> UInt8 {
            guard offset < bytes.count else { throw .truncated }
            defer { offset += 1 }
            return bytes[offset]
        }

        mutating func u16() throws(DNSDecodeError) -> UInt16 {
            guard offset + 2 <= bytes.count else { throw .truncated }
            defer { offset += 2 }
            return UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
        }

        mutating func u32() throws(DNSDecodeError) -> UInt32 {
            let high = try u16()
            return UInt32(high) << 16 | UInt32(try u16())
        }

        /// A name at the reading position, following compression pointers (each must
        /// point before the label that holds it, so a chain always ends); the position
        /// moves past the name as written here.
        mutating func name() throws(DNSDecodeError) -> String {
            var labels: [String] = []
            var total = 0
            var position = offset
            var resumeAt: Int? = nil
            var lowestJump = position
            while true {
                guard position < bytes.count else { throw .truncated }
                let length = bytes[position]
                switch length & 0xC0 {
                case 0x00:
                    if length == 0 {
                        offset = resumeAt ?? position + 1
                        return labels.isEmpty ? "." : labels.joined(separator: ".")
                    }
                    let start = position + 1, end = start + Int(length)
                    guard end <= bytes.count else { throw .truncated }
                    total += Int(length) + 1
                    guard total <= 255 else { throw .badName }
                    labels.append(String(decoding: bytes[start..<end], as: UTF8.self))
                    position = end
                case 0xC0:
                    guard position + 1 < bytes.count else { throw .truncated }
                    let target = Int(length & 0x3F) << 8 | Int(bytes[position + 1])
                    if resumeAt == nil { resumeAt = position + 2 }
                    // Strictly backwards from every earlier jump: no pointer can be
                    // visited twice, whatever the message says.
                    guard target < lowestJump else { throw .compressionLoop }
                    lowestJump = target
                    position = target
                default:
                    throw .badName
                }
            }
        }

        mutating func record() throws(DNSDecodeError) -> DNSRecord {
            let name = try name()
            let type = try u16(), dnsClass = try u16(), ttl = try u32()
            let length = Int(try u16())
            guard offset + length <= bytes.count else { throw .truncated }
            let end = offset + length
            defer { offset = end }
            let data: DNSRecord.Data
            switch DNSRecordType(rawValue: type) {
            case .a?:
                guard length == 4 else { throw .badRecordLength(type: type) }
                data = .address(.v4(bytes[offset], bytes[offset + 1], bytes[offset + 2], bytes[offset + 3]))
            case .aaaa?:
                guard length == 16 else { throw .badRecordLength(type: type) }
                data = .address(.v6(Array(bytes[offset..<end])))
            case .cname?:
                var inner = self
                let target = try inner.name()
                guard inner.offset <= end else { throw .badRecordLength(type: type) }
                data = .cname(target)
            case .srv?:
                guard length >= 7 else { throw .badRecordLength(type: type) }
                var inner = self
                let priority = try inner.u16(), weight = try inner.u16(), port = try inner.u16()
                let target = try inner.name()
                guard inner.offset <= end else { throw .badRecordLength(type: type) }
                data = .srv(priority: priority, weight: weight, port: port, target: target)
            default:
                data = .other(Array(bytes[offset..<end]))
            }
            return DNSRecord(name: name, type: type, dnsClass: dnsClass, ttl: ttl, data: data)
        }
    }
}
