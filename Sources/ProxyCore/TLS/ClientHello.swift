/// Reads a TLS ClientHello without terminating TLS, for `req.ssl_sni` and
/// `req.ssl_hello_type` in `mode tcp` (passthrough routing by name). Pure: bytes in,
/// verdict out; the handshake message may span several records.
enum ClientHelloParser {
    enum Verdict: Equatable {
        /// The bytes so far are the start of a TLS handshake: wait for more.
        case needMore
        /// Not TLS (or not a handshake record): decide without a name.
        case notTLS
        /// A handshake message of this type (1 = ClientHello) and, for a ClientHello, its SNI.
        case hello(type: UInt8, serverName: String?)
    }

    /// Gives up on handshakes larger than this (HAProxy looks at one buffer too).
    static let limit = 64 * 1024

    static func parse(_ bytes: [UInt8]) -> Verdict {
        // Reassemble the handshake bytes from consecutive handshake records.
        var handshake: [UInt8] = []
        var offset = 0
        while true {
            guard bytes.count >= offset + 5 else { return bytes.count > limit ? .notTLS : .needMore }
            guard bytes[offset] == 0x16, bytes[offset + 1] == 0x03 else { return .notTLS }
            let length = Int(bytes[offset + 3]) << 8 | Int(bytes[offset + 4])
            guard length > 0, length <= 16_384 + 2048 else { return .notTLS }
            let end = offset + 5 + length
            handshake += bytes[(offset + 5)..<min(end, bytes.count)]
            if handshake.count >= 4 {
                let messageLength = Int(handshake[1]) << 16 | Int(handshake[2]) << 8 | Int(handshake[3])
                if handshake.count >= 4 + messageLength {
                    return hello(Array(handshake[0..<(4 + messageLength)]))
                }
                if messageLength > limit { return .notTLS }
            }
            guard bytes.count >= end else { return .needMore }
            offset = end
        }
    }

    /// A whole handshake message (type, 3-byte length, body).
    private static func hello(_ message: [UInt8]) -> Verdict {
        let type = message[0]
        guard type == 1 else { return .hello(type: type, serverName: nil) }
        var reader = Reader(bytes: message, position: 4)
        guard reader.skip(2 + 32),                         // version, random
              let sessionID = reader.byte(), reader.skip(Int(sessionID)),
              let ciphers = reader.uint16(), reader.skip(ciphers),
              let compressions = reader.byte(), reader.skip(Int(compressions)) else {
            return .notTLS
        }
        guard let extensionsLength = reader.uint16() else { return .hello(type: 1, serverName: nil) }
        let extensionsEnd = min(message.count, reader.position + extensionsLength)
        while reader.position + 4 <= extensionsEnd {
            guard let kind = reader.uint16(), let length = reader.uint16() else { break }
            // An extension claiming more bytes than the message holds ends with it (the
            // name inside was read past the message's end: found by fuzzing).
            let next = min(extensionsEnd, reader.position + length)
            if kind == 0 {  // server_name
                guard let listLength = reader.uint16() else { break }
                let listEnd = min(next, reader.position + listLength)
                while reader.position + 3 <= listEnd {
                    guard let nameType = reader.byte(), let nameLength = reader.uint16(),
                          reader.position + nameLength <= listEnd else { break }
                    if nameType == 0 {
                        let name = message[reader.position..<(reader.position + nameLength)]
                        return .hello(type: 1, serverName: String(decoding: name, as: UTF8.self))
                    }
                    _ = reader.skip(nameLength)
                }
            }
            reader.position = next
        }
        return .hello(type: 1, serverName: nil)
    }

    private struct Reader {
        let bytes: [UInt8]
        var position: Int

        mutating func byte() -> UInt8? {
            guard position < bytes.count else { return nil }
            defer { position += 1 }
            return bytes[position]
        }

        mutating func uint16() -> Int? {
            guard position + 2 <= bytes.count else { return nil }
            defer { position += 2 }
            return Int(bytes[position]) << 8 | Int(bytes[position + 1])
        }

        mutating func skip(_ count: Int) -> Bool {
            guard position + count <= bytes.count else { return false }
            position += count
            return true
        }
    }
}
