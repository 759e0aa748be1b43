import CLinux
#if canImport(Glibc)
import Glibc
#endif
import Shared

/// Stick table keys: a sample converted to the table's key type, as HAProxy converts it,
/// and printed as `show table` prints it.
enum StickKeys {
    /// The key of `sample` for `table`'s key type, or nil when the sample is missing or
    /// does not convert (an IPv6 client in a `type ip` table, as in HAProxy).
    static func key(_ sample: StickKeySample, facts: RequestFacts?, connection: ConnectionFacts, for table: StickTable) -> [UInt8]? {
        switch sample {
        case .source: return address(connection.clientAddress, for: table.definition.keyType)
        case .destination: return address(connection.localAddress, for: table.definition.keyType)
        case .header(let name):
            guard let facts else { return nil }
            var value: [UInt8]? = nil
            _ = RequestFacts.forEachValue(of: Array(name.lowercased().utf8), in: facts.bytes, headers: facts.headers,
                                          split: false) { value = Array($0); return true }
            return value.flatMap { text($0, for: table.definition.keyType) }
        case .urlParameter(let name):
            guard let facts, let value = facts.urlParameter(Array(name.utf8)) else { return nil }
            return text(Array(value), for: table.definition.keyType)
        case .path:
            guard let facts else { return nil }
            return text(Array(facts.path), for: table.definition.keyType)
        case .base:
            guard let facts else { return nil }
            var bytes: [UInt8] = []
            if let host = facts.head.host { bytes += facts.slice(host) }
            bytes += facts.path
            return text(bytes, for: table.definition.keyType)
        }
    }

    static func address(_ bytes: [UInt8], for type: StickKeyType) -> [UInt8]? {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        switch type {
        case .ip: return bytes.count == 4 ? bytes : nil
        case .ipv6: return bytes.count == 16 ? bytes : [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF] + bytes
        case .integer:
            guard bytes.count == 4 else { return nil }
            return integerKey(bytes.reduce(0) { $0 << 8 | Int($1) })
        case .string(let length):
            let ip: IPAddress = bytes.count == 4 ? .v4(bytes[0], bytes[1], bytes[2], bytes[3]) : .v6(bytes)
            return Array(Array(ip.description.utf8).prefix(length))
        case .binary(let length): return padded(bytes, length)
        }
    }

    static func text(_ bytes: [UInt8], for type: StickKeyType) -> [UInt8]? {
        switch type {
        case .ip, .ipv6:
            guard let ip = AddressParser.numericIP(String(decoding: bytes, as: UTF8.self)) else { return nil }
            return address(ip.bytes, for: type)
        case .integer:
            guard let n = Int(String(decoding: bytes, as: UTF8.self)) else { return nil }
            return integerKey(n)
        case .string(let length): return Array(bytes.prefix(length))
        case .binary(let length): return padded(bytes, length)
        }
    }

    static func integerKey(_ n: Int) -> [UInt8] {
        let v = UInt32(truncatingIfNeeded: n)
        return [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)]
    }

    static func padded(_ bytes: [UInt8], _ length: Int) -> [UInt8] {
        Array(bytes.prefix(length)) + [UInt8](repeating: 0, count: max(0, length - bytes.count))
    }

    /// The key as `show table` prints it.
    static func display(_ key: [UInt8], type: StickKeyType) -> String {
        switch type {
        case .ip, .ipv6:
            // inet_ntop, as HAProxy prints them: `::ffff:127.0.0.1` for a mapped IPv4.
            var text = [CChar](repeating: 0, count: 64)
            let family = key.count == 4 ? AF_INET : AF_INET6
            let ok = key.withUnsafeBytes { inet_ntop(family, $0.baseAddress, &text, socklen_t(text.count)) } != nil
            return ok ? String(cString: text) : ""
        case .integer: return String(key.reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
        case .string: return String(decoding: key, as: UTF8.self)
        case .binary:
            let digits = Array("0123456789abcdef")
            return String(key.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] })
        }
    }
}
