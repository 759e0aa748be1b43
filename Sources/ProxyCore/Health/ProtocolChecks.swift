/// HAProxy 2.6's protocol checks (`option mysql-check`, `pgsql-check`, `redis-check`,
/// `smtpchk`, `ldap-check`, `ssl-hello-chk`) as tcp-check steps: the bytes HAProxy sends
/// (recorded from haproxy 2.6 on the wire) and how it judges each answer, with its
/// statuses and info texts. Pure: no sockets.
extension CheckEvaluation {
    /// An answer a protocol check waits for. HAProxy checks each with one or two expect
    /// rules on the same bytes; one judge here does both.
    enum ProtocolReply: Equatable {
        /// The greeting (and, after a login, the answer to it).
        case mysql(login: Bool)
        /// The first answer to the startup message.
        case pgsql
        case redis
        /// A reply line: 3 digits, then 2xx. `banner`: the first, where `250-` (a
        /// continued line) is not accepted.
        case smtp(banner: Bool)
        case ldapBind
        case sslHello
    }

    enum ProtocolVerdict: Equatable {
        case needMore
        case passed(CheckResult)
        case failed(CheckResult)
    }

    /// The steps of `check`, the connect first.
    static func protocolSteps(_ check: ProtocolCheck) -> [TCPStep] {
        switch check {
        case .mysql(nil, _):
            return [.connect(port: nil), .judge(.mysql(login: false), step: 2)]
        case .mysql(let user?, let preFourOne):
            return [.connect(port: nil), .send(mysqlLogin(user: user, preFourOne: preFourOne)),
                    .judge(.mysql(login: true), step: 3)]
        case .pgsql(let user):
            return [.connect(port: nil), .send(pgsqlStartup(user: user)), .judge(.pgsql, step: 3)]
        case .redis:
            return [.connect(port: nil), .send(Array("*1\r\n$4\r\nPING\r\n".utf8)), .judge(.redis, step: 2)]
        case .smtp(let greeting):
            return [.connect(port: nil), .judge(.smtp(banner: true), step: 2),
                    .send(Array("\(greeting)\r\n".utf8)), .judge(.smtp(banner: false), step: 5),
                    .send(Array("QUIT\r\n".utf8)), .judge(.smtp(banner: false), step: 8)]
        case .ldap:
            // An anonymous simple bind, LDAPv3, message id 1.
            return [.connect(port: nil), .send([0x30, 0x0C, 0x02, 0x01, 0x01, 0x60, 0x07, 0x02, 0x01, 0x03,
                                                0x04, 0x00, 0x80, 0x00]),
                    .judge(.ldapBind, step: 2)]
        case .sslHello:
            return [.connect(port: nil), .sendClientHello, .judge(.sslHello, step: 2)]
        }
    }

    /// HAProxy resets its checks' connections, but not these (servers log an abort otherwise).
    static func protocolClosesGracefully(_ check: ProtocolCheck) -> Bool {
        switch check {
        case .mysql, .pgsql, .smtp: return true
        case .redis, .ldap, .sslHello: return false
        }
    }

    /// A MySQL login packet (sequence 1, no password), then COM_QUIT, as HAProxy sends them.
    static func mysqlLogin(user: String, preFourOne: Bool) -> [UInt8] {
        var body: [UInt8]
        if preFourOne {
            body = [0x00, 0x80, 0x00, 0x00, 0x01]  // capabilities, max packet
        } else {
            // capabilities (4.1 protocol), max packet, utf8, 23 reserved bytes
            body = [0x00, 0x82, 0x00, 0x00, 0x00, 0x80, 0x00, 0x01, 0x21] + [UInt8](repeating: 0, count: 23)
        }
        body += Array(user.utf8) + [0x00, 0x00]  // user, empty auth response
        let length = body.count
        let header: [UInt8] = [UInt8(length & 0xFF), UInt8((length >> 8) & 0xFF), UInt8((length >> 16) & 0xFF), 0x01]
        return header + body + [0x01, 0x00, 0x00, 0x00, 0x01]
    }

    /// A PostgreSQL 3.0 startup message naming `user`.
    static func pgsqlStartup(user: String) -> [UInt8] {
        let body: [UInt8] = [0x00, 0x03, 0x00, 0x00] + Array("user".utf8) + [0] + Array(user.utf8) + [0, 0]
        let length = UInt32(body.count + 4)
        return [UInt8(length >> 24), UInt8((length >> 16) & 0xFF), UInt8((length >> 8) & 0xFF), UInt8(length & 0xFF)] + body
    }

    /// HAProxy's SSLv3 ClientHello: `unixTime` in the random's first 4 bytes, the rest a
    /// fixed text, 39 old cipher suites, no compression. A TLS server answers it with a
    /// handshake or an alert record, either of which proves TLS is spoken.
    static func sslClientHello(unixTime: UInt32) -> [UInt8] {
        var hello: [UInt8] = [0x16, 0x03, 0x00, 0x00, 0x79, 0x01, 0x00, 0x00, 0x75, 0x03, 0x00]
        hello += [UInt8(unixTime >> 24), UInt8((unixTime >> 16) & 0xFF), UInt8((unixTime >> 8) & 0xFF), UInt8(unixTime & 0xFF)]
        hello += Array("HAPROXYSSLCHK\nHAPROXYSSLCHK\n".utf8)
        hello += [0x00, 0x00, 0x4E]
        for suite in Array(0x01...0x1B) + Array(0x2F...0x3A) { hello += [0x00, UInt8(suite)] }
        hello += [0x01, 0x00]
        return hello
    }

    /// Whether a passed `reply` leaves no info in the stats (HAProxy's custom expects, whose
    /// text goes to the log only).
    static func protocolStatsDropInfo(_ reply: ProtocolReply) -> Bool {
        switch reply {
        case .mysql, .ldapBind: return true
        default: return false
        }
    }

    /// How a protocol check's wait for `reply` ends when it times out.
    static func protocolTimeout(_ reply: ProtocolReply) -> CheckStatus {
        reply == .sslHello ? .l6timeout : .l7timeout
    }

    /// Judges `data` (all received since the last answer) as `reply`, the check's step
    /// `step` as HAProxy numbers it. `final`: the server closed.
    static func judgeProtocol(_ data: [UInt8], _ reply: ProtocolReply, step: Int, final: Bool) -> ProtocolVerdict {
        if data.isEmpty {
            guard final else { return .needMore }
            let status: CheckStatus
            switch reply {
            case .redis: status = .l7status
            case .sslHello: status = .l6response
            default: status = .l7response
            }
            return .failed(CheckResult(status: status, code: status == .l7status ? 0 : nil,
                                       info: "TCPCHK got an empty response at step \(step)"))
        }
        switch reply {
        case .mysql(let login): return judgeMySQL(data, login: login, final: final)
        case .pgsql: return judgePgSQL(data, final: final)
        case .redis:
            if contains(data, Array("+PONG".utf8)) {
                return .passed(CheckResult(status: .l7ok, code: 0, info: "Redis server is ok"))
            }
            // No minimum length: HAProxy waits for more until the server closes.
            return final ? .failed(CheckResult(status: .l7status, code: 0, info: firstLine(data[...]))) : .needMore
        case .smtp(let banner): return judgeSMTP(data, banner: banner, final: final)
        case .ldapBind: return judgeLDAP(data, final: final)
        case .sslHello:
            if data.count < 5, !final { return .needMore }
            // A handshake (0x16) or alert (0x15) record.
            return data[0] == 0x15 || data[0] == 0x16 ? .passed(CheckResult(status: .l6ok))
                : .failed(CheckResult(status: .l6response))
        }
    }

    /// A MySQL packet at `offset` (3-byte little-endian length, sequence id, payload):
    /// an error packet (0xFF) fails with its code and text.
    private static func judgeMySQL(_ data: [UInt8], login: Bool, final: Bool) -> ProtocolVerdict {
        func packet(at offset: Int) -> ProtocolVerdict? {
            guard data.count >= offset + 4 else { return final ? .failed(CheckResult(status: .l7response)) : .needMore }
            let length = Int(data[offset]) | Int(data[offset + 1]) << 8 | Int(data[offset + 2]) << 16
            guard data.count >= offset + 4 + length else {
                return final ? .failed(CheckResult(status: .l7response)) : .needMore
            }
            guard length > 0, data[offset + 4] == 0xFF else { return nil }
            let code = data.count > offset + 6 ? Int(data[offset + 5]) | Int(data[offset + 6]) << 8 : 0
            let text = data.count > offset + 7 ? cString(data[(offset + 7)...]) : ""
            return .failed(CheckResult(status: .l7status, code: code, info: text.isEmpty ? nil : text))
        }
        if let verdict = packet(at: 0) { return verdict }
        if login {
            let greeting = 4 + (Int(data[0]) | Int(data[1]) << 8 | Int(data[2]) << 16)
            if let verdict = packet(at: greeting) { return verdict }
        }
        // The server's version, from the greeting, for information.
        let version = data.count > 5 ? cString(data[5...]) : ""
        return .passed(CheckResult(status: .l7ok, code: 0, info: version.isEmpty ? nil : version))
    }

    /// An ErrorResponse fails with the text after its first field's type; any
    /// authentication request (`R`, ok or asking for a password) passes.
    private static func judgePgSQL(_ data: [UInt8], final: Bool) -> ProtocolVerdict {
        if data.count < 5, !final { return .needMore }
        if data[0] == UInt8(ascii: "E") {
            let text = data.count > 6 ? cString(data[6...]) : ""
            return .failed(CheckResult(status: .l7response, info: text.isEmpty ? nil : text))
        }
        if data.count < 9, !final { return .needMore }
        let isAuthentication = data.count >= 9 && data[0] == UInt8(ascii: "R") && data[1] == 0 && data[2] == 0
            && data[3] == 0 && [0x08, 0x0A, 0x0C].contains(data[4]) && data[5] == 0 && data[6] == 0 && data[7] == 0
            && (0...6).contains(data[8]) && data[8] != 1
        return isAuthentication ? .passed(CheckResult(status: .l7ok, code: 0, info: "PostgreSQL server is ok"))
            : .failed(CheckResult(status: .l7status, code: 0, info: "PostgreSQL unknown error"))
    }

    /// `NNN text`: not three digits and a space (or CR, or `-` after the banner) is not
    /// SMTP; anything but 2xx fails with its code and text.
    private static func judgeSMTP(_ data: [UInt8], banner: Bool, final: Bool) -> ProtocolVerdict {
        if data.count < 4, !final { return .needMore }
        // A reply of several lines (`250-…` then `250 …`) may come in several reads: the
        // next command waits for its last line, or the rest would be taken for the answer
        // to that command (HAProxy, which reads later, sees the whole reply at once).
        if !banner, !final, data[3] == UInt8(ascii: "-"), !endsReply(data) { return .needMore }
        let isDigit = { (b: UInt8) in b >= 0x30 && b <= 0x39 }
        let separators: [UInt8] = banner ? [0x20, 0x0D] : [0x20, 0x0D, 0x2D]
        guard data.count >= 4, isDigit(data[0]), isDigit(data[1]), isDigit(data[2]), separators.contains(data[3]) else {
            let line = firstLine(data[...])
            return .failed(CheckResult(status: .l7response, info: line.isEmpty ? nil : line))
        }
        let code = Int(String(decoding: data[0..<3], as: UTF8.self)) ?? 0
        let text = firstLine(data[4...].drop { $0 == 0x20 })
        let result = CheckResult(status: data[0] == UInt8(ascii: "2") ? .l7ok : .l7status, code: code,
                                 info: text.isEmpty ? nil : text)
        return result.status == .l7ok ? .passed(result) : .failed(result)
    }

    /// Whether `data` holds a reply's last line: one whose fourth byte is not `-`, ended by LF.
    private static func endsReply(_ data: [UInt8]) -> Bool {
        var lineStart = 0
        for (i, byte) in data.enumerated() where byte == 0x0A {
            if i - lineStart >= 3, data[lineStart + 3] != UInt8(ascii: "-") { return true }
            lineStart = i + 1
        }
        return false
    }

    /// A BindResponse to message 1 (BER: SEQUENCE, INTEGER 1, [APPLICATION 1], ENUMERATED
    /// result): result 0 passes, another fails with it as the code.
    private static func judgeLDAP(_ data: [UInt8], final: Bool) -> ProtocolVerdict {
        if data.count < 14, !final { return .needMore }
        let notLDAP = ProtocolVerdict.failed(CheckResult(status: .l7response, info: "Not LDAPv3 protocol"))
        guard data[0] == 0x30, data.count > 1 else { return notLDAP }
        // Long-form lengths shift what follows by their number of bytes.
        var skip = data[1] & 0x80 != 0 ? Int(data[1] & 0x7F) : 0
        guard data.count >= 6 + skip, Array(data[(2 + skip)..<(6 + skip)]) == [0x02, 0x01, 0x01, 0x61] else { return notLDAP }
        guard data.count > 6 + skip else { return notLDAP }
        skip += data[6 + skip] & 0x80 != 0 ? Int(data[6 + skip] & 0x7F) : 0
        guard data.count >= 10 + skip, data[7 + skip] == 0x0A, data[8 + skip] == 0x01 else { return notLDAP }
        let code = Int(data[9 + skip])
        if code != 0 {
            return .failed(CheckResult(status: .l7status, code: code,
                                       info: "See RFC: http://tools.ietf.org/html/rfc4511#section-4.1.9"))
        }
        return .passed(CheckResult(status: .l7ok, code: 0, info: "Success"))
    }

    /// Bytes up to the first NUL, as text (HAProxy prints its info as a C string).
    static func cString(_ bytes: ArraySlice<UInt8>) -> String {
        String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// Bytes up to the first CR or LF (HAProxy's `cut_crlf`), and up to a NUL.
    static func firstLine(_ bytes: ArraySlice<UInt8>) -> String {
        String(decoding: bytes.prefix { $0 != 0x0D && $0 != 0x0A && $0 != 0 }, as: UTF8.self)
    }
}
